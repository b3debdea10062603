"""`lumen jobs watch`: a job's progress as a bar in the terminal, ending with its outcome and exit code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from lumen.core.db.session import Database
from lumen.core.jobs.models import Job
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from tests.conftest import TenantHandle


def _watch(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(
        {
            "LUMEN_DATA_DIR": settings.data_dir,
            "LUMEN_DATABASE_URL": settings.database.url or "",
            "LUMEN_DATABASE_OWNER_URL": settings.database.owner_url or "",
            "LUMEN_REDIS_URL": settings.redis.url or "",
            "LUMEN_LOG_FORMAT": "json",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "lumen.core.cli", "jobs", "watch", *args, "--interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _job(settings: Settings, tenant: TenantHandle, **values: object) -> uuid.UUID:
    db = Database(settings.database)
    try:
        async with db.transaction(Scope.tenant(tenant.id)) as session:
            fields: dict[str, object] = {"state": "running", "progress": 0.0, "attempts": 1, **values}
            job = Job(id=uuid.uuid4(), tenant_id=tenant.id, name="test.watch", **fields)
            session.add(job)
        return job.id
    finally:
        await db.dispose()


async def _update(settings: Settings, tenant: TenantHandle, job_id: uuid.UUID, **values: object) -> None:
    db = Database(settings.database)
    try:
        async with db.transaction(Scope.tenant(tenant.id)) as session:
            job = await session.get(Job, job_id)
            assert job is not None
            for name, value in values.items():
                setattr(job, name, value)
    finally:
        await db.dispose()


async def test_the_bar_follows_the_job_to_success(settings: Settings, tenant_a: TenantHandle) -> None:
    job_id = await _job(settings, tenant_a)
    watcher = _watch(settings, str(job_id), "--tenant", tenant_a.slug)
    await asyncio.sleep(2)
    await _update(settings, tenant_a, job_id, progress=0.5, message="halfway")
    await asyncio.sleep(1)
    await _update(settings, tenant_a, job_id, progress=1.0, state="succeeded")
    out, err = await asyncio.to_thread(watcher.communicate, timeout=60)
    assert watcher.returncode == 0, err
    assert out.strip().endswith("succeeded")  # (click draws the bar only on a terminal)


async def test_a_failed_job_exits_1_with_its_error(settings: Settings, tenant_a: TenantHandle) -> None:
    job_id = await _job(settings, tenant_a, state="failed", error="ValueError: bad input")
    watcher = _watch(settings, str(job_id), "--tenant", tenant_a.slug)
    out, _ = await asyncio.to_thread(watcher.communicate, timeout=60)
    assert watcher.returncode == 1
    assert "failed: ValueError: bad input" in out


async def test_another_tenants_job_is_not_found(
    settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    job_id = await _job(settings, tenant_a)
    watcher = _watch(settings, str(job_id), "--tenant", tenant_b.slug)
    _, err = await asyncio.to_thread(watcher.communicate, timeout=60)
    assert watcher.returncode == 1
    assert "has no job" in err
