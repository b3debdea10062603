"""Envelope encryption: data keys wrapped by the master key, bound to their tenant and row; master-key
rotation re-wraps without touching PHI, and reads keep working during it."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from litestar import Litestar

from lumen.core.tenancy.context import Scope
from lumen.tenants.patients.keyring import DataKey, KeyUnavailable, MasterKeyring, new_master_key
from lumen.tenants.patients.service import rewrap_data_key
from tests.conftest import TenantHandle


def test_wrap_then_unwrap_returns_the_key() -> None:
    ring = MasterKeyring(new_master_key())
    tenant = uuid.uuid4()
    key = os.urandom(32)
    kid, wrapped = ring.wrap(tenant, key)
    assert ring.unwrap(tenant, kid, wrapped) == key
    assert key not in wrapped


def test_a_wrapped_key_does_not_open_for_another_tenant() -> None:
    ring = MasterKeyring(new_master_key())
    kid, wrapped = ring.wrap(uuid.uuid4(), os.urandom(32))
    with pytest.raises(KeyUnavailable):
        ring.unwrap(uuid.uuid4(), kid, wrapped)


def test_an_unknown_master_key_is_refused() -> None:
    kid, wrapped = MasterKeyring(new_master_key()).wrap(uuid.UUID(int=1), os.urandom(32))
    with pytest.raises(KeyUnavailable):
        MasterKeyring(new_master_key()).unwrap(uuid.UUID(int=1), kid, wrapped)


def test_a_previous_master_key_still_unwraps() -> None:
    old = new_master_key()
    tenant = uuid.uuid4()
    kid, wrapped = MasterKeyring(old).wrap(tenant, b"k" * 32)
    ring = MasterKeyring(new_master_key(), [old])
    assert ring.unwrap(tenant, kid, wrapped) == b"k" * 32
    assert ring.current_kid != kid


def test_ciphertext_is_bound_to_its_row() -> None:
    key = DataKey(uuid.uuid4(), os.urandom(32))
    row = uuid.uuid4()
    sealed = key.encrypt(row, "profile", b"secret")
    assert key.decrypt(row, "profile", sealed) == b"secret"
    with pytest.raises(KeyUnavailable):
        key.decrypt(uuid.uuid4(), "profile", sealed)


def test_master_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32"):
        MasterKeyring("c2hvcnQ=")


def test_lookup_hash_is_keyed() -> None:
    tenant = uuid.uuid4()
    a, b = DataKey(tenant, os.urandom(32)), DataKey(tenant, os.urandom(32))
    assert a.lookup_hash("MRN-1") == a.lookup_hash("MRN-1")
    assert a.lookup_hash("MRN-1") != b.lookup_hash("MRN-1")


async def test_rotation_rewraps_and_reads_keep_working(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await client.post(
        "/v1/patients", json={"external_ref": "rot-1", "medications": ["warfarin"]}, headers=tenant_a.headers
    )
    pid = created.json()["id"]
    original: MasterKeyring = app.state.patient_keyring
    current_file_key = (app.state.settings.data_path / "patients-master.key").read_text().split()[0]
    rotated = MasterKeyring(new_master_key(), [current_file_key])
    app.state.patient_keyring = rotated  # a replica that already has the new key (and the old one)
    try:
        assert (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).status_code == 200
        async with app.state.db.transaction(Scope.tenant(tenant_a.id)) as session:
            assert await rewrap_data_key(session, tenant_a.id, rotated) is True
        async with app.state.db.transaction(Scope.tenant(tenant_a.id)) as session:
            assert await rewrap_data_key(session, tenant_a.id, rotated) is False  # already current
        r = await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)
        assert r.status_code == 200 and r.json()["external_ref"] == "rot-1"
        listed = await client.get("/v1/patients", params={"external_ref": "rot-1"}, headers=tenant_a.headers)
        assert [p["id"] for p in listed.json()["items"]] == [pid]  # the look-up hash survives rotation
    finally:
        app.state.patient_keyring = original
