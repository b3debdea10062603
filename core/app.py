"""create_app(settings) -> Litestar. Nothing else builds the app (ARCHITECTURE §7)."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from pathlib import Path

import redis.asyncio as aioredis
import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag

from lumen.core.audit.controllers import AuditController, audit_public_key
from lumen.core.audit.recorder import AuditMiddleware
from lumen.core.audit.signing import load_or_create_signer
from lumen.core.auth.app_tokens import AppTokenSigner
from lumen.core.auth.middleware import PUBLIC_PATHS, ApiKeyAuthenticationMiddleware
from lumen.core.auth.platform import PLATFORM_KEY_FILE
from lumen.core.auth.service import KeyAuthenticator
from lumen.core.crypto import Sealer
from lumen.core.db.session import Database
from lumen.core.db.unit_of_work import UnitOfWorkMiddleware
from lumen.core.http.body import check_request_body
from lumen.core.http.context import RequestContextMiddleware, finish_response
from lumen.core.http.dependencies import DEPENDENCIES
from lumen.core.http.errors import EXCEPTION_HANDLERS, problem_details_plugin
from lumen.core.http.health import healthz, problem_type, readyz
from lumen.core.http.idempotency import IdempotencyMiddleware
from lumen.core.http.openapi import LumenJsonRender, LumenScalarRender, LumenSwaggerRender
from lumen.core.jobs.controllers import JobController
from lumen.core.jobs.worker import instance_secret
from lumen.core.limits.controllers import TenantLimitsController, UsageController
from lumen.core.limits.limiter import RateLimiter
from lumen.core.limits.middleware import RateLimitMiddleware
from lumen.core.limits.service import TenantLimitsCache
from lumen.core.logging import configure_logging
from lumen.core.plugins.controllers import PluginController
from lumen.core.plugins.dependencies import provide_plugin_context
from lumen.core.plugins.host import PluginHost
from lumen.core.policy.controllers import PolicyBundleController, TenantPolicyController
from lumen.core.policy.engine import create_engine
from lumen.core.policy.guard import authorize
from lumen.core.settings import Settings, load_settings
from lumen.core.tenancy.config import TenantConfigCache
from lumen.core.tenancy.data_cache import TenantDataCache
from lumen.core.tenancy.invalidation import InvalidationBus
from lumen.core.webhooks.controllers import WebhookEndpointController, WebhookEventController
from lumen.core.webhooks.service import KERNEL_EVENT_TYPES, threshold_listener
from lumen.inference.pool.controllers import AdapterController, ChatController
from lumen.inference.pool.router import InferencePool
from lumen.inference.pool.service import InferenceGateway
from lumen.inference.retrieval.controllers import DocumentController, SearchController
from lumen.inference.retrieval.runtime import Retrieval
from lumen.inference.services import ModelServicesImpl
from lumen.tenants.app.controllers import SESSION_SECONDS, PatientAppController, patient_app_asset
from lumen.tenants.controllers import BrandingController, KeyController, TenantController
from lumen.tenants.patients.controllers import PatientController
from lumen.tenants.patients.keyring import MasterKeyring
from lumen.training.controllers import AdapterRollbackController, DatasetController, RunController

__all__ = ["app_from_env", "create_app"]

log = structlog.get_logger()

VERSION = "0.1.2"  # the API contract (docs/openapi.json); bumped when `lumen openapi` says a change breaks


def _platform_key(settings: Settings) -> str | None:
    if settings.platform_key:
        return settings.platform_key
    path = Path(settings.data_path) / PLATFORM_KEY_FILE
    return path.read_text().strip() if path.exists() else None


def create_app(settings: Settings, *, plugins: Iterable[object] = ()) -> Litestar:
    """Build the API for already-resolved settings (database and Redis URLs set; `lumen serve` resolves the
    embedded ones before calling this). `plugins`: plugin objects to load besides the installed ones."""
    if settings.database.url is None or settings.redis.url is None:
        raise ValueError("create_app needs database and Redis URLs; `lumen serve` starts embedded ones")
    db = Database(settings.database)
    redis_client = aioredis.Redis.from_url(settings.redis.url)
    bus = InvalidationBus(redis_client)
    host = PluginHost(allow=settings.plugins, extra=plugins)
    scopes, actions, policy_set = host.assemble()
    policy_engine = create_engine(settings, policy_set)
    authenticator = KeyAuthenticator(
        db, _platform_key(settings), cache_seconds=settings.server.auth_cache_seconds, bus=bus
    )
    tenant_config = TenantConfigCache(
        db, plugin_defaults=host.defaults, ttl_seconds=settings.server.auth_cache_seconds, bus=bus
    )
    # Small per-tenant plugin data read on every request (a tenant's own interaction rules...).
    tenant_data = TenantDataCache(bus=bus)
    tenant_limits = TenantLimitsCache(db, ttl_seconds=settings.server.auth_cache_seconds, bus=bus)
    rate_limiter = RateLimiter.from_settings(settings, tenant_limits)
    rate_limiter.meter.listeners.append(threshold_listener(db, redis_client))
    # The inference pool: the configured replicas (vLLM), or the local engine `lumen serve` started.
    pool = InferencePool(settings.inference_urls, settings.inference) if settings.inference_urls else None
    gateway = InferenceGateway(pool, db, settings.inference, settings.adapter_path, rate_limiter=rate_limiter)
    retrieval = Retrieval.for_host(settings, db, host)
    host.tenant_deleted_listeners.append(retrieval.backend.tenant_deleted)
    state = State(
        {
            "inference": gateway,
            # What PluginContext.generate/embed/retrieve call (lumen.plugins.sdk.inference.ModelServices).
            "settings": settings,
            "db": db,
            "redis": redis_client,
            "bus": bus,
            "scopes": scopes,
            "actions": actions,
            "plugins": host,
            "policy_set": policy_set,
            "policy_engine": policy_engine,
            "tenant_config": tenant_config,
            "tenant_data": tenant_data,
            "authenticator": authenticator,
            # Patient-app sessions (POST /t/{slug}/session): HMAC, key derived from the instance secret.
            "app_tokens": AppTokenSigner(instance_secret(settings), ttl_seconds=SESSION_SECONDS),
            "tenant_limits": tenant_limits,
            "rate_limiter": rate_limiter,
            "usage_meter": rate_limiter.meter,
            # Awaited with (tenant_id, quota kind, share) when a tenant crosses a share of a daily quota.
            "usage_threshold_listeners": rate_limiter.meter.listeners,
            "audit_signer": load_or_create_signer(settings.audit_signing_key, settings.data_path),
            "sealer": Sealer(instance_secret(settings)),
            "retrieval": retrieval,
            # What ctx.generate() / ctx.embed() / ctx.retrieve() reach (lumen.plugins.sdk.inference).
            "models": ModelServicesImpl(retrieval, tenant_config, generator=gateway),
            # Wraps each tenant's patient data key (PHI at rest); LUMEN_PATIENTS__MASTER_KEY in production.
            "patient_keyring": MasterKeyring.from_settings(settings),
            "webhook_event_types": {
                **KERNEL_EVENT_TYPES,
                **{name: e.description for p in host.plugins.values() for name, e in p.events.items()},
            },
        }
    )

    async def start() -> None:
        await bus.start()
        if pool is not None:
            await pool.start()
        retrieval.warm_in_background()
        await host.startup(settings)

    async def close() -> None:
        await bus.stop()
        if pool is not None:
            await pool.close()
        await policy_engine.aclose()
        await redis_client.aclose()
        await rate_limiter.aclose()
        await retrieval.aclose()
        await db.dispose()

    openapi = OpenAPIConfig(
        title="Lumen API",
        version=VERSION,
        description="Medical-intelligence API for pharma and patient apps. Errors are RFC 9457 problem+json.",
        path="/schema",
        # Each renders the finished document (core/http/openapi.py: problem responses, webhooks).
        render_plugins=[LumenScalarRender(), LumenSwaggerRender(), LumenJsonRender()],
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="lm_live_... / lm_test_...",
                    description="A tenant API key, or the platform operator's key.",
                )
            }
        ),
        security=[{"apiKey": []}],
        tags=[
            Tag(name="tenants", description="Platform operator: tenants and their first keys."),
            Tag(name="keys", description="A tenant's API keys."),
            Tag(name="patients", description="Patient profiles: PHI encrypted at rest, FHIR R4, erasure."),
            Tag(name="health", description="Probes and problem types; no key needed."),
            Tag(name="branding", description="The branding of the tenant's patient app."),
            Tag(name="patient app", description="The tenant's white-labelled patient app; no key needed."),
            Tag(name="audit", description="The tamper-evident audit trail."),
            Tag(name="plugins", description="Per-tenant plugin enablement and settings."),
            Tag(name="policy", description="The tenant's own policy data."),
            Tag(name="usage", description="The tenant's metered usage per day."),
            Tag(
                name="inference",
                description="OpenAI-compatible generation (shared pool) and the tenant's LoRA adapters.",
            ),
            Tag(
                name="documents",
                description="The tenant's documents for retrieval: upload, versions, delete.",
            ),
            Tag(name="search", description="Hybrid search with exact citations over documents and corpora."),
        ],
    )

    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            problem_type,
            audit_public_key,
            TenantController,
            KeyController,
            BrandingController,
            PatientAppController,
            patient_app_asset,
            PatientController,
            AuditController,
            PluginController,
            TenantPolicyController,
            PolicyBundleController,
            TenantLimitsController,
            UsageController,
            WebhookEndpointController,
            WebhookEventController,
            JobController,
            ChatController,
            AdapterController,
            DocumentController,
            SearchController,
            DatasetController,
            RunController,
            AdapterRollbackController,
            *host.routers,
        ],
        # Every authenticated route is decided by the policy (its `opt["action"]`), failing closed.
        guards=[authorize],
        state=state,
        dependencies={**DEPENDENCIES, "ctx": Provide(provide_plugin_context)},
        middleware=[
            RequestContextMiddleware(),
            UnitOfWorkMiddleware(),
            DefineMiddleware(ApiKeyAuthenticationMiddleware, exclude=PUBLIC_PATHS),
            RateLimitMiddleware(),
            IdempotencyMiddleware(settings.server.idempotency_ttl_seconds, instance_secret(settings)),
            AuditMiddleware(),
        ],
        plugins=[problem_details_plugin()],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi,
        request_max_body_size=settings.server.max_body_bytes,
        before_request=check_request_body,
        before_send=[finish_response],
        on_startup=[start],
        on_shutdown=[close],
        debug=False,
    )


def app_from_env() -> Litestar:
    """Factory for ASGI servers (granian workers): settings from LUMEN_* (as exported by `lumen serve`)."""
    settings = load_settings()
    configure_logging(settings.log)
    app = create_app(settings)
    app.on_startup.append(_freeze_heap)
    return app


def _freeze_heap() -> None:
    """In a server's worker, once start-up is done. What it built (plugins' knowledge, indexes, models: half a
    million objects) lives as long as the process; out of the collector's sight, a full collection no
    longer walks all of it. That walk took ~400 ms on the 2-CPU development machine, a stall that every
    request in flight waited out. (Not in create_app: a process that builds and drops many apps, the test
    suite, would never get their memory back.)"""
    gc.collect()
    gc.freeze()
