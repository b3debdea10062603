"""The training API: tenant datasets, training runs (a tracked job each), and adapter rollback.

Everything is tenant-scoped: another tenant's dataset or run is a 404, and runs train only on the caller's
own datasets. The training itself happens in the worker (lumen.training.tasks), never in this process.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import structlog
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy import func, select

from lumen.core.auth.principal import Principal
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from lumen.core.db.unit_of_work import unit_of_work
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import Conflict, LumenProblem, NotFound, UnprocessableEntity
from lumen.core.jobs.outbox import create_job, wake_after_commit
from lumen.core.settings import Settings
from lumen.inference.pool.models import Adapter
from lumen.training.datasets import DatasetError, parse_jsonl, validate_examples
from lumen.training.models import TrainingDataset, TrainingRun
from lumen.training.service import copy_version, current_version, register
from lumen.training.tasks import TERMINAL, TRAIN_JOB

__all__ = ["AdapterRollbackController", "DatasetController", "RunController"]

log = structlog.get_logger()

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
MAX_UPLOAD = 32 * 1024 * 1024
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
JSONL_TYPES = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines", "text/plain")


class DatasetIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    # Each is validated on its own (see lumen.training.datasets); a bad one is reported, not fatal.
    examples: Annotated[list[Any], msgspec.Meta(min_length=1, max_length=20_000)]
    phi: Literal["redact", "reject"] = "redact"
    eval_fraction: Annotated[float, msgspec.Meta(ge=0.05, le=0.5)] = 0.1


def _dataset_body() -> dict[str, Any]:
    """The body `create` reads itself, for the OpenAPI document: JSON {name, examples, ...}, or JSONL (one
    chat example or instruction/response pair a line) with `?name=`."""
    (_,), components = msgspec.json.schema_components([DatasetIn])
    jsonl = {"schema": {"type": "string", "description": "one JSON example a line; needs ?name="}}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": components["DatasetIn"]},
            **dict.fromkeys(JSONL_TYPES, jsonl),
        },
    }


DATASET_BODY = _dataset_body()


class DatasetOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    version: int
    train_examples: int
    eval_examples: int
    sha256: str
    report: dict[str, Any]
    created_at: datetime


class DatasetPage(msgspec.Struct):
    items: list[DatasetOut]
    next_cursor: str | None = None


class Hyperparameters(msgspec.Struct, forbid_unknown_fields=True):
    max_steps: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    learning_rate: Annotated[float, msgspec.Meta(gt=0, le=0.01)] = 1e-3
    rank: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    alpha: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16
    dropout: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.0
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=32)] = 4
    max_seq_len: Annotated[int, msgspec.Meta(ge=32, le=2048)] = 256
    target_modules: Annotated[list[Literal[TARGETS]], msgspec.Meta(min_length=1, max_length=7)] = (  # type: ignore[valid-type]
        msgspec.field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    )
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] = 0


class RunIn(msgspec.Struct, forbid_unknown_fields=True):
    dataset: uuid.UUID
    # The adapter's name (versions are <name>-v<N>); default: the dataset's name.
    name: Name | None = None
    base_model: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    method: Literal["lora", "qlora"] = "lora"
    hyperparameters: Hyperparameters = msgspec.field(default_factory=Hyperparameters)


class AdapterRef(msgspec.Struct):
    id: uuid.UUID
    name: str
    version: int
    alias: str


class RunOut(msgspec.Struct):
    id: uuid.UUID
    status: str
    dataset: uuid.UUID
    name: str
    base_model: str
    method: str
    hyperparameters: dict[str, Any]
    step: int
    max_steps: int
    losses: list[float]
    job_id: uuid.UUID | None
    metrics: dict[str, Any] | None
    gate: dict[str, Any] | None
    error: str | None
    adapter: AdapterRef | None
    created_at: datetime


class RunPage(msgspec.Struct):
    items: list[RunOut]
    next_cursor: str | None = None


class RollbackIn(msgspec.Struct, forbid_unknown_fields=True):
    # The version `<name>` should serve; default: the one before the current.
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class RollbackOut(msgspec.Struct):
    name: str
    version: int
    adapter_id: uuid.UUID
    previous_version: int | None


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _tenant(principal: Principal) -> uuid.UUID:
    if principal.tenant_id is None:
        raise LumenProblem("This needs a tenant's API key.", slug="tenant-key-required")
    return principal.tenant_id


def _dataset_out(d: TrainingDataset) -> DatasetOut:
    return DatasetOut(
        id=d.id,
        name=d.name,
        version=d.version,
        train_examples=len(d.train),
        eval_examples=len(d.eval),
        sha256=d.sha256,
        report=d.report,
        created_at=d.created_at,
    )


def _run_out(r: TrainingRun) -> RunOut:
    adapter = (
        AdapterRef(
            id=r.adapter_id,
            name=f"{r.adapter_name}-v{r.adapter_version}",
            version=r.adapter_version,
            alias=r.adapter_name,
        )
        if r.adapter_id is not None and r.adapter_version is not None
        else None
    )
    return RunOut(
        id=r.id,
        status=r.status,
        dataset=r.dataset_id,
        name=r.adapter_name,
        base_model=r.base_model,
        method=r.method,
        hyperparameters=r.hyperparameters,
        step=r.step,
        max_steps=int(r.hyperparameters.get("max_steps", 0)),
        losses=list(r.losses),
        job_id=r.job_id,
        metrics=r.metrics,
        gate=r.gate,
        error=r.error,
        adapter=adapter,
        created_at=r.created_at,
    )


class DatasetController(Controller):
    path = "/v1/training/datasets"
    tags = ["training"]

    @post(
        "/",
        operation_id="createTrainingDataset",
        summary="Upload a dataset: JSON {name, examples, phi, eval_fraction}, or JSONL (chat examples or "
        "instruction/response pairs, one a line) with ?name=; validated, PHI-scanned, split, versioned",
        status_code=HTTP_201_CREATED,
        opt={
            "action": "training.datasets.create",
            "resource": "training_dataset",
            "openapi_request_body": DATASET_BODY,
        },
        request_max_body_size=MAX_UPLOAD,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        principal: Caller,
        name: Annotated[str | None, QueryParameter(max_length=48)] = None,
        phi: Annotated[Literal["redact", "reject"], QueryParameter()] = "redact",
    ) -> DatasetOut:
        tenant_id = _tenant(principal)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        body = await request.body()
        eval_fraction = 0.1
        if media_type == "application/json":
            try:
                data = msgspec.json.decode(body, type=DatasetIn)
            except msgspec.ValidationError as exc:
                raise UnprocessableEntity(f"body: {exc}", slug="validation-error") from None
            except msgspec.DecodeError:
                raise UnprocessableEntity("body: not valid JSON", slug="validation-error") from None
            dataset_name, examples, phi, eval_fraction = (
                data.name,
                data.examples,
                data.phi,
                data.eval_fraction,
            )
        elif media_type in JSONL_TYPES:
            try:
                dataset_name = msgspec.convert(name, Name)
            except msgspec.ValidationError:
                raise UnprocessableEntity(
                    "name: a query parameter of 1-48 lower-case letters, digits, '_' or '-' is required",
                    slug="validation-error",
                ) from None
            try:
                examples = parse_jsonl(body)
            except DatasetError as exc:
                raise UnprocessableEntity(str(exc), slug="validation-error") from None
        else:
            raise LumenProblem(
                f"Content-Type must be application/json or application/jsonl (got {media_type or 'none'}).",
                slug="unsupported-media-type",
            )
        try:
            validated = validate_examples(
                examples,
                phi=phi,
                eval_fraction=eval_fraction,
                max_examples=_settings(request).training.max_examples,
            )
        except DatasetError as exc:
            raise UnprocessableEntity(str(exc), slug="validation-error") from None
        latest = await session.scalar(
            select(func.max(TrainingDataset.version)).where(
                TrainingDataset.tenant_id == tenant_id, TrainingDataset.name == dataset_name
            )
        )
        dataset = TrainingDataset(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            name=dataset_name,
            version=int(latest or 0) + 1,
            train=validated.train,
            eval=validated.eval,
            report=validated.report,
            sha256=validated.sha256,
        )
        session.add(dataset)
        await session.flush()
        log.info(
            "training.dataset_created",
            dataset_id=str(dataset.id),
            accepted=validated.report["accepted"],
            rejected=validated.report["rejected_count"],
        )
        return _dataset_out(dataset)

    @get(
        "/",
        operation_id="listTrainingDatasets",
        summary="The tenant's datasets",
        opt={"action": "training.read"},
    )
    async def list_datasets(
        self,
        session: DbSession,
        principal: Caller,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> DatasetPage:
        query = select(TrainingDataset).where(TrainingDataset.tenant_id == _tenant(principal))
        rows, next_cursor = await paginate(session, query, TrainingDataset, cursor=cursor, limit=limit)
        return DatasetPage(items=[_dataset_out(d) for d in rows], next_cursor=next_cursor)

    @get(
        "/{dataset_id:uuid}",
        operation_id="getTrainingDataset",
        summary="One dataset with its validation report",
        opt={"action": "training.read"},
    )
    async def get_dataset(
        self, dataset_id: FromPath[uuid.UUID], session: DbSession, principal: Caller
    ) -> DatasetOut:
        return _dataset_out(await _dataset(session, principal, dataset_id))


async def _dataset(session: Any, principal: Principal, dataset_id: uuid.UUID) -> TrainingDataset:
    found = (
        await session.scalars(
            select(TrainingDataset).where(
                TrainingDataset.id == dataset_id, TrainingDataset.tenant_id == _tenant(principal)
            )
        )
    ).one_or_none()
    if found is None:
        raise NotFound("dataset not found")
    dataset: TrainingDataset = found
    return dataset


async def _run(session: Any, principal: Principal, run_id: uuid.UUID) -> TrainingRun:
    found = (
        await session.scalars(
            select(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.tenant_id == _tenant(principal))
        )
    ).one_or_none()
    if found is None:
        raise NotFound("training run not found")
    run: TrainingRun = found
    return run


class RunController(Controller):
    path = "/v1/training/runs"
    tags = ["training"]

    @post(
        "/",
        operation_id="createTrainingRun",
        summary="Start a LoRA/QLoRA run on one of the tenant's datasets (a job: GET /v1/jobs/{job_id})",
        status_code=HTTP_202_ACCEPTED,
        opt={"action": "training.runs.create", "resource": "training_run"},
    )
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[RunIn], session: DbSession, principal: Caller
    ) -> RunOut:
        tenant_id = _tenant(principal)
        settings = _settings(request)
        try:
            dataset = await _dataset(session, principal, data.dataset)
        except NotFound:
            raise UnprocessableEntity(
                "dataset: no such dataset for this tenant", slug="validation-error"
            ) from None
        accepted = {settings.inference.base_model_name, settings.inference.base_model_id}
        base_model = data.base_model or settings.inference.base_model_name
        if base_model not in accepted:
            raise UnprocessableEntity(
                f"base_model: this Lumen trains adapters for its pool's base model only ({sorted(accepted)})",
                slug="validation-error",
            )
        if data.method == "qlora" and not settings.training.gpu:
            raise UnprocessableEntity(
                "method: qlora needs a GPU (bitsandbytes 4-bit) and this Lumen's workers have none "
                "(training.gpu is off); use lora",
                slug="validation-error",
            )
        name = data.name or dataset.name
        if name == settings.inference.base_model_name:
            raise UnprocessableEntity(f"name: {name!r} is the base model's name", slug="validation-error")
        taken = (
            await session.scalars(
                select(Adapter.description).where(Adapter.tenant_id == tenant_id, Adapter.name == name)
            )
        ).first()
        if taken is not None and not taken.startswith("current: "):
            raise Conflict(f"An uploaded adapter is named {name!r}; choose another name for the run.")
        running = await session.scalar(
            select(func.count())
            .select_from(TrainingRun)
            .where(
                TrainingRun.tenant_id == tenant_id,
                TrainingRun.status.in_(("queued", "running", "evaluating")),
            )
        )
        if int(running or 0) >= 3:
            raise Conflict("This tenant already has 3 training runs in progress; wait for one to finish.")
        run = TrainingRun(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            dataset_id=dataset.id,
            adapter_name=name,
            base_model=base_model,
            method=data.method,
            hyperparameters=msgspec.to_builtins(data.hyperparameters),
            status="queued",
            cancel_requested=False,
            step=0,
            losses=[],
        )
        session.add(run)
        await session.flush()
        job = await create_job(
            session, tenant_id, TRAIN_JOB, {"run_id": str(run.id), "tenant_id": str(tenant_id)}
        )
        run.job_id = job.id
        await session.flush()
        wake_after_commit(request.scope)
        log.info("training.run_queued", run_id=str(run.id), method=data.method)
        return _run_out(run)

    @get(
        "/",
        operation_id="listTrainingRuns",
        summary="The tenant's training runs",
        opt={"action": "training.read"},
    )
    async def list_runs(
        self,
        session: DbSession,
        principal: Caller,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> RunPage:
        query = select(TrainingRun).where(TrainingRun.tenant_id == _tenant(principal))
        rows, next_cursor = await paginate(session, query, TrainingRun, cursor=cursor, limit=limit)
        return RunPage(items=[_run_out(r) for r in rows], next_cursor=next_cursor)

    @get(
        "/{run_id:uuid}",
        operation_id="getTrainingRun",
        summary="A run's status, progress, gate result and, once published, its adapter",
        opt={"action": "training.read"},
    )
    async def get_run(self, run_id: FromPath[uuid.UUID], session: DbSession, principal: Caller) -> RunOut:
        return _run_out(await _run(session, principal, run_id))

    @post(
        "/{run_id:uuid}/cancel",
        operation_id="cancelTrainingRun",
        summary="Cancel a run (a queued run never starts; a running one stops at its next step)",
        status_code=HTTP_202_ACCEPTED,
        opt={"action": "training.runs.cancel", "resource": "training_run"},
    )
    async def cancel(self, run_id: FromPath[uuid.UUID], session: DbSession, principal: Caller) -> RunOut:
        run = await _run(session, principal, run_id)
        if run.status in TERMINAL:
            raise Conflict(f"The run is already {run.status}.")
        run.cancel_requested = True
        if run.status == "queued":
            run.status = "cancelled"
        await session.flush()
        return _run_out(run)


class AdapterRollbackController(Controller):
    path = "/v1/training/adapters"
    tags = ["training"]

    @post(
        "/{name:str}/rollback",
        operation_id="rollbackTrainedAdapter",
        summary="Point the adapter name at an earlier published version (default: the one before)",
        status_code=200,
        opt={"action": "training.adapters.rollback", "resource": "adapter"},
    )
    async def rollback(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        data: JSONBody[RollbackIn],
        session: DbSession,
        principal: Caller,
    ) -> RollbackOut:
        tenant_id = _tenant(principal)
        settings = _settings(request)
        alias = (
            await session.scalars(select(Adapter).where(Adapter.tenant_id == tenant_id, Adapter.name == name))
        ).one_or_none()
        published = (
            await session.scalars(
                select(TrainingRun).where(
                    TrainingRun.tenant_id == tenant_id,
                    TrainingRun.adapter_name == name,
                    TrainingRun.status == "published",
                )
            )
        ).all()
        if alias is None or not published:
            raise NotFound("no trained adapter of that name")
        current = current_version(alias)
        versions = sorted(r.adapter_version for r in published if r.adapter_version is not None)
        if data.version is not None:
            target = data.version
        else:
            earlier = [v for v in versions if current is None or v < current]
            if not earlier:
                raise Conflict("There is no earlier version to roll back to.")
            target = earlier[-1]
        row = (
            await session.scalars(
                select(Adapter).where(Adapter.tenant_id == tenant_id, Adapter.name == f"{name}-v{target}")
            )
        ).one_or_none()
        if row is None or target not in versions:
            raise UnprocessableEntity(f"version: {name}-v{target} does not exist", slug="validation-error")
        from pathlib import Path

        store = settings.adapter_path
        files = copy_version(Path(row.path), store, tenant_id)
        await session.delete(alias)
        await session.flush()
        new = await register(
            session,
            tenant_id,
            name,
            files,
            rank=row.rank,
            target_modules=[t for t in row.target_modules.split(",") if t],
            base_model=row.base_model,
            description=f"current: {name}-v{target} (rolled back)",
        )
        gateway = getattr(request.app.state, "inference", None)
        old_served, old_path = alias.served_name, alias.path

        async def done() -> None:
            from lumen.inference.pool.adapters import remove_stored

            if gateway is not None and gateway.has_pool:
                await gateway.pool.forget_adapter(old_served)
            remove_stored(old_path, store)

        async def undo() -> None:
            from lumen.inference.pool.adapters import remove_stored

            remove_stored(str(files[1]), store)

        unit_of_work(request.scope).after_commit(done)
        unit_of_work(request.scope).after_rollback(undo)
        log.info("training.adapter_rolled_back", version=target)
        return RollbackOut(name=name, version=target, adapter_id=new.id, previous_version=current)
