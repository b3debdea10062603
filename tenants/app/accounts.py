"""Patient sign-in for the white-labelled app: one-time links the tenant issues, and the sessions they open.

The tenant's own backend knows its patient (it signed them in to its own service). It asks Lumen for a
sign-in link for that patient's record (`POST /v1/patients/{id}/app-links`, an API key with
`patients:write`) and hands the link to the patient. The link carries a 256-bit random code in its
fragment (`/t/{slug}/signin#code=...`): browsers never send a fragment to a server, so the code stays out of
access logs, proxies and `Referer` headers. The sign-in page posts it; Lumen keeps only its SHA-256, marks
it used in the statement that reads it (single use), and refuses it after `LINK_SECONDS`.

A redeemed code opens a patient session: a random id in an HttpOnly, Secure, SameSite=Strict cookie whose
path is the tenant's app (`/t/{slug}`), and in Redis, under the tenant's key prefix, the patient's id and the
session's CSRF token. Redis holds the session id only as a hash too. Sessions end after `SESSION_IDLE_SECONDS`
without use, after `SESSION_MAX_SECONDS` in all, on sign-out, when the tenant signs the patient out
(`DELETE /v1/patients/{id}/app-sessions`) and when the patient's record is erased.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.limits.keys import tenant_prefix
from lumen.tenants.patients.repository import PatientAppLinkRepository

__all__ = [
    "COOKIE",
    "LINK_SECONDS",
    "SESSION_IDLE_SECONDS",
    "SESSION_MAX_SECONDS",
    "PatientSession",
    "PatientSessions",
    "issue_link_code",
    "looks_like_code",
    "redeem_link_code",
]

log = structlog.get_logger()

LINK_SECONDS = 600  # a sign-in link lives 10 minutes
SESSION_IDLE_SECONDS = 900  # a patient session ends after 15 minutes without use...
SESSION_MAX_SECONDS = 8 * 3600  # ...and after 8 hours in all
COOKIE = "lumen_patient"
# token_urlsafe(32): 43 characters of [A-Za-z0-9_-]; anything else is not one of ours (no database read).
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def looks_like_code(text: str) -> bool:
    return bool(_TOKEN.match(text))


async def issue_link_code(
    session: AsyncSession, tenant_id: uuid.UUID, patient_id: uuid.UUID
) -> tuple[str, datetime]:
    """A new one-time code for the patient and its expiry. The caller has checked that the patient is the
    tenant's; the code itself is returned once and never stored."""
    code = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=LINK_SECONDS)
    repo = PatientAppLinkRepository(session, tenant_id)
    await repo.purge_stale(now)
    await repo.add(patient_id, _hash(code), expires_at)
    return code, expires_at


async def redeem_link_code(session: AsyncSession, tenant_id: uuid.UUID, code: str) -> uuid.UUID | None:
    """The patient a valid code names, using the code up; None for a malformed, unknown, used, expired or
    other tenant's code alike (the caller says the same thing for all of them)."""
    if not looks_like_code(code):
        return None
    return await PatientAppLinkRepository(session, tenant_id).redeem(_hash(code), datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class PatientSession:
    tenant_id: uuid.UUID
    patient_id: uuid.UUID
    csrf: str
    started: float
    key: str  # the Redis key, so the session can be refreshed or ended

    @property
    def ends_at(self) -> int:
        """When the session ends at the latest if it keeps being used (unix seconds)."""
        return int(self.started + SESSION_MAX_SECONDS)

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(self.csrf.encode(), given.encode())


class _Stored(msgspec.Struct, frozen=True):
    p: str  # patient id
    c: str  # CSRF token
    s: float  # started (unix seconds)


class PatientSessions:
    """Patient sessions in Redis, one key per session under the tenant's prefix, plus a per-patient set of
    them so all of a patient's sessions can be ended at once."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    @staticmethod
    def _key(tenant_id: uuid.UUID, sid: str) -> str:
        return f"{tenant_prefix(tenant_id)}psess:{_hash(sid).hex()}"

    @staticmethod
    def _index(tenant_id: uuid.UUID, patient_id: uuid.UUID) -> str:
        return f"{tenant_prefix(tenant_id)}psess-of:{patient_id}"

    async def start(self, tenant_id: uuid.UUID, patient_id: uuid.UUID) -> str:
        """A new session for the patient; returns the session id for the cookie (never stored as is)."""
        sid = secrets.token_urlsafe(32)
        key = self._key(tenant_id, sid)
        stored = _Stored(p=str(patient_id), c=secrets.token_urlsafe(32), s=time.time())
        index = self._index(tenant_id, patient_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, msgspec.json.encode(stored), ex=SESSION_IDLE_SECONDS)
            pipe.sadd(index, key)
            pipe.expire(index, SESSION_MAX_SECONDS)
            await pipe.execute()
        return sid

    async def get(
        self, tenant_id: uuid.UUID, sid: str | None, *, touch: bool = True
    ) -> PatientSession | None:
        """The live session this cookie value opens in this tenant, refreshing its idle timer; None for a
        missing, malformed, ended, expired or other tenant's session."""
        if not sid or not looks_like_code(sid):
            return None
        key = self._key(tenant_id, sid)
        raw = await self.redis.get(key)
        if raw is None:
            return None
        try:
            stored = msgspec.json.decode(raw, type=_Stored)
            patient_id = uuid.UUID(stored.p)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            await self.redis.delete(key)
            return None
        found = PatientSession(tenant_id, patient_id, stored.c, stored.s, key)
        if time.time() >= found.ends_at:
            await self.end(found)
            return None
        if touch:
            await self.redis.expire(key, SESSION_IDLE_SECONDS)
        return found

    async def end(self, session: PatientSession) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(session.key)
            pipe.srem(self._index(session.tenant_id, session.patient_id), session.key)
            await pipe.execute()

    async def end_all(self, tenant_id: uuid.UUID, patient_id: uuid.UUID) -> int:
        """End every session of the patient (sign-out everywhere, erasure); how many were live."""
        index = self._index(tenant_id, patient_id)
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in await self.redis.smembers(index)]
        ended = int(await self.redis.delete(*keys)) if keys else 0
        await self.redis.delete(index)
        return ended
