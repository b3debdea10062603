"""HTTP routes for patient profiles: CRUD, FHIR import and export, erasure and the data-subject export.

Every route's action is declared `phi=True`, so reads carry the policy's `audit_phi_read` obligation and are
audited (ids and field names only). No PHI is logged or put into error messages.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import func, select

from lumen.core.audit.models import AuditEvent
from lumen.core.db.base import utcnow
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import UnprocessableEntity
from lumen.tenants.patients.fhir import from_bundle, to_bundle
from lumen.tenants.patients.keyring import MasterKeyring
from lumen.tenants.patients.schemas import (
    PatientCreate,
    PatientExport,
    PatientOut,
    PatientPage,
    PatientProfile,
    PatientUpdate,
)
from lumen.tenants.patients.service import PatientService

__all__ = ["PatientController"]

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=200, description="`next_cursor` of the previous page.")
]
ExternalRef = Annotated[
    str | None,
    QueryParameter(
        min_length=1, max_length=200, description="Find the patient with this external reference (exact)."
    ),
]
MAX_FHIR_BYTES = 2 * 1024 * 1024


def _service(request: Request[Any, Any, Any], session: Any, principal: Caller) -> PatientService:
    assert principal.tenant_id is not None  # patients.* actions are granted to tenant keys only
    keyring: MasterKeyring = request.app.state.patient_keyring
    return PatientService(session, principal.tenant_id, keyring)


class PatientController(Controller):
    path = "/v1/patients"
    tags = ["patients"]

    @post(
        "/",
        operation_id="createPatient",
        summary="Create a patient profile (PHI encrypted at rest)",
        opt={"action": "patients.create", "resource": "patient"},
        status_code=HTTP_201_CREATED,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PatientCreate],
        session: DbSession,
        principal: Caller,
    ) -> PatientOut:
        profile = PatientProfile(**{f: getattr(data, f) for f in PatientProfile.__struct_fields__})
        return await _service(request, session, principal).create(profile)

    @get(
        "/",
        operation_id="listPatients",
        summary="List patient profiles, or find one by external reference",
        opt={"action": "patients.list", "resource": "patient"},
    )
    async def list_patients(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        principal: Caller,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        external_ref: ExternalRef = None,
    ) -> PatientPage:
        rows, next_cursor = await _service(request, session, principal).list(
            cursor=cursor, limit=limit, external_ref=external_ref
        )
        return PatientPage(items=list(rows), next_cursor=next_cursor)

    @post(
        "/import/fhir",
        operation_id="importPatientFhir",
        summary="Create a patient from a FHIR R4 Bundle",
        opt={"action": "patients.create", "resource": "patient"},
        status_code=HTTP_201_CREATED,
    )
    async def import_fhir(
        self, request: Request[Any, Any, Any], session: DbSession, principal: Caller
    ) -> PatientOut:
        import msgspec

        raw = await request.body()
        if len(raw) > MAX_FHIR_BYTES:
            raise UnprocessableEntity(f"body: a FHIR bundle of at most {MAX_FHIR_BYTES} bytes")
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise UnprocessableEntity("body: not valid JSON", slug="validation-error") from None
        profile = from_bundle(data)
        return await _service(request, session, principal).create(profile)

    @get(
        "/{patient_id:uuid}",
        operation_id="getPatient",
        summary="Read a patient profile",
        opt={"action": "patients.read", "resource": "patient"},
    )
    async def get_patient(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> PatientOut:
        return await _service(request, session, principal).get(patient_id)

    @get(
        "/{patient_id:uuid}/fhir",
        operation_id="getPatientFhir",
        summary="A patient profile as a FHIR R4 Bundle",
        opt={"action": "patients.read", "resource": "patient"},
    )
    async def get_fhir(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> dict[str, Any]:
        return to_bundle(await _service(request, session, principal).get(patient_id))

    @get(
        "/{patient_id:uuid}/export",
        operation_id="exportPatient",
        summary="Everything held on a patient, as JSON and FHIR (data-subject access)",
        opt={"action": "patients.export", "resource": "patient"},
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> PatientExport:
        patient = await _service(request, session, principal).get(patient_id)
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.tenant_id == principal.tenant_id,
                AuditEvent.resource_type == "patient",
                AuditEvent.resource_id == str(patient_id),
            )
        )
        return PatientExport(
            patient=patient,
            fhir=to_bundle(patient),
            audit_records=int(audited or 0),
            exported_at=utcnow(),
            note="Lumen keeps the profile above (encrypted at rest) and audit records naming only the "
            "patient's random id; Q&A questions and answers are not stored.",
        )

    @patch(
        "/{patient_id:uuid}",
        operation_id="updatePatient",
        summary="Change fields of a patient profile",
        opt={"action": "patients.update", "resource": "patient"},
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[PatientUpdate],
        session: DbSession,
        principal: Caller,
    ) -> PatientOut:
        out, _ = await _service(request, session, principal).update(patient_id, data)
        return out

    @delete(
        "/{patient_id:uuid}",
        operation_id="erasePatient",
        summary="Erase a patient: the profile and derived data; audit records keep only the random id",
        opt={"action": "patients.delete", "resource": "patient"},
        status_code=HTTP_204_NO_CONTENT,
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> None:
        await _service(request, session, principal).erase(patient_id)
        host = request.app.state.plugins
        # Derived data other plugins keep about the patient (triage interviews...), in this transaction.
        await host.patient_erased(session, principal.tenant_id, patient_id)
