"""Job status for long work: GET /v1/jobs/{id}."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.params import FromPath
from sqlalchemy import select

from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import NotFound
from lumen.core.jobs.models import Job

__all__ = ["JobController"]


class JobOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    state: str
    progress: float
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]

    @get(
        "/{job_id:uuid}",
        operation_id="getJob",
        summary="State, progress and result of a job",
        opt={"action": "jobs.read"},
    )
    async def get_job(self, job_id: FromPath[uuid.UUID], session: DbSession, principal: Caller) -> JobOut:
        job = (
            await session.scalars(select(Job).where(Job.id == job_id, Job.tenant_id == principal.tenant_id))
        ).one_or_none()
        if job is None:
            raise NotFound("job not found")
        return JobOut(
            id=job.id,
            name=job.name,
            state=job.state,
            progress=job.progress,
            message=job.message,
            result=job.result,
            error=job.error,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )
