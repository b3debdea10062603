"""The `lumen` command. Every command works on the same data dir as a running `lumen serve`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
import structlog

from lumen.core.settings import Settings, SettingsError, load_settings, unknown_variables

__all__ = ["main"]

T = TypeVar("T")

log = structlog.get_logger()


def _settings(data_dir: str | None, **server: Any) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    if data_dir:
        settings = settings.with_overrides(data_dir=data_dir)
    overrides = {k: v for k, v in server.items() if v is not None}
    if overrides:
        import msgspec

        settings = settings.with_overrides(server=msgspec.structs.replace(settings.server, **overrides))
    from lumen.core.logging import configure_logging

    # Not cached: a CLI command may run inside a test process that configures logging again after it.
    configure_logging(settings.log, cache_loggers=False)
    for name in unknown_variables():
        if name != "LUMEN_BIN":
            log.warning("settings.unknown_variable", variable=name)
    return settings


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="LUMEN_DATA_DIR",
    help="Where embedded PostgreSQL, Redis and the platform key live (default: the user data dir).",
)


def _run_with_db(settings: Settings, work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run `work` against the configured services, starting embedded ones (or attaching to running ones)."""
    from lumen.core.embedded import EmbeddedServices

    with EmbeddedServices(settings) as resolved:
        return asyncio.run(work(resolved))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Lumen: a multi-tenant medical-intelligence API.

    With no LUMEN_DATABASE_URL or LUMEN_REDIS_URL set, Lumen runs real embedded PostgreSQL and Redis
    servers from its data dir, so `lumen serve` is all a new user needs.
    """


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port to listen on (default 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="API worker processes (default 1).")
@data_dir_option
def serve(host: str | None, port: int | None, workers: int | None, data_dir: str | None) -> None:
    """Start the API (and, with no URLs configured, embedded PostgreSQL and Redis).

    Migrations are applied automatically on the embedded database. Ctrl-C stops the API first, then the
    embedded servers, which keep their data in the data dir for the next start.
    """
    from granian import Granian
    from granian.constants import Interfaces

    from lumen.core.auth.platform import ensure_platform_key
    from lumen.core.embedded import EmbeddedServices

    settings = _settings(data_dir, host=host, port=port, workers=workers)
    with EmbeddedServices(settings) as resolved:
        key, generated = ensure_platform_key(resolved.platform_key, resolved.data_path)
        if generated:
            # Printed once, to the terminal only (never to the log); also saved 0600 in the data dir.
            click.echo(
                f"\nPlatform operator key (shown once, saved to {resolved.data_path / 'platform.key'}):\n"
                f"  {key}\n"
            )
        # Workers are separate processes: hand them the resolved URLs so they never start servers.
        os.environ.update(
            {
                "LUMEN_DATA_DIR": str(resolved.data_path),
                "LUMEN_DATABASE_URL": resolved.database.url or "",
                "LUMEN_DATABASE_OWNER_URL": resolved.database.owner_url or "",
                "LUMEN_REDIS_URL": resolved.redis.url or "",
                "LUMEN_PLATFORM_KEY": key,
            }
        )
        server = resolved.server
        log.info(
            "server.starting",
            host=server.host,
            port=server.port,
            workers=server.workers,
            embedded_database=settings.uses_embedded_database,
            embedded_redis=settings.uses_embedded_redis,
        )
        engine = None
        if not resolved.inference_urls and resolved.inference.local_engine:
            # No inference servers configured: one local engine on loopback, spoken to over the same
            # OpenAI-compatible protocol as vLLM in production.
            engine, engine_url = _start_local_engine(resolved)
            os.environ["LUMEN_INFERENCE_URLS"] = engine_url
        worker = None
        if resolved.jobs.embedded_worker:
            # A worker beside the API: webhooks and jobs run with this one command. It gets the resolved
            # URLs through the environment, so it attaches to these servers instead of starting its own.
            worker = subprocess.Popen(
                [sys.executable, "-m", "lumen.core.cli", "worker"], env=os.environ.copy()
            )
        Granian(
            "lumen.core.app:app_from_env",
            factory=True,
            address=server.host,
            port=server.port,
            interface=Interfaces.ASGI,
            workers=server.workers,
            log_access=False,
            workers_kill_timeout=10,
        ).serve()
        graces = ((worker, resolved.jobs.shutdown_grace_seconds + 5), (engine, 10))
        for child, grace in graces:
            if child is None:
                continue
            # arq takes no new job, finishes those in hand (jobs.shutdown_grace_seconds); the engine its step.
            child.terminate()
            try:
                child.wait(grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    log.info("server.stopped")


def _start_local_engine(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    """Start `lumen inference serve` on a free loopback port. The API starts beside it without waiting: the
    pool holds inference requests until the engine answers /health (inference.startup_wait_seconds; a
    machine's first start converts the model once), and if the engine cannot start the API still serves
    everything else, inference answers 503, and the reason is in the log."""
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "lumen.core.cli", "inference", "serve", "--port", str(port)]
    engine = subprocess.Popen(command, env={**os.environ, "LUMEN_DATA_DIR": str(settings.data_path)})
    log.info("inference.local_engine_starting", url=url)
    # A few seconds for the common case (model already converted), so the first request rarely waits.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and engine.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                log.info("inference.local_engine_ready", url=url)
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    if engine.poll() is not None:
        log.error("inference.local_engine_failed", exit_code=engine.returncode)
    return engine, url


@main.group()
def inference() -> None:
    """The local inference engine (Lumen's OpenAI-compatible server over transformers + peft)."""


@inference.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--model", default=None, help="A model-store name or a transformers model folder.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None, help="Where to run it.")
@click.option("--served-name", default=None, help="The base model's id in /v1/models (default lumen-base).")
@data_dir_option
def inference_serve(
    host: str, port: int, model: str | None, device: str | None, served_name: str | None, data_dir: str | None
) -> None:
    """Serve the local engine with vLLM's OpenAI-compatible API (chat, completions, embeddings, LoRA
    adapters loaded at run time). `lumen serve` starts one by itself when LUMEN_INFERENCE_URLS is unset."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = _settings(data_dir)
    os.environ["LUMEN_DATA_DIR"] = str(settings.data_path)
    for name, value in (("LOCAL_MODEL", model), ("LOCAL_DEVICE", device), ("BASE_MODEL_NAME", served_name)):
        if value:  # the granian worker reads its settings from the environment like every Lumen process
            os.environ[f"LUMEN_INFERENCE__{name}"] = value
    # Fail here, in the terminal, if the model is missing or tampered with, not later in a worker.
    from lumen.inference.local.store import ModelIntegrityError, ModelMissingError, ModelStore

    try:
        ModelStore(settings.model_path).resolve(model or settings.inference.local_model)
    except (ModelMissingError, ModelIntegrityError) as exc:
        raise click.ClickException(str(exc)) from None
    log.info("inference.engine_starting", host=host, port=port)
    Granian(
        "lumen.inference.local.server:app_from_env",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        log_access=False,
        workers_kill_timeout=10,
    ).serve()


@main.command()
@data_dir_option
@click.option(
    "--queue",
    "queues",
    type=click.Choice(["jobs", "training"]),
    multiple=True,
    help="Which queues this worker takes jobs from (repeatable; default: both). `jobs`: webhook deliveries, "
    "plugin and retrieval jobs, and the outbox relay; `training`: training runs (give them GPU machines).",
)
def worker(data_dir: str | None, queues: tuple[str, ...]) -> None:
    """Run background jobs (webhook deliveries, plugin jobs, training runs) and relay the outbox.

    Needs the same database and Redis as the API: the configured URLs, or the embedded servers of the data
    dir (started if no `lumen serve` runs there). `lumen serve` runs one by itself. Some worker must take
    each queue; only a `jobs` worker relays the outbox.
    """
    from lumen.core.embedded import EmbeddedServices
    from lumen.core.jobs.queues import QUEUES
    from lumen.core.jobs.worker import build_worker, run_workers

    settings = _settings(data_dir)
    with EmbeddedServices(settings, migrate=settings.uses_embedded_database) as resolved:
        chosen = [QUEUES[name] for name in dict.fromkeys(queues or ("jobs", "training"))]
        run_workers([build_worker(resolved, queue=queue, handle_signals=False) for queue in chosen])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@data_dir_option
def db_upgrade(data_dir: str | None) -> None:
    """Apply migrations as the owner role and grant the application role its privileges.

    Uses LUMEN_DATABASE_OWNER_URL (falling back to LUMEN_DATABASE_URL); with neither, the embedded server.
    """
    settings = _settings(data_dir)
    if settings.uses_embedded_database:
        _run_with_db(settings, _noop)  # starting the embedded services migrates them
    else:
        from lumen.core.db.migrate import upgrade

        owner_url = settings.database.owner_url or settings.database.url
        assert owner_url is not None
        asyncio.run(upgrade(owner_url, settings.database.app_role))
    click.echo("database is at the latest revision")


async def _noop(_: Settings) -> None:
    return None


@main.group("settings")
def settings_group() -> None:
    """The LUMEN_* settings."""


@settings_group.command("docs")
@click.option("--write", is_flag=True, help="Write docs/configuration.md (run from the repository root).")
@click.option("--check", is_flag=True, help="Exit 1 if docs/configuration.md differs from the settings tree.")
def settings_docs(write: bool, check: bool) -> None:
    """Print the configuration reference generated from the settings tree (docs/configuration.md)."""
    from lumen.core.settings_docs import main as docs_main

    code = docs_main(["--write"] if write else ["--check"] if check else [])
    if code:
        sys.exit(code)


@main.command("openapi")
@click.option("--write", is_flag=True, help="Write docs/openapi.json (run from the repository root).")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 if docs/openapi.json differs from the live document (and say whether the change breaks).",
)
def openapi_command(write: bool, check: bool) -> None:
    """Print the OpenAPI document the app serves at /schema/openapi.json (generated from every route and
    plugin installed). --write refuses a breaking change unless info.version was bumped."""
    import json

    from lumen.core.app import create_app
    from lumen.core.http.openapi import DOC_PATH, dumps, openapi_document
    from lumen.core.http.openapi import check as breaking

    # Building the app opens nothing: placeholder URLs are never connected to.
    settings = load_settings(
        {
            "LUMEN_DATABASE__URL": "postgresql://lumen@127.0.0.1:1/lumen",
            "LUMEN_REDIS__URL": "redis://127.0.0.1:1/0",
            "LUMEN_PLATFORM_KEY": "lm_platform_openapi",
            "LUMEN_LOG_LEVEL": "error",
        }
    )
    from lumen.core.logging import configure_logging

    configure_logging(settings.log, cache_loggers=False)  # errors only: stdout carries the document
    live = openapi_document(create_app(settings))
    text = dumps(live)
    if not (write or check):
        click.echo(text, nl=False)
        return
    committed = json.loads(DOC_PATH.read_text()) if DOC_PATH.exists() else None
    problems = breaking(committed, live) if committed else []
    if check:
        if committed is None or dumps(committed) != text:
            click.echo(f"{DOC_PATH} is out of date; run `lumen openapi --write`", err=True)
            for line in problems:
                click.echo("  " + line, err=True)
            sys.exit(1)
        return
    if problems:
        for line in problems:
            click.echo(line, err=True)
        sys.exit(1)
    DOC_PATH.write_text(text)
    ops = sum(
        1 for item in live["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete")
    )
    click.echo(
        f"wrote {DOC_PATH} ({len(live['paths'])} paths, {ops} operations, {len(live['webhooks'])} webhooks)"
    )


@main.group()
def jobs() -> None:
    """Watch background jobs (ingestion, training, gap analysis...)."""


@jobs.command("watch")
@click.argument("job_id", type=click.UUID)
@click.option("--tenant", "tenant_slug", required=True, help="The slug of the tenant that owns the job.")
@click.option("--interval", type=click.FloatRange(0.1, 60), default=0.5, show_default=True)
@data_dir_option
def jobs_watch(job_id: Any, tenant_slug: str, interval: float, data_dir: str | None) -> None:
    """Show a job's progress as a bar until it ends; exit 0 if it succeeded, 1 if it failed."""

    async def work(resolved: Settings) -> str:
        from sqlalchemy import select

        from lumen.core.db.session import Database
        from lumen.core.jobs.models import Job
        from lumen.core.tenancy.context import PLATFORM, Scope
        from lumen.tenants.models import Tenant

        database = Database(resolved.database)
        try:
            async with database.transaction(PLATFORM) as session:
                query = select(Tenant.id).where(Tenant.slug == tenant_slug)
                tenant_id = (await session.scalars(query)).first()
            if tenant_id is None:
                raise click.ClickException(f"no tenant with the slug {tenant_slug!r}")
            scope = Scope.tenant(tenant_id)
            shown = 0
            with click.progressbar(length=1000, label=f"job {job_id}", show_eta=True) as bar:
                while True:
                    async with database.transaction(scope) as session:
                        job = await session.get(Job, job_id)
                        if job is None:
                            raise click.ClickException(f"tenant {tenant_slug!r} has no job {job_id}")
                        state, progress, message, error = job.state, job.progress, job.message, job.error
                    target = int(progress * 1000)
                    if target > shown:
                        bar.update(target - shown)
                        shown = target
                    if message:
                        bar.label = f"job {job_id}: {message[:60]}"
                    if state in ("succeeded", "failed"):
                        if state == "succeeded" and shown < 1000:
                            bar.update(1000 - shown)
                        return state if error is None else f"{state}: {error}"
                    await asyncio.sleep(interval)
        finally:
            await database.dispose()

    outcome = _run_with_db(_settings(data_dir), work)
    click.echo(outcome)
    if not outcome.startswith("succeeded"):
        sys.exit(1)


@main.group()
def corpora() -> None:
    """The platform-shared retrieval corpora that plugins ship (register_corpora)."""


@corpora.command("sync")
@data_dir_option
def corpora_sync(data_dir: str | None) -> None:
    """Ingest every installed plugin's corpus documents now (idempotent: unchanged ones are skipped).
    The worker also does this at start-up."""

    async def work(resolved: Settings) -> dict[str, int]:
        from lumen.core.db.session import Database
        from lumen.core.plugins.host import PluginHost
        from lumen.inference.retrieval.runtime import Retrieval

        database = Database(resolved.database)
        retrieval = Retrieval.for_host(resolved, database, PluginHost(allow=resolved.plugins))
        try:
            return await retrieval.sync_corpora()
        finally:
            await retrieval.aclose()
            await database.dispose()

    counts = _guarded(lambda: _run_with_db(_settings(data_dir), work))
    click.echo("  ".join(f"{name}={value}" for name, value in counts.items()))


@main.group()
def tenants() -> None:
    """Create and list tenants (the platform operator's work)."""


@tenants.command("create")
@click.argument("slug")
@click.argument("name")
@data_dir_option
def tenants_create(slug: str, name: str, data_dir: str | None) -> None:
    """Create a tenant with a URL-safe SLUG and a display NAME."""
    import msgspec

    from lumen.tenants.schemas import TenantCreate

    try:
        data = msgspec.convert({"slug": slug, "name": name}, TenantCreate)
    except msgspec.ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc

    async def work(resolved: Settings) -> Any:
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM
        from lumen.tenants.service import TenantService

        database = Database(resolved.database)
        try:
            async with database.transaction(PLATFORM) as session:
                return await TenantService(session).create(slug=data.slug, name=data.name)
        finally:
            await database.dispose()

    tenant = _guarded(lambda: _run_with_db(_settings(data_dir), work))
    click.echo(f"{tenant.id}  {tenant.slug}  {tenant.name}")


@tenants.command("list")
@data_dir_option
def tenants_list(data_dir: str | None) -> None:
    """List every tenant: id, slug, status and name."""

    async def work(resolved: Settings) -> list[Any]:
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM
        from lumen.tenants.service import TenantService

        database = Database(resolved.database)
        rows: list[Any] = []
        try:
            async with database.transaction(PLATFORM) as session:
                cursor = None
                while True:
                    page, cursor = await TenantService(session).list(cursor=cursor, limit=200)
                    rows.extend(page)
                    if cursor is None:
                        return rows
        finally:
            await database.dispose()

    for tenant in _run_with_db(_settings(data_dir), work):
        click.echo(f"{tenant.id}  {tenant.slug:<24} {tenant.status.value:<10} {tenant.name}")


@main.group()
def keys() -> None:
    """Issue and revoke API keys."""


@keys.command("create")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or slug.")
@click.option("--name", required=True, help="What the key is for, e.g. 'production backend'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=("admin",),
    show_default=True,
    help="A scope to grant; repeat for several.",
)
@click.option("--mode", type=click.Choice(["live", "test"]), default="live", show_default=True)
@data_dir_option
def keys_create(tenant_ref: str, name: str, scopes: tuple[str, ...], mode: str, data_dir: str | None) -> None:
    """Issue an API key for a tenant; the key is printed once and cannot be shown again."""

    async def work(resolved: Settings) -> Any:
        from lumen.core.auth.scopes import ScopeRegistry
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM, Scope
        from lumen.tenants.service import ApiKeyService

        database = Database(resolved.database)
        try:
            async with database.transaction(PLATFORM) as session:
                tenant_id = await _resolve_tenant(session, tenant_ref)
            async with database.transaction(Scope.tenant(tenant_id)) as session:
                return await ApiKeyService(session, tenant_id, ScopeRegistry()).issue(
                    name=name, scopes=list(scopes), mode=mode
                )
        finally:
            await database.dispose()

    issued = _guarded(lambda: _run_with_db(_settings(data_dir), work))
    click.echo(f"id:  {issued.record.id}\nkey: {issued.secret}\n(shown once: store it now)")


@keys.command("revoke")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or slug.")
@click.argument("key_id", type=click.UUID)
@data_dir_option
def keys_revoke(tenant_ref: str, key_id: uuid.UUID, data_dir: str | None) -> None:
    """Revoke the tenant's key KEY_ID at once."""

    async def work(resolved: Settings) -> None:
        from lumen.core.auth.scopes import ScopeRegistry
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM, Scope
        from lumen.tenants.service import ApiKeyService

        database = Database(resolved.database)
        try:
            async with database.transaction(PLATFORM) as session:
                tenant_id = await _resolve_tenant(session, tenant_ref)
            async with database.transaction(Scope.tenant(tenant_id)) as session:
                await ApiKeyService(session, tenant_id, ScopeRegistry()).revoke(key_id)
            # A running server may have the key cached: tell its workers, now that the revocation committed.
            import redis.asyncio as aioredis

            from lumen.core.tenancy.invalidation import Invalidation, publish

            assert resolved.redis.url is not None
            client = aioredis.Redis.from_url(resolved.redis.url)
            try:
                await publish(client, Invalidation(kind="keys", key_id=str(key_id)))
            finally:
                await client.aclose()
        finally:
            await database.dispose()

    _guarded(lambda: _run_with_db(_settings(data_dir), work))
    click.echo(f"revoked {key_id}")


@main.group()
def audit() -> None:
    """Verify audit trails."""


@audit.command("verify")
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or slug (default: every chain).")
@data_dir_option
def audit_verify(tenant_ref: str | None, data_dir: str | None) -> None:
    """Walk each hash chain and name the first edited, deleted, inserted or reordered record.

    Exits 1 if any chain is broken.
    """

    async def work(resolved: Settings) -> list[tuple[str, Any]]:
        from lumen.core.audit.service import verify_chain
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM, Scope
        from lumen.tenants.repository import TenantRepository

        database = Database(resolved.database)
        reports: list[tuple[str, Any]] = []
        try:
            async with database.transaction(PLATFORM) as session:
                if tenant_ref is not None:
                    chains = [(tenant_ref, await _resolve_tenant(session, tenant_ref))]
                else:
                    tenants: list[Any] = []
                    cursor: str | None = None
                    while True:
                        page, cursor = await TenantRepository(session).list(cursor=cursor, limit=200)
                        tenants.extend(page)
                        if cursor is None:
                            break
                    chains = [(t.slug, t.id) for t in tenants]
                    reports.append(("(platform)", await verify_chain(session, None)))
            for name, tenant_id in chains:
                async with database.transaction(Scope.tenant(tenant_id)) as session:
                    reports.append((name, await verify_chain(session, tenant_id)))
        finally:
            await database.dispose()
        return reports

    reports = _guarded(lambda: _run_with_db(_settings(data_dir), work))
    for name, report in reports:
        state = (
            "ok" if report.ok else f"BROKEN at seq {report.first_bad['seq']}: {report.first_bad['reason']}"
        )
        click.echo(f"{name:<24} {report.checked:>8} records  {state}")
    if not all(report.ok for _, report in reports):
        sys.exit(1)


@audit.command("purge")
@click.option(
    "--before",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Remove records that occurred before this date (UTC), e.g. 2020-01-01.",
)
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or slug (default: every chain).")
@click.confirmation_option(prompt="Audit records are evidence. Remove them for good?")
@data_dir_option
def audit_purge(before: Any, tenant_ref: str | None, data_dir: str | None) -> None:
    """The retention job: delete audit records older than --before, as the database owner.

    Each chain is re-anchored at its last removed record, so it still verifies. This is the only way past
    the append-only trigger (docs/audit.md). Export the trail first if you must keep it.
    """
    from datetime import UTC

    cutoff = before.replace(tzinfo=UTC)

    async def work(resolved: Settings) -> list[tuple[str, int]]:
        from lumen.core.audit.service import purge_before
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM, Scope
        from lumen.tenants.repository import TenantRepository

        owner = Database(resolved.database, url=resolved.database.owner_url or resolved.database.url)
        removed: list[tuple[str, int]] = []
        try:
            async with owner.transaction(PLATFORM) as session:
                if tenant_ref is not None:
                    chains: list[tuple[str, Any]] = [(tenant_ref, await _resolve_tenant(session, tenant_ref))]
                else:
                    page, cursor, chains = None, None, []
                    while True:
                        page, cursor = await TenantRepository(session).list(cursor=cursor, limit=200)
                        chains.extend((t.slug, t.id) for t in page)
                        if cursor is None:
                            break
                    removed.append(("(platform)", await purge_before(session, None, cutoff)))
            for name, tenant_id in chains:
                async with owner.transaction(Scope.tenant(tenant_id)) as session:
                    removed.append((name, await purge_before(session, tenant_id, cutoff)))
        finally:
            await owner.dispose()
        return removed

    for name, count in _guarded(lambda: _run_with_db(_settings(data_dir), work)):
        click.echo(f"{name:<24} {count:>8} records removed")


@audit.command("verify-export")
@click.argument("export_file", type=click.File("rb"))
@click.option("--public-key", required=True, help="Base64 Ed25519 key from /.well-known/lumen-audit-key.")
def audit_verify_export(export_file: Any, public_key: str) -> None:
    """Check an exported JSONL trail offline: hashes, links and the signed checkpoint. Exits 1 if broken."""
    from lumen.core.audit.export import verify_export

    report = verify_export(export_file, public_key)
    if report.ok:
        click.echo(f"ok: {report.checked} records, checkpoint signature valid")
    else:
        assert report.first_bad is not None
        click.echo(f"BROKEN at seq {report.first_bad['seq']}: {report.first_bad['reason']}")
        sys.exit(1)


@main.group()
def policy() -> None:
    """Authorization policies (Rego)."""


@policy.command("test")
def policy_test() -> None:
    """Run the Rego unit tests the policies ship (`*_test.rego`: the kernel's and every installed plugin's),
    one line per test; exits 1 on a failure."""
    from lumen.core.plugins.host import PluginError, PluginHost
    from lumen.core.policy import run_rego_tests

    try:
        _, _, policy_set = PluginHost(allow=_settings(None).plugins).assemble()
    except PluginError as exc:
        raise click.ClickException(str(exc)) from exc
    results = run_rego_tests(policy_set)
    for result in results:
        line = f"{'PASS' if result.passed else 'FAIL'}  {result.name}  ({result.duration_ms:.1f} ms)"
        click.echo(line if result.passed else f"{line}: {result.error}")
    failed = sum(not result.passed for result in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed" if results else "no Rego tests found")
    if failed or not results:
        sys.exit(1)


@main.group()
def patients() -> None:
    """Patient profiles: the master key that wraps each tenant's PHI data key."""


@patients.command("rotate-master-key")
@click.option(
    "--rewrap-only",
    is_flag=True,
    help="Do not make a new key: re-wrap under the configured LUMEN_PATIENTS__MASTER_KEY (production, after "
    "moving the old key to LUMEN_PATIENTS__PREVIOUS_MASTER_KEYS on every replica).",
)
@click.option(
    "--retire", is_flag=True, help="Afterwards, drop earlier keys from the key file (embedded default)."
)
@data_dir_option
def patients_rotate_master_key(rewrap_only: bool, retire: bool, data_dir: str | None) -> None:
    """Rotate the master key without downtime: a new key becomes current (the old one still unwraps, and
    running servers pick the new one up from the key file), then every tenant's data key is re-wrapped under
    it. PHI itself is not re-encrypted. With --retire the old keys are then removed from the key file."""
    import os as _os

    from lumen.tenants.patients.keyring import MASTER_KEY_FILE, MasterKeyring, new_master_key

    settings = _settings(data_dir)
    path = settings.data_path / MASTER_KEY_FILE
    if not rewrap_only:
        if settings.patients.master_key:
            raise click.UsageError(
                "LUMEN_PATIENTS__MASTER_KEY is set: put the new key there (old one in "
                "LUMEN_PATIENTS__PREVIOUS_MASTER_KEYS) on every replica, then run with --rewrap-only"
            )
        MasterKeyring.from_settings(settings)  # creates the file on a fresh data dir
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        temp = path.with_suffix(".tmp")
        fd = _os.open(temp, _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC, 0o600)
        with _os.fdopen(fd, "w") as handle:
            handle.write("\n".join([new_master_key(), *lines]) + "\n")
        _os.replace(temp, path)
    keyring = MasterKeyring.from_settings(settings)

    async def work(resolved: Settings) -> tuple[int, int]:
        from lumen.core.db.session import Database
        from lumen.core.tenancy.context import PLATFORM, Scope
        from lumen.tenants.patients.service import rewrap_data_key
        from lumen.tenants.repository import TenantRepository

        db = Database(resolved.database)
        tenants: list[Any] = []
        rewrapped = 0
        try:
            async with db.transaction(PLATFORM) as session:
                cursor = None
                while True:
                    page, cursor = await TenantRepository(session).list(cursor=cursor, limit=200)
                    tenants.extend(t.id for t in page)
                    if cursor is None:
                        break
            for tenant_id in tenants:
                async with db.transaction(Scope.tenant(tenant_id)) as session:
                    rewrapped += await rewrap_data_key(session, tenant_id, keyring)
        finally:
            await db.dispose()
        return len(tenants), rewrapped

    count, rewrapped = _run_with_db(settings, work)
    click.echo(f"{rewrapped} data keys re-wrapped under master key {keyring.current_kid} ({count} tenants)")
    if retire and not settings.patients.master_key and path.exists():
        current = path.read_text().splitlines()[0].strip()
        path.write_text(current + "\n")
        click.echo("earlier master keys removed from the key file")


@main.group("eval")
def eval_group() -> None:
    """Evaluation harnesses (bench/ in a source checkout): PubMedQA and the full report."""


def _bench(script: str, *arguments: str) -> None:
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench" / script
    if not bench.exists():
        raise click.UsageError(f"{bench} not found: run `lumen eval` from a source checkout (bench/)")
    raise SystemExit(subprocess.call([sys.executable, str(bench), *arguments], cwd=bench.parent.parent))


@eval_group.command("pubmedqa")
@click.option("--limit", type=int, default=None, help="Only the first N questions of the test split.")
def eval_pubmedqa(limit: int | None) -> None:
    """Accuracy and macro-F1 of the Q&A engine on PubMedQA's test split, each question with its own
    abstract. Uses LUMEN_INFERENCE_URLS when set, else starts the local CPU engine."""
    _bench("pubmedqa_eval.py", *(["--limit", str(limit)] if limit else []))


@eval_group.command("report")
@click.option(
    "--pubmedqa-limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="PubMedQA questions to run (0: the whole test split; the CPU model is slow).",
)
@click.option(
    "--only",
    default="",
    help="Comma-separated harnesses (triage, triage-holdout, ddi, retrieval, "
    "regulatory, pubmedqa); default all.",
)
@click.option("--out", default=None, help="Folder for report.md and the PNGs (default bench/results/report).")
@click.option("--results", default=None, help="Folder for the harnesses' JSON (default bench/results).")
def eval_report(pubmedqa_limit: int, only: str, out: str | None, results: str | None) -> None:
    """Run every evaluation harness and write a Markdown report with one PNG chart per harness (a harness
    that is not installed is listed as skipped)."""
    arguments = ["--pubmedqa-limit", str(pubmedqa_limit)]
    if only:
        arguments += ["--only", only]
    if out:
        arguments += ["--out", os.path.abspath(out)]
    if results:
        arguments += ["--results", os.path.abspath(results)]
    _bench("eval_report.py", *arguments)


@main.group()
def plugins() -> None:
    """Installed plugins (the `lumen.plugins` entry points)."""


@plugins.command("list")
def plugins_list() -> None:
    """Show each plugin's version, default, hooks, routes and actions.

    Loads the installed plugins (those LUMEN_PLUGINS allows, if set) and checks them as `lumen serve` would,
    without starting any server or database. Exits 1 if one cannot be loaded.
    """
    from importlib.metadata import entry_points

    from lumen.core.plugins.host import ENTRY_POINT_GROUP, PluginError, PluginHost

    settings = _settings(None)
    installed = {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
    for name in sorted(set(settings.plugins) - installed):
        click.echo(f"warning: LUMEN_PLUGINS names {name!r}, which is not installed", err=True)
    try:
        host = PluginHost(allow=settings.plugins)
    except PluginError as exc:  # the same check `lumen serve` would fail at start-up
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not host.plugins:
        click.echo("no plugins installed" if not settings.plugins else "no allowed plugin is installed")
        return
    for name, plugin in sorted(host.plugins.items()):
        default = "on" if plugin.info.default_enabled else "off"
        click.echo(f"{name}  {plugin.info.version}  (default: {default} for every tenant)")
        if plugin.info.description:
            click.echo(f"  {plugin.info.description}")
        click.echo(f"  hooks:   {', '.join(host.implemented_hooks(plugin)) or '-'}")
        click.echo(f"  routes:  {', '.join(sorted(plugin.route_paths)) or '-'}")
        click.echo(f"  actions: {', '.join(sorted(plugin.actions)) or '-'}")


async def _resolve_tenant(session: Any, ref: str) -> uuid.UUID:
    from lumen.core.http.errors import NotFound
    from lumen.tenants.repository import TenantRepository

    repo = TenantRepository(session)
    try:
        tenant = await repo.get(uuid.UUID(ref))
    except ValueError:
        tenant = await repo.get_by_slug(ref)
    if tenant is None:
        raise NotFound(f"no tenant {ref!r}")
    return tenant.id


def _guarded(action: Callable[[], T]) -> T:
    """Show domain errors (not found, conflict, validation) as a one-line message and exit 1."""
    from litestar.exceptions import HTTPException

    try:
        return action()
    except HTTPException as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


def _add_training_commands() -> None:
    from lumen.training.cli import train

    main.add_command(train)


_add_training_commands()

if __name__ == "__main__":
    main()
