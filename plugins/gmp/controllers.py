"""The GMP routes: /v1/gmp/templates, /signers, /documents (with transitions, signatures, revisions, history
and rendering), /deviations and /capas."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from lumen.plugins.gmp.quality import CapaService, DeviationService
from lumen.plugins.gmp.rendering import (
    RenderedDocument,
    SignatureLine,
    to_docx,
    to_markdown,
    to_pdf,
    value_text,
)
from lumen.plugins.gmp.repository import SignerRepository
from lumen.plugins.gmp.schemas import (
    ActionCompleteIn,
    CapaIn,
    CapaOut,
    CapaPage,
    CloseIn,
    DeviationIn,
    DeviationOut,
    DeviationPage,
    DocumentIn,
    DocumentOut,
    DocumentPage,
    DocumentPatch,
    EffectivenessIn,
    ExtensionDecisionIn,
    ExtensionIn,
    HistoryOut,
    RevisionIn,
    SignatureCreated,
    SignatureIn,
    SignerIn,
    SignerOut,
    SignerPage,
    SignerPatch,
    Template,
    TemplateIn,
    TemplateOut,
    TemplatePage,
    TransitionIn,
)
from lumen.plugins.gmp.service import DocumentService, TemplateCatalog, settings_of
from lumen.plugins.gmp.signing import SignatureService, SignerService, signer_out
from lumen.plugins.sdk import PluginContext

__all__ = [
    "CapaController",
    "DeviationController",
    "DocumentController",
    "SignerController",
    "TemplateController",
]

Ctx = NamedDependency[PluginContext]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Items per page.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=200, description="`next_cursor` of the previous page.")
]
TemplateId = Annotated[
    str,
    PathParameter(
        max_length=64, pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", description="A template id, e.g. `sop`."
    ),
]
Version = Annotated[
    int | None, QueryParameter(ge=1, le=10_000, description="A template version (default: latest).")
]
Format = Annotated[Literal["md", "docx", "pdf"], QueryParameter(description="md, docx or pdf.")]

MEDIA = {
    "md": "text/markdown; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def _now() -> datetime:
    return datetime.now(UTC)


class TemplateController(Controller):
    path = "/v1/gmp/templates"
    tags = ["gmp"]

    @get(
        "/",
        operation_id="listGmpTemplates",
        summary="Built-in and tenant templates",
        opt={"action": "gmp.read"},
    )
    async def list_templates(self, ctx: Ctx) -> TemplatePage:
        return await TemplateCatalog(ctx).listing()

    @get(
        "/{template_id:str}",
        operation_id="getGmpTemplate",
        summary="A template: sections, fields, requirements satisfied, numbering",
        opt={"action": "gmp.read"},
    )
    async def get_template(self, ctx: Ctx, template_id: TemplateId, version: Version = None) -> TemplateOut:
        template, origin = await TemplateCatalog(ctx).get(template_id, version)
        return TemplateOut(origin=origin, template=template)  # type: ignore[arg-type]

    @post(
        "/",
        operation_id="createGmpTemplate",
        summary="Add a tenant template (or a new version of one)",
        opt={"action": "gmp.manage", "resource": "gmp_template"},
    )
    async def create_template(self, ctx: Ctx, data: JSONBody[TemplateIn]) -> TemplateOut:
        return await TemplateCatalog(ctx).add(data)


class SignerController(Controller):
    path = "/v1/gmp/signers"
    tags = ["gmp"]

    @post(
        "/",
        operation_id="createGmpSigner",
        summary="Register a signer (a tenant member with their own signing credential)",
        opt={"action": "gmp.manage", "resource": "gmp_signer"},
    )
    async def create_signer(self, ctx: Ctx, data: JSONBody[SignerIn]) -> SignerOut:
        return await SignerService(ctx).create(data)

    @get("/", operation_id="listGmpSigners", summary="Signers", opt={"action": "gmp.read"})
    async def list_signers(self, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> SignerPage:
        rows, next_cursor = await ctx.repository(SignerRepository).page(cursor=cursor, limit=limit)
        return SignerPage(items=[signer_out(r) for r in rows], next_cursor=next_cursor)

    @get("/{signer_id:uuid}", operation_id="getGmpSigner", summary="A signer", opt={"action": "gmp.read"})
    async def get_signer(self, ctx: Ctx, signer_id: FromPath[uuid.UUID]) -> SignerOut:
        return signer_out(await SignerService(ctx).get(signer_id))

    @patch(
        "/{signer_id:uuid}",
        operation_id="updateGmpSigner",
        summary="Change roles, deactivate, reset the password or unlock a signer",
        opt={"action": "gmp.manage", "resource": "gmp_signer"},
    )
    async def update_signer(
        self, ctx: Ctx, signer_id: FromPath[uuid.UUID], data: JSONBody[SignerPatch]
    ) -> SignerOut:
        return await SignerService(ctx).update(signer_id, data)


class DocumentController(Controller):
    path = "/v1/gmp/documents"
    tags = ["gmp"]

    @post(
        "/",
        operation_id="createGmpDocument",
        summary="Create a controlled document from a template (optionally with drafted narrative)",
        opt={"action": "gmp.write", "resource": "gmp_document"},
    )
    async def create_document(self, ctx: Ctx, data: JSONBody[DocumentIn]) -> DocumentOut:
        return await DocumentService(ctx).create(data, _now())

    @get("/", operation_id="listGmpDocuments", summary="Controlled documents", opt={"action": "gmp.read"})
    async def list_documents(self, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> DocumentPage:
        items, next_cursor = await DocumentService(ctx).page(cursor, limit)
        return DocumentPage(items=items, next_cursor=next_cursor)

    @get(
        "/{document_id:uuid}", operation_id="getGmpDocument", summary="A document", opt={"action": "gmp.read"}
    )
    async def get_document(self, ctx: Ctx, document_id: FromPath[uuid.UUID]) -> DocumentOut:
        service = DocumentService(ctx)
        return await service.out(await service.document(document_id))

    @patch(
        "/{document_id:uuid}",
        operation_id="updateGmpDocument",
        summary="Edit fields or sections (a reason is required after approval; approval is then lost)",
        opt={"action": "gmp.write", "resource": "gmp_document"},
    )
    async def update_document(
        self, ctx: Ctx, document_id: FromPath[uuid.UUID], data: JSONBody[DocumentPatch]
    ) -> DocumentOut:
        return await DocumentService(ctx).update(document_id, data)

    @post(
        "/{document_id:uuid}/transitions",
        operation_id="transitionGmpDocument",
        summary="Move a document through its lifecycle (role checks by policy)",
        opt={"action": "gmp.transition", "resource": "gmp_document"},
        status_code=200,
    )
    async def transition(
        self, ctx: Ctx, document_id: FromPath[uuid.UUID], data: JSONBody[TransitionIn]
    ) -> DocumentOut:
        return await DocumentService(ctx).transition(document_id, data, _now())

    @post(
        "/{document_id:uuid}/signatures",
        operation_id="signGmpDocument",
        summary="Sign the current content (21 CFR Part 11)",
        opt={"action": "gmp.sign", "resource": "gmp_document"},
    )
    async def sign(
        self, ctx: Ctx, document_id: FromPath[uuid.UUID], data: JSONBody[SignatureIn]
    ) -> SignatureCreated:
        return await SignatureService(ctx).sign(document_id, data, _now())

    @post(
        "/{document_id:uuid}/revisions",
        operation_id="reviseGmpDocument",
        summary="Start a revision of an effective document (a new draft version)",
        opt={"action": "gmp.write", "resource": "gmp_document"},
    )
    async def revise(
        self, ctx: Ctx, document_id: FromPath[uuid.UUID], data: JSONBody[RevisionIn]
    ) -> DocumentOut:
        return await DocumentService(ctx).revise(document_id, data)

    @get(
        "/{document_id:uuid}/history",
        operation_id="getGmpDocumentHistory",
        summary="Who changed what, when and why (from the audit trail)",
        opt={"action": "gmp.read"},
    )
    async def history(self, ctx: Ctx, document_id: FromPath[uuid.UUID]) -> HistoryOut:
        return await DocumentService(ctx).history(document_id)

    @get(
        "/{document_id:uuid}/render",
        operation_id="renderGmpDocument",
        summary="A rendered copy (md, docx or pdf) with header, branding and signature manifestation",
        opt={"action": "gmp.read"},
    )
    async def render(
        self, ctx: Ctx, document_id: FromPath[uuid.UUID], format: Format = "pdf"
    ) -> Response[bytes]:
        service = DocumentService(ctx)
        doc = await service.out(await service.document(document_id))
        settings = settings_of(ctx)
        tenant = await ctx.tenant_info()
        signers = await ctx.repository(SignerRepository).many([s.signer_id for s in doc.signatures])
        template = msgspec.convert((await service.document(document_id)).template, Template)
        labels = {f.id: f.label for f in template.fields}
        rendered = RenderedDocument(
            organisation=settings.branding_name or tenant.name,
            footer=settings.document_footer,
            number=doc.number,
            title=doc.title,
            version=doc.version,
            status=doc.status,
            effective_at=doc.effective_at,
            template_name=template.name,
            template_id=template.id,
            template_version=template.version,
            content_sha256=doc.content_sha256,
            fields=[(labels.get(k, k), value_text(v)) for k, v in doc.fields.items()],
            sections=[(s.title, s.text, s.machine_drafted) for s in doc.sections],
            requirements=doc.requirements,
            signatures=[
                SignatureLine(
                    printed_name=s.printed_name,
                    title=signers[s.signer_id].title if s.signer_id in signers else None,
                    meaning=s.meaning,
                    signed_at=s.signed_at,
                    version=s.version,
                    valid=s.valid,
                )
                for s in doc.signatures
            ],
            rendered_at=_now(),
        )
        body = (
            to_markdown(rendered).encode()
            if format == "md"
            else to_docx(rendered)
            if format == "docx"
            else to_pdf(rendered)
        )
        name = re.sub(r"[^A-Za-z0-9.-]", "_", f"{doc.number}_v{doc.version}") + f".{format}"
        return Response(
            content=body,
            media_type=MEDIA[format],
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )


class DeviationController(Controller):
    path = "/v1/gmp/deviations"
    tags = ["gmp"]

    @post(
        "/",
        operation_id="createGmpDeviation",
        summary="Record a deviation (due date: awareness + the tenant's days, 30 by default)",
        opt={"action": "gmp.write", "resource": "gmp_deviation"},
    )
    async def create_deviation(self, ctx: Ctx, data: JSONBody[DeviationIn]) -> DeviationOut:
        return await DeviationService(ctx).create(data, _now())

    @get("/", operation_id="listGmpDeviations", summary="Deviations", opt={"action": "gmp.read"})
    async def list_deviations(self, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> DeviationPage:
        items, next_cursor = await DeviationService(ctx).page(cursor, limit, _now())
        return DeviationPage(items=items, next_cursor=next_cursor)

    @get(
        "/{deviation_id:uuid}",
        operation_id="getGmpDeviation",
        summary="A deviation",
        opt={"action": "gmp.read"},
    )
    async def get_deviation(self, ctx: Ctx, deviation_id: FromPath[uuid.UUID]) -> DeviationOut:
        return await DeviationService(ctx).one(deviation_id, _now())

    @post(
        "/{deviation_id:uuid}/extensions",
        operation_id="requestGmpDeviationExtension",
        summary="Request a later due date",
        opt={"action": "gmp.write", "resource": "gmp_deviation"},
    )
    async def request_extension(
        self, ctx: Ctx, deviation_id: FromPath[uuid.UUID], data: JSONBody[ExtensionIn]
    ) -> DeviationOut:
        return await DeviationService(ctx).request_extension(deviation_id, data, _now())

    @post(
        "/{deviation_id:uuid}/extensions/{extension_id:uuid}/decision",
        operation_id="decideGmpDeviationExtension",
        summary="Approve or reject an extension request (QA, not the requester)",
        opt={"action": "gmp.transition", "resource": "gmp_deviation"},
        status_code=200,
    )
    async def decide_extension(
        self,
        ctx: Ctx,
        deviation_id: FromPath[uuid.UUID],
        extension_id: FromPath[uuid.UUID],
        data: JSONBody[ExtensionDecisionIn],
    ) -> DeviationOut:
        return await DeviationService(ctx).decide_extension(deviation_id, extension_id, data, _now())

    @post(
        "/{deviation_id:uuid}/close",
        operation_id="closeGmpDeviation",
        summary="Close a deviation (QA)",
        opt={"action": "gmp.transition", "resource": "gmp_deviation"},
        status_code=200,
    )
    async def close(
        self, ctx: Ctx, deviation_id: FromPath[uuid.UUID], data: JSONBody[CloseIn]
    ) -> DeviationOut:
        return await DeviationService(ctx).close(deviation_id, data, _now())


class CapaController(Controller):
    path = "/v1/gmp/capas"
    tags = ["gmp"]

    @post(
        "/",
        operation_id="createGmpCapa",
        summary="Open a CAPA with actions, owners and an effectiveness check date",
        opt={"action": "gmp.write", "resource": "gmp_capa"},
    )
    async def create_capa(self, ctx: Ctx, data: JSONBody[CapaIn]) -> CapaOut:
        return await CapaService(ctx).create(data, _now())

    @get("/", operation_id="listGmpCapas", summary="CAPAs", opt={"action": "gmp.read"})
    async def list_capas(self, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> CapaPage:
        items, next_cursor = await CapaService(ctx).page(cursor, limit)
        return CapaPage(items=items, next_cursor=next_cursor)

    @get("/{capa_id:uuid}", operation_id="getGmpCapa", summary="A CAPA", opt={"action": "gmp.read"})
    async def get_capa(self, ctx: Ctx, capa_id: FromPath[uuid.UUID]) -> CapaOut:
        return await CapaService(ctx).one(capa_id)

    @post(
        "/{capa_id:uuid}/actions/{action_id:uuid}/complete",
        operation_id="completeGmpCapaAction",
        summary="Mark a CAPA action complete",
        opt={"action": "gmp.write", "resource": "gmp_capa"},
        status_code=200,
    )
    async def complete_action(
        self,
        ctx: Ctx,
        capa_id: FromPath[uuid.UUID],
        action_id: FromPath[uuid.UUID],
        data: JSONBody[ActionCompleteIn],
    ) -> CapaOut:
        return await CapaService(ctx).complete_action(capa_id, action_id, data, _now())

    @post(
        "/{capa_id:uuid}/effectiveness",
        operation_id="verifyGmpCapaEffectiveness",
        summary="Record the effectiveness check (QA)",
        opt={"action": "gmp.transition", "resource": "gmp_capa"},
        status_code=200,
    )
    async def effectiveness(
        self, ctx: Ctx, capa_id: FromPath[uuid.UUID], data: JSONBody[EffectivenessIn]
    ) -> CapaOut:
        return await CapaService(ctx).verify_effectiveness(capa_id, data, _now())
