"""Policy decision latency: what one in-process authorization decision costs on the request path.

Measures `InProcessEngine.decide_now` (what `await engine.decide(...)` runs, minus the coroutine) on the real
policy set: the core `authz.rego`, the kernel's action table plus plugin-shaped actions for the six domain
plugins, and a plugin extension package (as plugins register them). Inputs are realistic and varied: a pool
of tenant keys with different scopes, tenants with different plugins and policy data, the platform operator,
and a share of requests that must be denied (missing scope, another tenant, disabled plugin, tenant policy,
unknown action). Every decision is timed on its own, with the garbage collector on, as in the server.

Rows: the compiled engine (regorus RVM, the default), the same through `await engine.decide()` on an event
loop, and the tree-walking interpreter (the fallback, and what the Rego unit tests run on) for reference.

Goal reported (met / not met): p99 <= 100 µs for the default engine.

Run (from the repository root, in the project's virtualenv)::

    python bench/policy.py                       # 3 rounds of 20,000 decisions
    python bench/policy.py --decisions 50000 --rounds 5

Prints a table and writes JSON to ``bench/results/policy.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

from lumen.core.policy import (
    ActionSpec,
    Decision,
    InProcessEngine,
    PolicyInput,
    PolicySet,
    PrincipalInput,
    TenantInput,
    core_policy_set,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
P99_GOAL_US = 100.0
SEED = 20_261_201

# Plugin-shaped action rows, as the six built-in domain plugins register them.
PLUGINS: dict[str, list[tuple[str, ActionSpec]]] = {
    "interactions": [
        (
            "check",
            ActionSpec(scopes=("interactions:check",), phi=True, access="read", obligations=("envelope",)),
        ),
        ("explain", ActionSpec(scopes=("interactions:check",), access="read")),
        ("rules.update", ActionSpec(scopes=("interactions:admin",))),
    ],
    "triage": [
        ("assess", ActionSpec(scopes=("triage:assess",), phi=True, access="read", obligations=("envelope",))),
        ("sessions.read", ActionSpec(scopes=("triage:assess",), phi=True, access="read")),
    ],
    "regulatory": [
        ("search", ActionSpec(scopes=("regulatory:read",), access="read")),
        ("documents.upload", ActionSpec(scopes=("regulatory:write",))),
    ],
    "gmp": [
        ("documents.review", ActionSpec(scopes=("gmp:review",))),
        ("documents.read", ActionSpec(scopes=("gmp:review", "gmp:read"), access="read")),
    ],
    "qa": [("ask", ActionSpec(scopes=("qa:ask",), access="read", obligations=("envelope",)))],
    "otc": [("advise", ActionSpec(scopes=("otc:advise",), phi=True, access="read"))],
    "webhooks": [("deliver", ActionSpec(scopes=("webhooks:manage",), category="webhooks"))],
}

EXTENSION = """package lumen.ext.regulatory

import rego.v1

# A plugin restriction: uploads are closed for tenants on the free plan.
deny contains "document uploads need a paid plan" if {
	input.action == "regulatory.documents.upload"
	input.tenant.plan == "free"
}
"""


def policy_set() -> PolicySet:
    policies = core_policy_set()
    for plugin, actions in PLUGINS.items():
        for name, spec in actions:
            if plugin != "webhooks":
                spec = msgspec.structs.replace(spec, plugin=plugin)
            policies.add_action(f"{plugin}.{name}", spec, origin=plugin)
    policies.add_module("regulatory/authz.rego", EXTENSION, origin="regulatory")
    return policies


def inputs(count: int, rng: random.Random, actions: dict[str, Any]) -> list[PolicyInput]:
    """A pool of varied requests: about two in three are allowed (a key made for the job, as most traffic
    is), the rest denied for every kind of reason (missing scope, another tenant's key, a disabled plugin,
    the tenant's own policy, an unknown action, a platform action asked by a tenant or the reverse)."""
    tenants = []
    for n in range(40):
        policy_data: dict[str, Any] = {}
        if n % 4 == 0:
            policy_data["deny_actions"] = ["keys.rotate", "gmp.documents.review"]
        if n % 5 == 0:
            policy_data["scope_grants"] = {"keys.rotate": ["ops"], "qa.ask": ["support"]}
        if n % 3 == 0:
            policy_data["redact_phi_in_webhooks"] = True
        tenants.append(
            TenantInput(
                id=_uuid(rng),
                plan=rng.choice(["free", "pro", "enterprise"]),
                enabled_plugins=sorted(rng.sample(sorted(PLUGINS), k=rng.randint(3, 6))),
                settings={"locale": "en-GB"},
                policy_data=policy_data,
            )
        )
    tenant_actions = sorted(name for name, spec in actions.items() if not spec["platform"])
    platform_actions = sorted(name for name, spec in actions.items() if spec["platform"])
    random_scopes = [
        ["keys:read"],
        ["interactions:check", "triage:assess"],
        ["qa:ask", "otc:advise"],
        ["ops"],
    ]
    pool: list[PolicyInput] = []
    for _ in range(count):
        roll = rng.random()
        tenant = rng.choice(tenants)
        if roll < 0.08:
            action = rng.choice([*platform_actions, "keys.list"])
            principal = PrincipalInput(kind="platform")
        else:
            action = rng.choice(tenant_actions)
            if roll < 0.72:  # a key made for the job, in a tenant that has the plugin
                spec = actions[action]
                scopes = list(spec["scopes"][:1]) or ["admin"]
                if spec["plugin"]:
                    tenant = rng.choice([t for t in tenants if spec["plugin"] in t.enabled_plugins])
            elif roll < 0.78:
                action = rng.choice(["keys.export", "interactions.delete", "billing.read", *platform_actions])
                scopes = ["admin"]
            else:
                scopes = rng.choice(random_scopes)
            # One request in twenty carries a key of another tenant (always denied).
            key_tenant = tenant.id if rng.random() > 0.05 else rng.choice(tenants).id
            principal = PrincipalInput(kind="tenant", tenant_id=key_tenant, key_id=_uuid(rng), scopes=scopes)
        resource = {"type": action.split(".")[0], "id": _uuid(rng)}
        pool.append(PolicyInput(principal=principal, action=action, resource=resource, tenant=tenant))
    return pool


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(samples_ns: list[int], allowed: int) -> dict[str, Any]:
    us = sorted(s / 1e3 for s in samples_ns)
    return {
        "decisions": len(us),
        "allowed_share": allowed / len(us),
        "mean_us": statistics.fmean(us),
        "p50_us": percentile(us, 50),
        "p90_us": percentile(us, 90),
        "p99_us": percentile(us, 99),
        "p999_us": percentile(us, 99.9),
        "max_us": us[-1],
        "decisions_per_s": 1e6 / statistics.fmean(us),
    }


def run_sync(decide: Callable[[PolicyInput], Decision], pool: list[PolicyInput], n: int) -> dict[str, Any]:
    # Decisions are not kept (a server does not keep them either: a growing heap would time the GC).
    samples = [0] * n
    allowed = 0
    clock = time.perf_counter_ns
    for i in range(n):
        request = pool[i % len(pool)]
        started = clock()
        decision = decide(request)
        samples[i] = clock() - started
        allowed += decision.allow
        check(decision)
    return summarize(samples, allowed)


def run_async(engine: InProcessEngine, pool: list[PolicyInput], n: int) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        samples = [0] * n
        allowed = 0
        clock = time.perf_counter_ns
        for i in range(n):
            request = pool[i % len(pool)]
            started = clock()
            decision = await engine.decide(request)
            samples[i] = clock() - started
            allowed += decision.allow
            check(decision)
        return summarize(samples, allowed)

    return asyncio.run(go())


def check(decision: Decision) -> None:
    """A benchmark of failures would measure the wrong thing: no decision may be an engine error."""
    if decision.reasons and decision.reasons[0].startswith("policy engine error"):
        raise SystemExit(f"error: a decision failed: {decision.reasons[0]}")


def pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of each statistic (rounds differ mostly by what else the machine is doing)."""
    keys = [k for k in rounds[0] if k != "decisions"]
    result = {k: statistics.median(r[k] for r in rounds) for k in keys}
    result["decisions"] = sum(r["decisions"] for r in rounds)
    result["rounds_p99_us"] = [round(r["p99_us"], 1) for r in rounds]
    return result


def table(rows: dict[str, dict[str, Any]]) -> str:
    header = [
        "engine",
        "decisions",
        "allowed",
        "mean µs",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "dec/s",
    ]
    lines = [header]
    for name, r in rows.items():
        lines.append(
            [
                name,
                f"{r['decisions']:,}",
                f"{r['allowed_share']:.0%}",
                f"{r['mean_us']:.1f}",
                f"{r['p50_us']:.1f}",
                f"{r['p90_us']:.1f}",
                f"{r['p99_us']:.1f}",
                f"{r['p999_us']:.1f}",
                f"{r['max_us']:.0f}",
                f"{r['decisions_per_s']:,.0f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000, help="decisions per round (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per engine (default 3)")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed decisions first (default 2,000)")
    parser.add_argument(
        "--pool", type=int, default=4_096, help="distinct inputs cycled through (default 4,096)"
    )
    parser.add_argument(
        "--interpreter-decisions", type=int, default=5_000, help="decisions per round for the interpreter row"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "policy.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("RUST_BACKTRACE", "0")
    started = time.monotonic()
    rng = random.Random(SEED)
    policies = policy_set()
    pool = inputs(args.pool, rng, policies.actions)
    gc.freeze()  # the pool and the engines live for the whole run, as a server's start-up objects do
    compiled = InProcessEngine(policies, mode="compiled")
    interpreted = InProcessEngine(policies, mode="interpreted")
    load_before = os.getloadavg()

    rows: dict[str, dict[str, Any]] = {}
    plans: list[tuple[str, Callable[[int], dict[str, Any]], int]] = [
        ("in-process rvm, decide_now", lambda n: run_sync(compiled.decide_now, pool, n), args.decisions),
        ("in-process rvm, await decide", lambda n: run_async(compiled, pool, n), args.decisions),
        (
            "in-process interpreter",
            lambda n: run_sync(interpreted.decide_now, pool, n),
            args.interpreter_decisions,
        ),
    ]
    for name, run, n in plans:
        run(min(args.warmup, n))
        rounds = []
        for k in range(args.rounds):
            result = run(n)
            rounds.append(result)
            print(
                f"  {name:<30} round {k + 1}/{args.rounds}: p50 {result['p50_us']:6.1f} µs  "
                f"p99 {result['p99_us']:7.1f} µs  mean {result['mean_us']:6.1f} µs",
                flush=True,
            )
        rows[name] = pooled(rounds)

    default = rows["in-process rvm, decide_now"]
    met = default["p99_us"] <= P99_GOAL_US
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "regorus": metadata.version("gordon-to-regorus"),
        "policy_version": policies.version,
        "modules": [m.name for m in policies.modules],
        "actions": len(policies.actions),
        "input_pool": len(pool),
        "wall_s": round(time.monotonic() - started, 1),
    }
    text = (
        f"Policy decision latency ({meta['actions']} actions, {len(meta['modules'])} modules, "
        f"{len(pool):,} distinct inputs; each row: median of {args.rounds} rounds)\n\n"
        f"{table(rows)}\n\n"
        f"goal p99 <= {P99_GOAL_US:.0f} µs (rvm, decide_now): {'met' if met else 'NOT met'} "
        f"({default['p99_us']:.1f} µs; rounds {default['rounds_p99_us']})\n"
        f"machine: {meta['cpus']} CPUs, load average {meta['load_average_before'][0]} before, "
        f"{meta['load_average_after'][0]} after (other work on the machine shows up in p99 and max)"
    )
    print()
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"meta": meta, "goal": {"p99_us": P99_GOAL_US, "met": met}, "results": rows}, indent=2)
        + "\n"
    )
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
