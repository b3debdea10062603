"""Patient profiles: create, read, change, erase, list and export, with every PHI field encrypted under the
tenant's data key. Services never commit; the request boundary does.

The plaintext profile exists only in memory for the request. Logs name the patient's random id at most.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.http.errors import Conflict, LumenProblem, NotFound
from lumen.tenants.patients.keyring import DataKey, KeyUnavailable, MasterKeyring
from lumen.tenants.patients.models import Patient
from lumen.tenants.patients.repository import PatientRepository
from lumen.tenants.patients.schemas import CodedEntry, PatientOut, PatientProfile, PatientUpdate

__all__ = ["PatientService", "entry_name", "profile_context", "rewrap_data_key"]

log = structlog.get_logger()

PROFILE = "profile"
_decoder = msgspec.json.Decoder(PatientProfile)
# Unwrapped data keys per (tenant, wrapped bytes): unwrapping is cheap, but not free on every request.
_data_keys: dict[tuple[uuid.UUID, bytes], DataKey] = {}


def entry_name(entry: str | CodedEntry) -> str:
    """The name a plain entry is, or a coded one's display (else its code)."""
    if isinstance(entry, str):
        return entry
    return entry.display or entry.code


def profile_context(profile: PatientProfile) -> dict[str, Any]:
    """The profile as plain builtins, with the derived facts plugins use (age in years, pregnant flag)."""
    from datetime import date

    data: dict[str, Any] = msgspec.to_builtins(profile)
    age: int | None = None
    if profile.birth_date is not None:
        today = date.today()
        b = profile.birth_date
        age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    data["age"] = age
    data["pregnant"] = (
        None if profile.pregnancy_status in (None, "unknown") else profile.pregnancy_status == "pregnant"
    )
    data["medication_names"] = [entry_name(e) for e in profile.medications]
    data["condition_names"] = [entry_name(e) for e in profile.conditions]
    data["allergy_names"] = [entry_name(e) for e in profile.allergies]
    return data


class PatientService:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID, keyring: MasterKeyring) -> None:
        self.repo = PatientRepository(session, tenant_id)
        self.tenant_id = tenant_id
        self.keyring = keyring

    # --- keys -------------------------------------------------------------------------------------------

    async def _data_key(self, *, create: bool) -> DataKey | None:
        row = await self.repo.data_key()
        if row is None:
            if not create:
                return None
            kid, wrapped = self.keyring.wrap(self.tenant_id, os.urandom(32))
            row = await self.repo.add_data_key(kid, wrapped)
        cache_key = (self.tenant_id, bytes(row.wrapped_key))
        found = _data_keys.get(cache_key)
        if found is None:
            try:
                raw = self.keyring.unwrap(self.tenant_id, row.kid, bytes(row.wrapped_key))
            except KeyUnavailable:
                log.error("patients.data_key_unavailable", kid=row.kid)
                raise LumenProblem(
                    "Patient data cannot be decrypted: this server lacks the master key that wraps the "
                    "tenant's data key (see LUMEN_PATIENTS__MASTER_KEY).",
                    slug="service-unavailable",
                ) from None
            found = DataKey(self.tenant_id, raw)
            if len(_data_keys) > 10_000:
                _data_keys.clear()
            _data_keys[cache_key] = found
        return found

    # --- profile <-> row --------------------------------------------------------------------------------

    def _seal(self, key: DataKey, patient: Patient, profile: PatientProfile) -> None:
        patient.profile = key.encrypt(patient.id, PROFILE, msgspec.json.encode(profile))
        patient.external_ref_hash = key.lookup_hash(profile.external_ref) if profile.external_ref else None

    def _open(self, key: DataKey, patient: Patient) -> PatientProfile:
        try:
            return _decoder.decode(key.decrypt(patient.id, PROFILE, bytes(patient.profile)))
        except KeyUnavailable:
            log.error("patients.profile_unreadable", patient_id=str(patient.id))
            raise LumenProblem(
                "This patient's profile cannot be decrypted.", slug="service-unavailable"
            ) from None

    @staticmethod
    def out(patient: Patient, profile: PatientProfile) -> PatientOut:
        return PatientOut(
            id=patient.id,
            created_at=patient.created_at,
            updated_at=patient.updated_at,
            **{f: getattr(profile, f) for f in PatientProfile.__struct_fields__},
        )

    async def _check_ref_free(self, key: DataKey, ref: str | None, patient_id: uuid.UUID | None) -> None:
        if ref is None:
            return
        other = await self.repo.by_external_ref(key.lookup_hash(ref))
        if other is not None and other.id != patient_id:
            raise Conflict("external_ref: another patient of this tenant already has this reference")

    # --- operations -------------------------------------------------------------------------------------

    async def create(self, profile: PatientProfile) -> PatientOut:
        key = await self._data_key(create=True)
        assert key is not None
        await self._check_ref_free(key, profile.external_ref, None)
        patient = Patient(id=uuid.uuid4(), tenant_id=self.tenant_id)
        self._seal(key, patient, profile)
        try:
            await self.repo.add(patient)
        except IntegrityError:
            raise Conflict(
                "external_ref: another patient of this tenant already has this reference"
            ) from None
        log.info("patients.patient_created", patient_id=str(patient.id))
        return self.out(patient, profile)

    async def _load(self, patient_id: uuid.UUID) -> tuple[Patient, DataKey]:
        patient = await self.repo.get(patient_id)
        key = await self._data_key(create=False) if patient is not None else None
        if patient is None or key is None:
            raise NotFound("No patient with this id in this tenant.")
        return patient, key

    async def get(self, patient_id: uuid.UUID) -> PatientOut:
        patient, key = await self._load(patient_id)
        return self.out(patient, self._open(key, patient))

    async def profile(self, patient_id: uuid.UUID) -> PatientProfile:
        patient, key = await self._load(patient_id)
        return self._open(key, patient)

    async def update(self, patient_id: uuid.UUID, change: PatientUpdate) -> tuple[PatientOut, list[str]]:
        patient, key = await self._load(patient_id)
        profile = self._open(key, patient)
        changed = [f for f in PatientUpdate.__struct_fields__ if getattr(change, f) is not msgspec.UNSET]
        values = msgspec.structs.asdict(profile)
        values.update({f: getattr(change, f) for f in changed})
        updated = PatientProfile(**values)
        if "external_ref" in changed:
            await self._check_ref_free(key, updated.external_ref, patient.id)
        self._seal(key, patient, updated)
        from lumen.core.db.base import utcnow

        patient.updated_at = utcnow()
        await self.repo.flush()
        return self.out(patient, updated), changed

    async def replace(self, patient_id: uuid.UUID, profile: PatientProfile) -> PatientOut:
        patient, key = await self._load(patient_id)
        await self._check_ref_free(key, profile.external_ref, patient.id)
        self._seal(key, patient, profile)
        await self.repo.flush()
        return self.out(patient, profile)

    async def find_by_ref(self, ref: str) -> uuid.UUID | None:
        key = await self._data_key(create=False)
        if key is None:
            return None
        found = await self.repo.by_external_ref(key.lookup_hash(ref))
        return found.id if found is not None else None

    async def erase(self, patient_id: uuid.UUID) -> None:
        """Remove the profile for good. Audit records keep only the random id, which no longer leads to
        anyone once the row is gone (the pseudonym)."""
        patient, _ = await self._load(patient_id)
        await self.repo.delete(patient)
        log.info("patients.patient_erased", patient_id=str(patient_id))

    async def list(
        self, *, cursor: str | None, limit: int, external_ref: str | None = None
    ) -> tuple[Sequence[PatientOut], str | None]:
        key = await self._data_key(create=False)
        if key is None:
            return [], None
        ref_hash = key.lookup_hash(external_ref) if external_ref is not None else None
        rows, next_cursor = await self.repo.page(cursor=cursor, limit=limit, ref_hash=ref_hash)
        return [self.out(p, self._open(key, p)) for p in rows], next_cursor


async def rewrap_data_key(session: AsyncSession, tenant_id: uuid.UUID, keyring: MasterKeyring) -> bool:
    """Re-wrap the tenant's data key under the keyring's current master key (True when it changed). The
    data key itself, and so every PHI blob and look-up hash, stays the same: no re-encryption, no downtime."""
    repo = PatientRepository(session, tenant_id)
    row = await repo.data_key()
    if row is None or row.kid == keyring.current_kid:
        return False
    raw = keyring.unwrap(tenant_id, row.kid, bytes(row.wrapped_key))
    row.kid, row.wrapped_key = keyring.wrap(tenant_id, raw)
    await session.flush()
    return True
