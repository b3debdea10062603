"""Policy engines behind one interface: regorus in-process (the default) or an OPA server (LUMEN_OPA_URL).

Both evaluate `data.lumen.authz.decision` over the same PolicySet and answer the same Decision. Policy fails
closed (ARCHITECTURE §2): `decide` never raises; any engine error, timeout or malformed answer becomes a deny
whose reason names the failure, so no decision means no access.

The in-process engine compiles the policies once into a regorus RVM program (a decision costs about 50 µs
end to end on the 2-CPU development machine, see bench/policy.py; the tree-walking interpreter about 300 µs)
and falls back to the interpreter if the compiler does not support something a plugin's policy uses.
regorus objects are *unsendable* (bound to the thread that built them), so each thread gets its own VM from
the serialized program; evaluation is synchronous with no await between setting the input and executing, so
one VM is never used by two decisions at once.

Errors inside rules: the RVM makes a failing expression undefined (as OPA does for builtin errors by default,
and also for conflicting rule values, which OPA reports as an error); the interpreter raises on both, which
becomes a deny here. The core policy stays closed either way: each condition a grant needs is checked
positively in the grant and as `not <condition>` in a deny, so a condition left undefined denies. A plugin
deny rule that errors simply does not fire under the RVM, as under OPA; `lumen policy test` runs on the
interpreter, which reports it. The RVM also stops runaway evaluations (25,000 instructions): a deny.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec
import regorus
import structlog

from lumen.core.policy._regorus import error_text, new_engine
from lumen.core.policy.decision import Decision, PolicyInput
from lumen.core.policy.policy_set import PolicySet

if TYPE_CHECKING:
    from lumen.core.settings import Settings

__all__ = [
    "DECISION_PACKAGE",
    "DECISION_RULE",
    "InProcessEngine",
    "PolicyEngine",
    "create_engine",
    "fail_closed",
    "new_decision_id",
    "parse_decision",
]

log = structlog.get_logger()

DECISION_PACKAGE = "lumen.authz"
DECISION_RULE = f"data.{DECISION_PACKAGE}.decision"
_SLOW_DECISION_S = 0.010  # worth a warning: decisions are microseconds in-process
# Distinct inputs remembered by the request path's engine: a key's scopes, an action, a resource id, the
# tenant's policy data. Cleared whole when full (a few MB at most).
_MEMO_SIZE = 4096
# Builtins whose answer is not a function of the input and data.
_IMPURE = re.compile(
    r"\b(time\.now_ns|rand\.intn|uuid\.rfc4122|http\.send|net\.lookup_ip_addr|opa\.runtime)\s*\("
)


def new_decision_id() -> str:
    """A random (version 4) UUID as text: what `str(uuid.uuid4())` gives, in half its time (it is paid on
    every request)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class PolicyEngine(Protocol):
    """Decides one PolicyInput. Implementations never raise from `decide`: they deny with a reason."""

    name: str
    policy_version: str

    async def decide(self, input: PolicyInput) -> Decision: ...

    async def aclose(self) -> None:
        """Release connections (an OPA client's session); a no-op in-process."""
        ...


class _RawDecision(msgspec.Struct):
    allow: bool
    reasons: list[str] = msgspec.field(default_factory=list)
    obligations: list[str] = msgspec.field(default_factory=list)


class PolicyEvaluationError(Exception):
    """The engine answered, but not with a decision (undefined or malformed)."""


def parse_decision(raw: Any, *, decision_id: str, engine: str, policy_version: str) -> Decision:
    """Turn an engine's answer (JSON text, or an already decoded value) into a Decision, or raise
    PolicyEvaluationError. Only `allow: true` (a real boolean) allows."""
    if raw is None or raw == '"<undefined>"':  # regorus' RVM spells an undefined result this way
        raise PolicyEvaluationError(f"{DECISION_RULE} is undefined")
    try:
        if isinstance(raw, str | bytes):
            parsed = msgspec.json.decode(raw, type=_RawDecision)
        else:
            parsed = msgspec.convert(raw, _RawDecision)
    except msgspec.ValidationError as exc:
        raise PolicyEvaluationError(f"{DECISION_RULE} is malformed: {exc}") from exc
    return Decision(
        id=decision_id,
        allow=parsed.allow is True,
        reasons=parsed.reasons,
        obligations=parsed.obligations if parsed.allow else [],
        engine=engine,
        policy_version=policy_version,
    )


def fail_closed(decision_id: str, reason: str, *, engine: str, policy_version: str) -> Decision:
    return Decision(
        id=decision_id,
        allow=False,
        reasons=[reason],
        obligations=[],
        engine=engine,
        policy_version=policy_version,
    )


class InProcessEngine(PolicyEngine):
    """Evaluates the policy set with regorus in this process.

    mode: "auto" compiles to the RVM and falls back to the interpreter if compilation fails; "compiled" and
    "interpreted" force one (tests compare the two). A module that does not parse is a ValueError here, at
    start-up; everything that goes wrong later is a deny.
    """

    def __init__(
        self,
        policy_set: PolicySet,
        *,
        mode: Literal["auto", "compiled", "interpreted"] = "auto",
        memo_size: int = 0,
    ) -> None:
        self.policy_version = policy_set.version
        # The policy set (modules and data) is fixed for the engine's life, so unless a policy reads the
        # clock, random numbers or the network, a decision is a pure function of its input: an input seen
        # before gets the same answer without evaluating again, under a fresh decision id. Only successful
        # evaluations are kept; memo_size 0 (or an impure policy) evaluates every time.
        impure = any(_IMPURE.search(m.source) for m in policy_set.modules)
        self._memo_size = 0 if impure else memo_size
        self._memo: dict[bytes, _RawDecision] = {}
        self._modules = [(m.name, m.source) for m in policy_set.modules]
        self._data = policy_set.data
        self._data_json = msgspec.json.encode(self._data).decode()
        if DECISION_PACKAGE not in {m.package for m in policy_set.modules}:
            raise ValueError(f"no policy module defines package {DECISION_PACKAGE}")
        self._program: bytes | None = None
        if mode != "interpreted":
            try:
                program = regorus.Program.compile_from_modules(
                    self._data_json, self._modules, [DECISION_RULE]
                )
                self._program = program.serialize_binary()
            except Exception as exc:
                if mode == "compiled":
                    raise ValueError(f"the policies do not compile: {error_text(exc)}") from exc
                log.warning("policy.compiler_fallback", error=error_text(exc))
        if self._program is None:
            try:
                new_engine(self._modules, self._data)
            except Exception as exc:
                raise ValueError(f"the policies do not load: {error_text(exc)}") from exc
        self.name = "regorus-rvm" if self._program is not None else "regorus-interpreter"
        self._local = threading.local()

    async def decide(self, input: PolicyInput) -> Decision:
        # Microseconds of CPU: calling it directly is cheaper than any hand-off to a thread.
        return self.decide_now(input)

    def decide_now(self, input: PolicyInput) -> Decision:
        """`decide` for synchronous callers (CLI, benchmarks); same guarantees."""
        decision_id = new_decision_id()
        started = time.perf_counter()
        try:
            input_json = input.to_json()
            known = self._memo.get(input_json) if self._memo_size else None
            if known is not None:
                return Decision(
                    id=decision_id,
                    allow=known.allow,
                    reasons=list(known.reasons),
                    obligations=list(known.obligations),
                    engine=self.name,
                    policy_version=self.policy_version,
                )
            raw = self._evaluate(input_json.decode())
            decision = parse_decision(
                raw, decision_id=decision_id, engine=self.name, policy_version=self.policy_version
            )
            if self._memo_size:
                if len(self._memo) >= self._memo_size:
                    self._memo.clear()
                self._memo[input_json] = _RawDecision(
                    allow=decision.allow,
                    reasons=list(decision.reasons),
                    obligations=list(decision.obligations),
                )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3 turns a Rust panic into PanicException, a BaseException
            self._local.__dict__.clear()  # a VM that failed mid-run is not reused
            message = error_text(exc)
            log.error(
                "policy.engine_failed",
                decision_id=decision_id,
                action=getattr(input, "action", None),
                engine=self.name,
                error=message,
            )
            return fail_closed(
                decision_id,
                f"policy engine error ({self.name}): {message}",
                engine=self.name,
                policy_version=self.policy_version,
            )
        elapsed = time.perf_counter() - started
        if elapsed > _SLOW_DECISION_S:
            log.warning(
                "policy.slow_decision", decision_id=decision_id, action=input.action, ms=elapsed * 1e3
            )
        return decision

    async def aclose(self) -> None:
        return None

    def _evaluate(self, input_json: str) -> str:
        state = self._local.__dict__
        if self._program is not None:
            vm = state.get("vm")
            if vm is None:
                program, _ = regorus.Program.deserialize_binary(self._program)
                vm = regorus.Rvm()
                vm.load_program(program)
                vm.set_data_json(self._data_json)
                state["vm"] = vm
            vm.set_input_json(input_json)
            result: str = vm.execute()
            return result
        engine = state.get("engine")
        if engine is None:
            engine = state["engine"] = new_engine(self._modules, self._data)
        engine.set_input_json(input_json)
        answer: str = engine.eval_rule_as_json(DECISION_RULE)
        return answer


def create_engine(settings: Settings, policy_set: PolicySet) -> PolicyEngine:
    """An OPA client when LUMEN_OPA_URL is set (serving a bundle built from `policy_set`), else in-process."""
    if settings.opa_url:
        from lumen.core.policy.opa import OpaEngine  # aiohttp is only imported when OPA is configured

        return OpaEngine(settings.opa_url, policy_version=policy_set.version)
    return InProcessEngine(policy_set, memo_size=_MEMO_SIZE)
