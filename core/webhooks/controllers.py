"""The tenant's webhook API: endpoints (secret shown once), events with their delivery attempts, replay,
test sends and secret rotation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlalchemy import select

from lumen.core.crypto import Sealer
from lumen.core.db.base import utcnow
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import NotFound, UnprocessableEntity
from lumen.core.http.types import TEXT
from lumen.core.jobs.outbox import wake_after_commit
from lumen.core.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from lumen.core.webhooks.service import emit, queue_delivery, seal_secret
from lumen.core.webhooks.signing import new_secret
from lumen.core.webhooks.ssrf import UnsafeURL, check_url

__all__ = ["WebhookEndpointController", "WebhookEventController"]

Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2048, pattern=TEXT)]
EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_.]*$")]
Description = Annotated[str, msgspec.Meta(max_length=500, pattern=TEXT)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(max_length=200)]


class EndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    event_types: Annotated[list[EventType], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    description: Description = ""
    enabled: bool = True


class EndpointUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: Annotated[list[EventType], msgspec.Meta(max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class SecretRotation(msgspec.Struct, forbid_unknown_fields=True):
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=7 * 86400)] = 86400


class EndpointOut(msgspec.Struct):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    secret: str | None = None  # only in the response that creates or rotates it


class EndpointPage(msgspec.Struct):
    items: list[EndpointOut]
    next_cursor: str | None = None


class AttemptOut(msgspec.Struct):
    attempt: int
    at: datetime
    status_code: int | None
    duration_ms: float
    response_excerpt: str | None
    error: str | None


class DeliveryOut(msgspec.Struct):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: str
    state: str
    attempt_count: int
    next_attempt_at: datetime | None
    attempts: list[AttemptOut] = msgspec.field(default_factory=list)


class EventOut(msgspec.Struct):
    id: uuid.UUID
    type: str
    data: dict[str, Any]
    created_at: datetime
    deliveries: list[DeliveryOut] | None = None


class EventPage(msgspec.Struct):
    items: list[EventOut]
    next_cursor: str | None = None


def _endpoint_out(e: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        url=e.url,
        event_types=list(e.event_types),
        description=e.description,
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        created_at=e.created_at,
        secret=secret,
    )


def _check_types(request: Request[Any, Any, Any], types: list[str]) -> None:
    known = request.app.state.webhook_event_types
    unknown = sorted(set(types) - set(known))
    if unknown:
        raise UnprocessableEntity(
            f"event_types: unknown event type(s) {', '.join(unknown)}", slug="validation-error"
        )


def _check_url(request: Request[Any, Any, Any], url: str) -> None:
    try:
        check_url(url, allow_private=request.app.state.settings.webhooks.allow_private)
    except UnsafeURL as exc:
        raise UnprocessableEntity(str(exc), slug="validation-error") from None


async def _endpoint(session: Any, principal: Any, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    found = (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == principal.tenant_id
            )
        )
    ).one_or_none()
    if found is None:
        raise NotFound("webhook endpoint not found")
    endpoint: WebhookEndpoint = found
    return endpoint


class WebhookEndpointController(Controller):
    path = "/v1/webhooks/endpoints"
    tags = ["webhooks"]

    @post(
        "/",
        operation_id="createWebhookEndpoint",
        summary="Register an endpoint; its secret is shown once",
        status_code=HTTP_201_CREATED,
        opt={"action": "webhooks.endpoints.create", "resource": "webhook_endpoint"},
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[EndpointCreate],
        session: DbSession,
        principal: Caller,
    ) -> EndpointOut:
        _check_url(request, data.url)
        _check_types(request, data.event_types)
        assert principal.tenant_id is not None
        sealer: Sealer = request.app.state.sealer
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            tenant_id=principal.tenant_id,
            url=data.url,
            event_types=sorted(set(data.event_types)),
            description=data.description,
            enabled=data.enabled,
        )
        secret = new_secret()
        endpoint.secret_sealed = seal_secret(sealer, endpoint.id, secret)
        session.add(endpoint)
        await session.flush()
        return _endpoint_out(endpoint, secret)

    @get(
        "/",
        operation_id="listWebhookEndpoints",
        summary="The tenant's endpoints",
        opt={"action": "webhooks.endpoints.read"},
    )
    async def list_endpoints(
        self, session: DbSession, principal: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> EndpointPage:
        query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == principal.tenant_id)
        rows, next_cursor = await paginate(session, query, WebhookEndpoint, cursor=cursor, limit=limit)
        return EndpointPage(items=[_endpoint_out(e) for e in rows], next_cursor=next_cursor)

    @get(
        "/{endpoint_id:uuid}",
        operation_id="getWebhookEndpoint",
        summary="One endpoint",
        opt={"action": "webhooks.endpoints.read"},
    )
    async def get_endpoint(
        self, endpoint_id: FromPath[uuid.UUID], session: DbSession, principal: Caller
    ) -> EndpointOut:
        return _endpoint_out(await _endpoint(session, principal, endpoint_id))

    @patch(
        "/{endpoint_id:uuid}",
        operation_id="updateWebhookEndpoint",
        summary="Change an endpoint",
        opt={"action": "webhooks.endpoints.update", "resource": "webhook_endpoint"},
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        data: JSONBody[EndpointUpdate],
        session: DbSession,
        principal: Caller,
    ) -> EndpointOut:
        endpoint = await _endpoint(session, principal, endpoint_id)
        if data.url is not msgspec.UNSET:
            _check_url(request, data.url)
            endpoint.url = data.url
        if data.event_types is not msgspec.UNSET:
            _check_types(request, data.event_types)
            endpoint.event_types = sorted(set(data.event_types))
        if data.description is not msgspec.UNSET:
            endpoint.description = data.description
        if data.enabled is not msgspec.UNSET:
            endpoint.enabled = data.enabled
            if data.enabled:
                endpoint.disabled_reason, endpoint.failing_since = None, None
        await session.flush()
        return _endpoint_out(endpoint)

    @delete(
        "/{endpoint_id:uuid}",
        operation_id="deleteWebhookEndpoint",
        summary="Remove an endpoint",
        status_code=HTTP_204_NO_CONTENT,
        opt={"action": "webhooks.endpoints.delete", "resource": "webhook_endpoint"},
    )
    async def remove(self, endpoint_id: FromPath[uuid.UUID], session: DbSession, principal: Caller) -> None:
        await session.delete(await _endpoint(session, principal, endpoint_id))

    @post(
        "/{endpoint_id:uuid}/rotate-secret",
        operation_id="rotateWebhookSecret",
        status_code=HTTP_201_CREATED,
        summary="A new signing secret; the old one keeps signing during the overlap",
        opt={"action": "webhooks.endpoints.update", "resource": "webhook_endpoint"},
    )
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
        data: JSONBody[SecretRotation | None] = None,
    ) -> EndpointOut:
        endpoint = await _endpoint(session, principal, endpoint_id)
        sealer: Sealer = request.app.state.sealer
        secret = new_secret()
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = utcnow() + timedelta(
            seconds=(data or SecretRotation()).overlap_seconds
        )
        endpoint.secret_sealed = seal_secret(sealer, endpoint.id, secret)
        await session.flush()
        return _endpoint_out(endpoint, secret)

    @post(
        "/{endpoint_id:uuid}/test",
        operation_id="testWebhookEndpoint",
        status_code=HTTP_202_ACCEPTED,
        summary="Send a webhook.test event to this endpoint now",
        opt={"action": "webhooks.endpoints.test", "resource": "webhook_endpoint"},
    )
    async def test(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> EventOut:
        endpoint = await _endpoint(session, principal, endpoint_id)
        assert principal.tenant_id is not None
        event = await emit(
            session,
            principal.tenant_id,
            "webhook.test",
            {"endpoint_id": str(endpoint.id)},
            endpoint_id=endpoint.id,
        )
        wake_after_commit(request.scope)
        return EventOut(
            id=event.id, type=event.type, data=event.data, created_at=event.created_at or utcnow()
        )


class WebhookEventController(Controller):
    path = "/v1/webhooks/events"
    tags = ["webhooks"]

    @get(
        "/",
        operation_id="listWebhookEvents",
        summary="Events, oldest first",
        opt={"action": "webhooks.events.read"},
    )
    async def list_events(
        self,
        session: DbSession,
        principal: Caller,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        type: Annotated[str | None, QueryParameter(max_length=128)] = None,
    ) -> EventPage:
        query = select(WebhookEvent).where(WebhookEvent.tenant_id == principal.tenant_id)
        if type is not None:
            query = query.where(WebhookEvent.type == type)
        rows, next_cursor = await paginate(session, query, WebhookEvent, cursor=cursor, limit=limit)
        return EventPage(
            items=[EventOut(id=e.id, type=e.type, data=e.data, created_at=e.created_at) for e in rows],
            next_cursor=next_cursor,
        )

    @get(
        "/{event_id:uuid}",
        operation_id="getWebhookEvent",
        summary="An event with every delivery attempt",
        opt={"action": "webhooks.events.read"},
    )
    async def get_event(
        self, event_id: FromPath[uuid.UUID], session: DbSession, principal: Caller
    ) -> EventOut:
        event = await _event(session, principal, event_id)
        deliveries = (
            await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.event_id == event.id, WebhookDelivery.tenant_id == principal.tenant_id)
                .order_by(WebhookDelivery.created_at)
            )
        ).all()
        attempts = (
            await session.scalars(
                select(WebhookAttempt)
                .where(
                    WebhookAttempt.delivery_id.in_([d.id for d in deliveries]),
                    WebhookAttempt.tenant_id == principal.tenant_id,
                )
                .order_by(WebhookAttempt.attempt)
            )
        ).all()
        out = []
        for d in deliveries:
            mine = [
                AttemptOut(
                    attempt=a.attempt,
                    at=a.created_at,
                    status_code=a.status_code,
                    duration_ms=a.duration_ms,
                    response_excerpt=a.response_excerpt,
                    error=a.error,
                )
                for a in attempts
                if a.delivery_id == d.id
            ]
            out.append(
                DeliveryOut(
                    id=d.id,
                    endpoint_id=d.endpoint_id,
                    message_id=d.message_id,
                    state=d.state,
                    attempt_count=d.attempt_count,
                    next_attempt_at=d.next_attempt_at,
                    attempts=mine,
                )
            )
        return EventOut(
            id=event.id, type=event.type, data=event.data, created_at=event.created_at, deliveries=out
        )

    @post(
        "/{event_id:uuid}/replay",
        operation_id="replayWebhookEvent",
        status_code=HTTP_202_ACCEPTED,
        summary="Deliver the event again to every endpoint subscribed now (same webhook-id per endpoint)",
        opt={"action": "webhooks.events.replay", "resource": "webhook_event"},
    )
    async def replay(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> EventOut:
        event = await _event(session, principal, event_id)
        previous = {
            d.endpoint_id: d.message_id
            for d in (
                await session.scalars(
                    select(WebhookDelivery).where(
                        WebhookDelivery.event_id == event.id, WebhookDelivery.tenant_id == principal.tenant_id
                    )
                )
            ).all()
        }
        endpoints = (
            await session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.tenant_id == principal.tenant_id, WebhookEndpoint.enabled
                )
            )
        ).all()
        for endpoint in endpoints:
            if not endpoint.event_types or event.type in endpoint.event_types:
                await queue_delivery(session, event, endpoint.id, message_id=previous.get(endpoint.id))
        wake_after_commit(request.scope)
        return EventOut(id=event.id, type=event.type, data=event.data, created_at=event.created_at)


async def _event(session: Any, principal: Any, event_id: uuid.UUID) -> WebhookEvent:
    found = (
        await session.scalars(
            select(WebhookEvent).where(
                WebhookEvent.id == event_id, WebhookEvent.tenant_id == principal.tenant_id
            )
        )
    ).one_or_none()
    if found is None:
        raise NotFound("webhook event not found")
    event: WebhookEvent = found
    return event
