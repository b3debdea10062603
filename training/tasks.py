"""The training job (`training.run`), run by the arq worker: train, evaluate, gate, publish.

Training is CPU/GPU-bound and blocking, so it runs on a thread of the worker (the worker's event loop keeps
relaying the outbox and answering health checks), one run at a time per worker process, with torch's
threads limited by `training.threads`. Progress (step, loss, eta) goes to the run row and to the job row
(GET /v1/jobs/{id}); a cancel request is seen at the next step.

Crash safety: a checkpoint is written every `training.checkpoint_every` steps under
`<data dir>/training/<run id>/`. If the worker dies, arq runs the job again (after the job timeout) and it
resumes from the last checkpoint; an ordinary exception is retried the same way (3 tries). A run that is
already finished is not run again (arq delivers at least once).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog
from arq.worker import Retry
from sqlalchemy import select

from lumen.core.audit.signing import load_or_create_signer
from lumen.core.db.session import Database
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from lumen.inference.pool.models import Adapter
from lumen.training.gate import evaluate
from lumen.training.models import TrainingDataset, TrainingRun
from lumen.training.service import copy_version, next_version, register, write_adapter
from lumen.training.trainer import Cancelled, TrainConfig, Trainer, TrainingError

__all__ = ["TERMINAL", "TRAIN_JOB", "config_of", "training_job"]

log = structlog.get_logger()

TRAIN_JOB = "training.run"
TERMINAL = ("published", "gate_failed", "failed", "cancelled")
_TRIES = 3
_ONE_AT_A_TIME = threading.Lock()


def config_of(run: TrainingRun, checkpoint_every: int) -> TrainConfig:
    h = run.hyperparameters
    return TrainConfig(
        max_steps=int(h["max_steps"]),
        learning_rate=float(h["learning_rate"]),
        rank=int(h["rank"]),
        alpha=int(h["alpha"]),
        dropout=float(h["dropout"]),
        batch_size=int(h["batch_size"]),
        max_seq_len=int(h["max_seq_len"]),
        target_modules=tuple(h["target_modules"]),
        seed=int(h["seed"]),
        method=run.method,
        checkpoint_every=checkpoint_every,
    )


class _Progress:
    """Called on the training thread after each step: writes progress from the event loop, and raises
    Cancelled once the tenant asked to cancel."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[int, float, int, float | None], Coroutine[Any, Any, bool]],
    ) -> None:
        self.loop, self.write = loop, write
        self.started = time.monotonic()
        self.first_step: int | None = None

    def __call__(self, step: int, loss: float, total: int) -> None:
        if self.first_step is None:
            self.first_step = step - 1
        done = step - self.first_step
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - step) if done > 0 else None
        cancel: bool = asyncio.run_coroutine_threadsafe(
            self.write(step, loss, total, eta), self.loop
        ).result()
        if cancel:
            raise Cancelled()


def training_job(settings: Settings) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def run_training(
        ctx: dict[str, Any], *, run_id: str, tenant_id: str, job_id: str
    ) -> dict[str, Any]:
        from lumen.core.jobs.worker import JobStatus

        db: Database = ctx["db"]
        status = JobStatus(db, job_id, tenant_id)
        await status.start()
        try:
            result = await _run(db, settings, uuid.UUID(tenant_id), uuid.UUID(run_id), status)
        except Exception as exc:
            final = ctx["job_try"] >= _TRIES
            message = f"{type(exc).__name__}: {str(exc)[:1500]}"
            await status.finish(error=message, final=final)
            log.warning("training.run_errored", run_id=run_id, error_type=type(exc).__name__, final=final)
            if final:
                await _set(db, uuid.UUID(tenant_id), uuid.UUID(run_id), status="failed", error=message)
                raise
            raise Retry(defer=2 ** (ctx["job_try"] - 1)) from exc
        await status.finish(result=result)
        return result

    run_training.__qualname__ = run_training.__name__ = "run_training"
    return run_training


async def _set(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, **changes: Any) -> TrainingRun | None:
    async with db.transaction(Scope.tenant(tenant_id)) as session:
        run = await session.get(TrainingRun, run_id)
        if run is not None:
            for name, value in changes.items():
                setattr(run, name, value)
        return run


def _summary(run: TrainingRun) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "status": run.status,
        "steps": run.step,
        "adapter_id": str(run.adapter_id) if run.adapter_id else None,
        "adapter": f"{run.adapter_name}-v{run.adapter_version}" if run.adapter_version else None,
    }


async def _run(
    db: Database, settings: Settings, tenant_id: uuid.UUID, run_id: uuid.UUID, status: Any
) -> dict[str, Any]:
    scope = Scope.tenant(tenant_id)
    async with db.transaction(scope) as session:
        run = await session.get(TrainingRun, run_id)
        if run is None:
            return {"status": "missing"}
        if run.status in TERMINAL:
            return _summary(run)
        if run.cancel_requested:
            run.status = "cancelled"
            return _summary(run)
        run.status, run.error = "running", None
        dataset = await session.get(TrainingDataset, run.dataset_id)
        assert dataset is not None
        train_rows, eval_rows = list(dataset.train), list(dataset.eval)
        dataset_info = {
            "id": str(dataset.id),
            "name": dataset.name,
            "version": dataset.version,
            "sha256": dataset.sha256,
        }
        config = config_of(run, settings.training.checkpoint_every)
        name, base_model, method, hyper = (
            run.adapter_name,
            run.base_model,
            run.method,
            dict(run.hyperparameters),
        )
    work = settings.training_path / str(tenant_id) / str(run_id)

    async def write(step: int, loss: float, total: int, eta: float | None) -> bool:
        async with db.transaction(scope) as session:
            row = await session.get(TrainingRun, run_id)
            if row is None:
                return True
            row.step = step
            row.losses = [*row.losses[: step - 1], loss]
            cancel = row.cancel_requested
        eta_text = f"{eta:.0f}s" if eta is not None else "?"
        await status.progress(0.9 * step / total, f"step {step}/{total} loss {loss:.4f} eta {eta_text}")
        return cancel

    progress = _Progress(asyncio.get_running_loop(), write)

    def train() -> tuple[Trainer, Any]:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch

        from lumen.inference.local.store import ModelStore

        torch.set_num_threads(settings.training.threads)
        model = ModelStore(settings.model_path).resolve(settings.inference.local_model)
        with _ONE_AT_A_TIME:
            device = "cuda" if settings.training.gpu and torch.cuda.is_available() else "cpu"
            trainer = Trainer(model.path, config, device=device)
            outcome = trainer.train(train_rows, work, progress)
            return trainer, outcome

    try:
        trainer, outcome = await asyncio.to_thread(train)
    except Cancelled:
        shutil.rmtree(work, ignore_errors=True)
        run_row = await _set(db, tenant_id, run_id, status="cancelled")
        log.info("training.run_cancelled", run_id=str(run_id))
        return _summary(run_row) if run_row else {"status": "cancelled"}
    except TrainingError as exc:  # deterministic: retrying would fail the same way
        shutil.rmtree(work, ignore_errors=True)
        run_row = await _set(db, tenant_id, run_id, status="failed", error=str(exc)[:2000])
        return _summary(run_row) if run_row else {"status": "failed"}

    await _set(db, tenant_id, run_id, status="evaluating", losses=outcome.losses, step=outcome.steps)
    await status.progress(0.92, "evaluating (eval loss and safety pairs)")
    gate = await asyncio.to_thread(evaluate, trainer, eval_rows)
    metrics = {
        "first_loss": outcome.losses[0] if outcome.losses else None,
        "final_loss": outcome.losses[-1] if outcome.losses else None,
        "resumed_from_step": outcome.resumed_from,
        "train_tokens": outcome.tokens,
        "train_seconds": round(outcome.seconds, 2),
        "eval_loss_base": gate.eval_loss_base,
        "eval_loss_adapter": gate.eval_loss_adapter,
    }
    if not gate.passed:
        shutil.rmtree(work, ignore_errors=True)
        run_row = await _set(
            db, tenant_id, run_id, status="gate_failed", gate=gate.as_dict(), metrics=metrics
        )
        log.info("training.gate_failed", run_id=str(run_id), reasons=len(gate.reasons))
        return _summary(run_row) if run_row else {"status": "gate_failed"}

    await status.progress(0.96, "publishing")
    signer = load_or_create_signer(settings.audit_signing_key, settings.data_path)
    store = settings.adapter_path
    async with db.transaction(scope) as session:
        version = await next_version(session, tenant_id, name)
        versioned = f"{name}-v{version}"
        manifest = {
            "adapter": versioned,
            "alias": name,
            "version": version,
            "tenant_id": str(tenant_id),
            "run_id": str(run_id),
            "base_model": settings.inference.base_model_id,
            "base_model_name": base_model,
            "method": method,
            "dataset": dataset_info,
            "hyperparameters": hyper,
            "metrics": metrics,
            "gate": gate.as_dict(),
        }
        files = await asyncio.to_thread(
            write_adapter,
            lambda folder: trainer.save_adapter(folder, settings.inference.base_model_id),
            store,
            tenant_id,
            manifest,
            signer,
        )
        created: list[Path] = [files.path]
        try:
            modules, base_id = list(config.target_modules), settings.inference.base_model_id
            adapter = await register(
                session,
                tenant_id,
                versioned,
                files,
                description=f"training run {run_id}",
                rank=config.rank,
                target_modules=modules,
                base_model=base_id,
            )
            # `<name>` moves to this version: the old row goes (its files after commit), a new one comes.
            old = (
                await session.scalars(
                    select(Adapter).where(Adapter.tenant_id == tenant_id, Adapter.name == name)
                )
            ).all()
            foreign = [row for row in old if not row.description.startswith("current: ")]
            if foreign:  # an adapter the tenant uploaded under this name: never replaced by a training run
                raise TrainingError(f"an uploaded adapter is named {name!r}; rename it or the run")
            for row in old:
                await session.delete(row)
            await session.flush()  # the old row goes before the new one of the same name comes
            alias_files = await asyncio.to_thread(copy_version, files.path, store, tenant_id)
            created.append(alias_files[1])
            await register(
                session,
                tenant_id,
                name,
                alias_files,
                description=f"current: {versioned}",
                rank=config.rank,
                target_modules=modules,
                base_model=base_id,
            )
            run = await session.get(TrainingRun, run_id)
            assert run is not None
            run.status, run.adapter_id, run.adapter_version = "published", adapter.id, version
            run.gate, run.metrics = gate.as_dict(), {**metrics, "sha256": files.sha256}
            summary = _summary(run)
            stale = [row.path for row in old]
        except TrainingError as exc:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
            await session.rollback()
            failed = await _set(db, tenant_id, run_id, status="failed", error=str(exc))
            return _summary(failed) if failed else {"status": "failed"}
        except BaseException:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
            raise
    from lumen.inference.pool.adapters import remove_stored

    for stale_path in stale:
        remove_stored(stale_path, store)
    shutil.rmtree(work, ignore_errors=True)
    log.info("training.adapter_published", run_id=str(run_id), version=version)
    return summary
