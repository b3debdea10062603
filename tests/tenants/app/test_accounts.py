"""Patient sessions in Redis: tenant-scoped keys, idle and absolute limits, ending all of a patient's."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Litestar

from lumen.tenants.app.accounts import SESSION_MAX_SECONDS, PatientSessions, looks_like_code


async def test_a_session_opens_only_in_its_own_tenant(app: Litestar) -> None:
    sessions = PatientSessions(app.state.redis)
    tenant, other, patient = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sid = await sessions.start(tenant, patient)
    found = await sessions.get(tenant, sid)
    assert found is not None and found.patient_id == patient
    assert await sessions.get(other, sid) is None
    # The session id itself is not what Redis holds.
    assert sid not in found.key


async def test_a_session_past_its_absolute_limit_is_ended(app: Litestar) -> None:
    redis = app.state.redis
    sessions = PatientSessions(redis)
    tenant, patient = uuid.uuid4(), uuid.uuid4()
    sid = await sessions.start(tenant, patient)
    found = await sessions.get(tenant, sid)
    assert found is not None
    stored = msgspec.json.decode(await redis.get(found.key))
    stored["s"] -= SESSION_MAX_SECONDS + 1
    await redis.set(found.key, msgspec.json.encode(stored), ex=60)
    assert await sessions.get(tenant, sid) is None
    assert await redis.get(found.key) is None


async def test_ending_all_of_a_patients_sessions_leaves_others(app: Litestar) -> None:
    sessions = PatientSessions(app.state.redis)
    tenant, patient, neighbour = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, second = await sessions.start(tenant, patient), await sessions.start(tenant, patient)
    kept = await sessions.start(tenant, neighbour)
    assert await sessions.end_all(tenant, patient) == 2
    assert await sessions.get(tenant, first) is None and await sessions.get(tenant, second) is None
    assert await sessions.get(tenant, kept) is not None


async def test_malformed_session_ids_are_not_looked_up(app: Litestar) -> None:
    sessions = PatientSessions(app.state.redis)
    for sid in ["", "x", "../" * 20, "a" * 44, "a" * 42 + "!"]:
        assert not looks_like_code(sid)
        assert await sessions.get(uuid.uuid4(), sid) is None


async def test_corrupt_stored_session_is_dropped(app: Litestar) -> None:
    redis = app.state.redis
    sessions = PatientSessions(redis)
    tenant = uuid.uuid4()
    sid = await sessions.start(tenant, uuid.uuid4())
    found = await sessions.get(tenant, sid)
    assert found is not None
    await redis.set(found.key, b"{not json", ex=60)
    assert await sessions.get(tenant, sid) is None
