"""HTTP routes for patient profiles: CRUD, FHIR import and export, erasure and the data-subject export.

Every route's action is declared `phi=True`, so reads carry the policy's `audit_phi_read` obligation and are
audited (ids and field names only). No PHI is logged or put into error messages.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import URL
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import func, select

from lumen.core.audit.models import AuditEvent
from lumen.core.db.base import utcnow
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import Conflict, NotFound, UnprocessableEntity
from lumen.tenants.app.accounts import LINK_SECONDS, PatientSessions, issue_link_code
from lumen.tenants.patients.fhir import from_bundle, to_bundle
from lumen.tenants.patients.keyring import MasterKeyring
from lumen.tenants.patients.repository import PatientAppLinkRepository, PatientRepository
from lumen.tenants.patients.schemas import (
    PatientAppLinkOut,
    PatientCreate,
    PatientExport,
    PatientOut,
    PatientPage,
    PatientProfile,
    PatientUpdate,
)
from lumen.tenants.patients.service import PatientService
from lumen.tenants.repository import BrandingRepository, TenantRepository

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
        # The patient's app sessions end with the record (their links go with it, ON DELETE CASCADE).
        assert principal.tenant_id is not None  # patients.* actions are granted to tenant keys only
        await PatientSessions(request.app.state.redis).end_all(principal.tenant_id, patient_id)

    @post(
        "/{patient_id:uuid}/app-links",
        operation_id="createPatientAppLink",
        summary="A one-time sign-in link to the tenant's patient app for this patient",
        description="The tenant's backend calls this for a patient it has signed in itself and hands the "
        "`url` to that patient. The link works once, for 10 minutes; the code is in the URL's fragment, "
        "which browsers never send to a server. Signing in opens a session for this patient only "
        "(docs/patient-app.md).",
        opt={"action": "patients.app_link", "resource": "patient"},
        status_code=HTTP_201_CREATED,
    )
    async def create_app_link(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> PatientAppLinkOut:
        tenant_id = principal.tenant_id
        assert tenant_id is not None
        if await PatientRepository(session, tenant_id).get(patient_id) is None:
            raise NotFound("No patient with this id in this tenant.")
        tenant = await TenantRepository(session).get(tenant_id)
        branding = await BrandingRepository(session, tenant_id).get()
        if tenant is None or branding is None:
            raise Conflict(
                "The patient app is off for this tenant: set its branding (PUT /v1/branding) first."
            )
        if "profile" not in branding.features:
            raise Conflict("The patient app's `profile` feature is off: add it to the branding's `features`.")
        code, expires_at = await issue_link_code(session, tenant_id, patient_id)
        base = URL(str(request.base_url))
        url = f"{base.scheme}://{base.netloc}/t/{tenant.slug}/signin#code={code}"
        return PatientAppLinkOut(url=url, code=code, expires_at=expires_at, expires_in=LINK_SECONDS)

    @delete(
        "/{patient_id:uuid}/app-sessions",
        operation_id="endPatientAppSessions",
        summary="Sign the patient out of the patient app everywhere and void their unused sign-in links",
        opt={"action": "patients.app_signout", "resource": "patient"},
        status_code=HTTP_204_NO_CONTENT,
    )
    async def end_app_sessions(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> None:
        tenant_id = principal.tenant_id
        assert tenant_id is not None
        if await PatientRepository(session, tenant_id).get(patient_id) is None:
            raise NotFound("No patient with this id in this tenant.")
        await PatientAppLinkRepository(session, tenant_id).revoke_unused(patient_id, utcnow())
        await PatientSessions(request.app.state.redis).end_all(tenant_id, patient_id)
