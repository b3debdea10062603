"""All of Lumen's settings: one msgspec Struct tree read from ``LUMEN_*`` environment variables.

Nested fields use a double underscore: ``LUMEN_SERVER__PORT=8080`` sets ``settings.server.port``. The few
settings everyone touches also have short names (``LUMEN_DATABASE_URL``, ``LUMEN_REDIS_URL``,
``LUMEN_DATA_DIR``, ``LUMEN_PLATFORM_KEY``...). With nothing set, Lumen runs on its embedded defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import platformdirs

__all__ = [
    "DatabaseSettings",
    "LimitsSettings",
    "LogSettings",
    "RedisSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "unknown_variables",
]


class SettingsError(ValueError):
    """A LUMEN_* variable could not be read; the message names the variable."""


class DatabaseSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # The application role's URL (owns nothing, no BYPASSRLS). None: start the embedded server.
    url: str | None = None
    # The owner's URL, used only to run migrations and provision roles. Defaults to `url`.
    owner_url: str | None = None
    # Connections each API process keeps open. Summed over every process of every replica (with
    # max_overflow) it must stay below PostgreSQL's max_connections, or the pooler's (docs/scaling.md).
    pool_size: int = 10
    # How many more a process may open under a burst; they are closed again when returned.
    max_overflow: int = 10
    # Name of the application role that the owner provisions for the embedded server.
    app_role: str = "lumen_app"
    # Log every SQL statement (development only: statements may carry identifiers).
    echo: bool = False


class RedisSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # redis:// or rediss:// (or unix://). None: start the embedded redis-server.
    url: str | None = None


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Address `lumen serve` listens on (0.0.0.0 in a container).
    host: str = "127.0.0.1"
    # TCP port `lumen serve` listens on.
    port: int = 8000
    # API worker processes (granian) per `lumen serve`: about one per core of the replica.
    workers: int = 1
    # JSON bodies above this are refused with 413; upload routes set their own larger limit.
    max_body_bytes: int = 1_048_576
    # Stripe keeps idempotency keys for 24 hours; so do we.
    idempotency_ttl_seconds: int = 86_400
    # How long a worker trusts a verified API key before looking it up again (0: every request).
    # Revocation, rotation and suspension invalidate it at once in every worker through Redis.
    auth_cache_seconds: float = 5.0


class WebhookSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Development and tests only: allow http:// and loopback/private addresses (never in production).
    allow_private: bool = False
    # One delivery attempt's budget (connect + response).
    timeout_seconds: float = 15.0
    # The Standard Webhooks schedule: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    retry_schedule_seconds: list[float] = msgspec.field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    )
    # An endpoint failing this long is disabled (and `endpoint.disabled` is emitted).
    disable_after_seconds: float = 5 * 86400


class JobSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Run a worker beside `lumen serve` (a single command gives a complete system).
    embedded_worker: bool = True
    # Jobs one worker process runs at once (each holds a database connection while it runs).
    max_jobs: int = 20
    # How often an idle worker looks for due jobs in Redis.
    poll_seconds: float = 0.05
    # A job running longer is cancelled; a job whose worker died is picked up again this + 10 s later.
    job_timeout_seconds: int = 60
    # On SIGTERM a worker takes no new job and waits this long for the jobs in hand before cancelling them
    # (arq runs a cancelled job again). Keep it below the orchestrator's kill deadline (Kubernetes: 30 s).
    shutdown_grace_seconds: Annotated[int, msgspec.Meta(ge=0)] = 25
    # How often a polling worker refreshes its heartbeat key in Redis (read by the container health check).
    health_check_seconds: Annotated[int, msgspec.Meta(ge=1)] = 10


Share = Annotated[float, msgspec.Meta(gt=0, le=1)]


class LimitsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Shares of a daily quota (requests, tokens) at which `usage.threshold_reached` fires, once a day each
    # (LUMEN_LIMITS__THRESHOLDS=0.8,1.0).
    thresholds: list[Share] = msgspec.field(default_factory=lambda: [0.8])
    # Per-day usage is kept in Redis this long: GET /v1/usage reaches back a year and a little more.
    usage_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 400
    # Each limiter call's budget; past it (or with Redis down) requests go on unlimited: fail open.
    redis_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 0.25
    # After a failure, Redis is not asked again for this long, so an outage adds no latency per request.
    redis_retry_seconds: Annotated[float, msgspec.Meta(ge=0)] = 2.0


class InferenceSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # What tenants call the pool's base model (their adapters are the other model names).
    base_model_name: str = "lumen-base"
    # The upstream id of the model the pool serves (what an adapter's base_model_name_or_path must name).
    base_model_id: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    # Whether `lumen serve` starts a local engine when no inference servers are configured (off: inference
    # answers 503 until LUMEN_INFERENCE_URLS is set).
    local_engine: bool = True
    # The local engine's model: a name in the model store, or a folder holding a transformers model.
    local_model: str = "smollm2-135m-instruct"
    # Where the local engine runs: cpu, cuda, or auto (cuda when a GPU is visible).
    local_device: Literal["cpu", "cuda", "auto"] = "cpu"
    # Most sequences the local engine decodes together in one step.
    local_max_batch: int = 16
    # Requests one replica takes at once; more wait in the pool's queue.
    replica_concurrency: int = 16
    # Requests the pool queues when every replica is busy; beyond this a request gets a 429 with Retry-After.
    max_queue: int = 64
    # How long a queued request waits for a replica before a 503 with Retry-After.
    queue_timeout_seconds: float = 30.0
    # The longest one generation may take on a replica.
    request_timeout_seconds: float = 300.0
    # How often the pool checks each replica's /health.
    health_interval_seconds: float = 2.0
    # Adapters loaded on one replica at once; the least recently used unpinned one is unloaded first.
    max_adapters_per_replica: int = 8
    # The largest LoRA rank an uploaded adapter may have.
    max_adapter_rank: int = 64
    # The largest adapter archive the pool accepts, in bytes.
    max_adapter_bytes: int = 64 * 1024 * 1024
    # Where adapter files live: a folder every replica can read (a shared volume in production). Empty: the
    # data dir's adapters/ folder.
    adapter_dir: str = ""
    # Where the local engine keeps converted models (each file's SHA-256 recorded, checked on every load).
    # Empty: the user's cache dir (~/.cache/lumen/models): models are not tenant data, and one conversion
    # serves every data dir on the machine.
    model_dir: str = ""
    # How long a request waits for the first replica to come up after start (the local engine converts its
    # model on a machine's first start), before a 503 with Retry-After.
    startup_wait_seconds: float = 180.0

    def __post_init__(self) -> None:
        for name in (
            "local_max_batch",
            "replica_concurrency",
            "max_adapters_per_replica",
            "max_adapter_rank",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"LUMEN_INFERENCE__{name.upper()} must be at least 1")
        if self.max_queue < 0:
            raise SettingsError("LUMEN_INFERENCE__MAX_QUEUE must not be negative")


class TrainingSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # CPU threads one training run uses in the worker (the worker's other jobs keep the rest).
    threads: Annotated[int, msgspec.Meta(ge=1, le=256)] = 2
    # A checkpoint (adapter weights, optimiser state, step) is written every this many steps; a run whose
    # worker died resumes from the last one.
    checkpoint_every: Annotated[int, msgspec.Meta(ge=1)] = 5
    # The longest one training run may take in the worker before arq cancels it (and retries it); also how
    # long a run whose worker died waits before arq hands it to another worker (which resumes it).
    job_timeout_seconds: Annotated[int, msgspec.Meta(ge=60)] = 3600
    # Whether the workers have a CUDA GPU: QLoRA (bitsandbytes 4-bit) needs one; without it a qlora run is
    # refused with a 422 rather than silently trained as something else.
    gpu: bool = False
    # Most examples one dataset may hold.
    max_examples: Annotated[int, msgspec.Meta(ge=1)] = 5000
    # Where training runs keep their checkpoints. Empty: the data dir's training/ folder.
    work_dir: str = ""


class PatientSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Base64 of 32 random bytes: the master key that wraps each tenant's patient data key (AES-256-GCM; a KMS
    # key in production). Generated 0600 into the data dir (patients-master.key) if unset.
    master_key: str | None = None
    # Earlier master keys (base64), still accepted to unwrap data keys while `lumen patients
    # rotate-master-key` re-wraps them under master_key; drop one once the rotation has finished.
    previous_master_keys: list[str] = msgspec.field(default_factory=list)
    # Patient-app sign-in attempts per client address, tenant and minute (a brake on guessing sign-in codes).
    app_signins_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 10
    # Patient-app sessions opened per client address, tenant and minute.
    app_sessions_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 30


class LogSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # auto: readable colours on a terminal, JSON otherwise (containers, files, CI).
    format: Literal["auto", "json", "console"] = "auto"
    # The least severe event written.
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # production refuses unsafe conveniences; test is what the test suite runs with.
    environment: Literal["development", "test", "production"] = "development"
    # Embedded PostgreSQL and Redis data, generated keys (unused by a production replica, whose URLs and
    # keys are all set).
    data_dir: str = ""
    # Taken as given when set; otherwise generated on first start and written 0600 into the data dir.
    platform_key: str | None = None
    # Base64 of the 32-byte Ed25519 seed that signs audit exports; generated 0600 into the data dir if unset.
    audit_signing_key: str | None = None
    # Base64 of >= 32 random bytes: seals stored idempotent responses (which may carry a new key's secret).
    # Generated 0600 into the data dir if unset; every replica must share one value in production.
    secret_key: str | None = None
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    jobs: JobSettings = msgspec.field(default_factory=JobSettings)
    inference: InferenceSettings = msgspec.field(default_factory=InferenceSettings)
    training: TrainingSettings = msgspec.field(default_factory=TrainingSettings)
    patients: PatientSettings = msgspec.field(default_factory=PatientSettings)
    # The operator's allow-list of installed plugins to load (LUMEN_PLUGINS=a,b); empty loads them all.
    plugins: list[str] = msgspec.field(default_factory=list)
    # Production servers behind the shared interfaces. Unset means the embedded default.
    # OpenAI-compatible generation servers (vLLM with --enable-lora), one URL per replica; empty: Lumen's
    # own CPU engine, started by `lumen serve`.
    inference_urls: list[str] = msgspec.field(default_factory=list)
    # A Weaviate cluster for retrieval (native multi-tenancy); unset: pgvector in PostgreSQL.
    weaviate_url: str | None = None
    # An OPA server (the sidecar) loaded with Lumen's policy bundle; unset: the same Rego in-process.
    opa_url: str | None = None

    def __post_init__(self) -> None:
        if not self.data_dir:
            self.data_dir = str(platformdirs.user_data_path("lumen"))

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def adapter_path(self) -> Path:
        return (
            Path(self.inference.adapter_dir).expanduser()
            if self.inference.adapter_dir
            else self.data_path / "adapters"
        )

    @property
    def model_path(self) -> Path:
        if self.inference.model_dir:
            return Path(self.inference.model_dir).expanduser()
        return platformdirs.user_cache_path("lumen") / "models"

    @property
    def training_path(self) -> Path:
        return (
            Path(self.training.work_dir).expanduser()
            if self.training.work_dir
            else self.data_path / "training"
        )

    @property
    def uses_embedded_database(self) -> bool:
        return self.database.url is None

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis.url is None

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with top-level fields replaced (the CLI's --data-dir, tests' URLs)."""
        return msgspec.structs.replace(self, **changes)


# Short names for the settings people set most; everything else uses the nested form.
_ALIASES = {
    "LUMEN_DATABASE_URL": "database__url",
    "LUMEN_DATABASE_OWNER_URL": "database__owner_url",
    "LUMEN_REDIS_URL": "redis__url",
    "LUMEN_LOG_FORMAT": "log__format",
    "LUMEN_LOG_LEVEL": "log__level",
    "LUMEN_HOST": "server__host",
    "LUMEN_PORT": "server__port",
    "LUMEN_WEBHOOKS_ALLOW_PRIVATE": "webhooks__allow_private",
}
_LIST_FIELDS = {
    "inference_urls",
    "plugins",
    "patients__previous_master_keys",
    "webhooks__retry_schedule_seconds",
    "limits__thresholds",
}
_TOP_LEVEL = set(Settings.__struct_fields__)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """LUMEN_* variables that set nothing: shown as a warning at start, since most are typos."""
    env = os.environ if environ is None else environ
    return sorted(
        name
        for name in env
        if name.startswith("LUMEN_")
        and _ALIASES.get(name, name[len("LUMEN_") :].lower()).split("__")[0] not in _TOP_LEVEL
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings tree from ``LUMEN_*`` variables; unknown or ill-typed ones are an error."""
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    origin: dict[str, str] = {}  # "server.port" -> the variable that set it, for error messages
    for name, raw in env.items():
        if not name.startswith("LUMEN_"):
            continue
        path = _ALIASES.get(name, name[len("LUMEN_") :].lower())
        if path.split("__")[0] not in _TOP_LEVEL:
            continue  # not ours (LUMEN_BIN for scripts...); unknown_variables() reports them
        value: Any = raw
        if path in _LIST_FIELDS:
            value = [part.strip() for part in raw.split(",") if part.strip()]
        node = tree
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError(f"{name}: conflicts with another LUMEN_ variable")
        node[leaf] = value
        origin[path.replace("__", ".")] = name
    try:
        # strict=False lets "8080" become an int and "true" a bool, as environment values must.
        return msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_variable(str(exc), origin)) from exc


def _name_variable(message: str, origin: Mapping[str, str]) -> str:
    """Turn msgspec's `... - at `$.server.port`` into the variable the user set."""
    text, _, where = message.rpartition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    if "unknown field `" in text:
        field = text.split("unknown field `", 1)[1].split("`", 1)[0]
        path = f"{path}.{field}" if path else field
        return f"{origin.get(path, 'LUMEN_' + path.replace('.', '__').upper())}: no such setting"
    path, _, index = path.partition("[")  # a list item: `limits.thresholds[1]` is the variable's 2nd value
    variable = origin.get(path, "LUMEN_" + path.replace(".", "__").upper())
    item = f" (value {int(index.split(']')[0]) + 1})" if index.split("]")[0].isdigit() else ""
    return f"{variable}: {text or message}{item}"
