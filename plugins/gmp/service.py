"""Controlled documents: templates, creation (with optional model drafting), editing, lifecycle transitions,
revisions and history. Signers and signatures are in signing.py, deviations and CAPA in quality.py.

Who may do what is decided by policy (policies/gmp.rego) from facts gathered here: the acting signer's
roles, the document's author, the approval signatures that still verify. The state machine itself (which
status may follow which) is a plain table: it is not a permission, it is what the statuses mean.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import msgspec
import structlog

from lumen.plugins.gmp.models import GmpDocument, GmpSignature, GmpSigner, GmpTemplate
from lumen.plugins.gmp.repository import (
    CounterRepository,
    DocumentRepository,
    SignatureRepository,
    SignerRepository,
    TemplateRepository,
)
from lumen.plugins.gmp.schemas import (
    DocumentIn,
    DocumentOut,
    DocumentPatch,
    DocumentSummary,
    DraftingOut,
    GmpSettings,
    HistoryEntry,
    HistoryOut,
    RevisionIn,
    SectionOut,
    SignatureOut,
    Template,
    TemplateIn,
    TemplateKnowledge,
    TemplateOut,
    TemplatePage,
    TemplateSummary,
    TransitionIn,
)
from lumen.plugins.sdk import (
    ChatMessage,
    Conflict,
    LumenProblem,
    NotFound,
    PluginContext,
    UnprocessableEntity,
)

__all__ = ["DocumentService", "TemplateCatalog", "load_templates", "settings_of"]

log = structlog.get_logger()

RESOURCE = "gmp_document"
KNOWLEDGE_FILE = "templates.json"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# What each status may become through POST .../transitions (edits and revisions have their own routes).
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"in_review"}),
    "in_review": frozenset({"draft", "approved"}),
    "approved": frozenset({"draft", "effective"}),
    "effective": frozenset({"retired"}),
    "superseded": frozenset(),
    "retired": frozenset(),
}


def bad_input(key: str, message: str) -> LumenProblem:
    """A well-formed body that breaks a rule its schema cannot state (an unknown signer, a template's own
    field types, a date order): 422, naming the field. Bodies that do not match the schema stay 400."""
    return UnprocessableEntity(
        f"{key}: {message}",
        slug="validation-error",
        extra={"errors": [{"key": key, "message": message, "source": "body"}]},
    )


def settings_of(ctx: PluginContext) -> GmpSettings:
    return ctx.settings if isinstance(ctx.settings, GmpSettings) else GmpSettings()


# --- templates ----------------------------------------------------------------------------------------------


class TemplateKnowledgeError(ValueError):
    """The shipped templates file is broken; start-up stops naming the template."""


def check_template(template: Template | TemplateIn) -> str | None:
    """A structural problem with a template definition (names the part), or None."""
    field_ids = [f.id for f in template.fields]
    if len(set(field_ids)) != len(field_ids):
        return "fields: field ids must be unique"
    section_ids = [s.id for s in template.sections]
    if len(set(section_ids)) != len(section_ids):
        return "sections: section ids must be unique"
    for field in template.fields:
        if field.type == "enum" and not field.options:
            return f"fields.{field.id}.options: an enum field needs options"
        if field.type != "enum" and field.options:
            return f"fields.{field.id}.options: only enum fields take options"
    known = set(field_ids)
    for section in template.sections:
        for ref in section.fields:
            if ref not in known:
                return f"sections.{section.id}.fields: {ref!r} is not a field of this template"
    if "title" not in known:
        return "fields: every template needs a 'title' field (it heads the document)"
    if len(set(template.requirements)) != len(template.requirements):
        return "requirements: listed twice"
    return None


@functools.cache
def load_templates() -> TemplateKnowledge:
    raw = resources.files("lumen.plugins.gmp").joinpath("knowledge", KNOWLEDGE_FILE).read_bytes()
    try:
        knowledge = msgspec.json.decode(raw, type=TemplateKnowledge)
    except msgspec.ValidationError as exc:
        raise TemplateKnowledgeError(f"{KNOWLEDGE_FILE}: {exc}") from exc
    seen: set[str] = set()
    for template in knowledge.templates:
        problem = check_template(template)
        if problem:
            raise TemplateKnowledgeError(f"{KNOWLEDGE_FILE}: template {template.id!r}: {problem}")
        if template.source is None or template.reviewed is None:
            raise TemplateKnowledgeError(
                f"{KNOWLEDGE_FILE}: template {template.id!r} needs a source and review date"
            )
        if template.id in seen:
            raise TemplateKnowledgeError(f"{KNOWLEDGE_FILE}: template {template.id!r} is listed twice")
        seen.add(template.id)
    return knowledge


class TemplateCatalog:
    """Built-in templates (knowledge file) and the tenant's own (table), one namespace of ids."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.builtins = {t.id: t for t in load_templates().templates}

    async def get(self, key: str, version: int | None = None) -> tuple[Template, str]:
        builtin = self.builtins.get(key)
        if builtin is not None:
            if version is not None and version != builtin.version:
                raise NotFound(f"template {key!r} has no version {version}")
            return builtin, "built-in"
        row = await self.ctx.repository(TemplateRepository).latest(key, version)
        if row is None:
            raise NotFound("No template with this id; GET /v1/gmp/templates lists them.")
        return msgspec.convert(row.definition, Template), "tenant"

    async def listing(self) -> TemplatePage:
        items = [_summary(t, "built-in") for t in self.builtins.values()]
        for row in await self.ctx.repository(TemplateRepository).all_latest():
            items.append(_summary(msgspec.convert(row.definition, Template), "tenant"))
        return TemplatePage(items=items, knowledge_version=load_templates().version)

    async def add(self, body: TemplateIn) -> TemplateOut:
        if body.id in self.builtins:
            raise bad_input("id", f"{body.id!r} is a built-in template; choose another id")
        problem = check_template(body)
        if problem:
            key, _, message = problem.partition(": ")
            raise bad_input(key, message)
        repo = self.ctx.repository(TemplateRepository)
        latest = await repo.latest(body.id)
        version = 1 if latest is None else latest.version + 1
        template = Template(**{f: getattr(body, f) for f in body.__struct_fields__}, version=version)
        await repo.add(GmpTemplate(key=body.id, version=version, definition=msgspec.to_builtins(template)))
        self.ctx.audit(
            "gmp.template.created",
            resource_type="gmp_template",
            resource_id=body.id,
            details={"version": version},
        )
        return TemplateOut(origin="tenant", template=template)


def _summary(t: Template, origin: Any) -> TemplateSummary:
    return TemplateSummary(
        id=t.id,
        version=t.version,
        name=t.name,
        kind=t.kind,
        description=t.description,
        requirements=list(t.requirements),
        origin=origin,
    )


# --- field values -------------------------------------------------------------------------------------------


def _check_value(field: Any, value: Any) -> Any:
    key = f"fields.{field.id}"
    if field.type == "text":
        if not isinstance(value, str):
            raise bad_input(key, "expected text")
        if len(value) > field.max_length:
            raise bad_input(key, f"at most {field.max_length} characters")
        if _CONTROL.search(value):
            raise bad_input(key, "text without NUL or control characters")
        return value
    if field.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 1_000_000_000:
            raise bad_input(key, "expected a whole number")
        return value
    if field.type == "boolean":
        if not isinstance(value, bool):
            raise bad_input(key, "expected true or false")
        return value
    if field.type == "enum":
        if value not in field.options:
            raise bad_input(key, f"expected one of {', '.join(field.options)}")
        return value
    if not isinstance(value, str) or len(value) > 40:
        raise bad_input(key, f"expected an ISO 8601 {field.type}")
    try:
        if field.type == "date":
            return date.fromisoformat(value).isoformat()
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_input(key, f"expected an ISO 8601 {field.type}") from None
    if parsed.tzinfo is None:
        raise bad_input(key, "a date and time needs its UTC offset (e.g. 2026-12-01T08:30:00Z)")
    return parsed.isoformat()


def check_fields(template: Template, values: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    by_id = {f.id: f for f in template.fields}
    for name in values:
        if name not in by_id:
            raise bad_input(f"fields.{name}", f"not a field of template {template.id!r}")
    checked = {name: _check_value(by_id[name], value) for name, value in values.items() if value is not None}
    if not partial:
        for field in template.fields:
            if field.required and field.id not in checked:
                raise bad_input(f"fields.{field.id}", "required by the template")
    return checked


def check_sections(template: Template, texts: dict[str, str]) -> None:
    known = {s.id for s in template.sections}
    for name in texts:
        if name not in known:
            raise bad_input(f"sections.{name}", f"not a section of template {template.id!r}")


def content_hash(doc: GmpDocument) -> str:
    """SHA-256 of exactly what a signer signs: the document's identity and content (not its status or
    version label, which change around the same content when it is approved)."""
    canonical = {
        "id": str(doc.id),
        "number": doc.number,
        "title": doc.title,
        "template": [doc.template_key, doc.template_version],
        "fields": doc.fields,
        "sections": [[s["id"], s["text"]] for s in doc.sections],
    }
    encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def signature_record_hash(sig: GmpSignature) -> str:
    """Binds a signature to its document, signer, meaning, time and signed content (§11.70)."""
    parts = [
        str(sig.tenant_id),
        str(sig.document_id),
        str(sig.signer_id),
        sig.printed_name,
        sig.meaning,
        sig.version,
        sig.content_sha256,
        sig.signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        sig.authentication,
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def signature_valid(sig: GmpSignature, doc: GmpDocument) -> bool:
    return (
        sig.document_id == doc.id
        and sig.content_sha256 == doc.content_sha256
        and sig.record_sha256 == signature_record_hash(sig)
    )


def version_label(doc: GmpDocument) -> str:
    return f"{doc.version_major}.{doc.version_minor}"


def signature_out(sig: GmpSignature, doc: GmpDocument) -> SignatureOut:
    return SignatureOut(
        id=sig.id,
        document_id=sig.document_id,
        signer_id=sig.signer_id,
        printed_name=sig.printed_name,
        meaning=sig.meaning,
        version=sig.version,
        content_sha256=sig.content_sha256,
        signed_at=sig.signed_at,
        authentication=sig.authentication,
        valid=signature_valid(sig, doc),
    )


# --- documents ----------------------------------------------------------------------------------------------


class DocumentService:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.documents = ctx.repository(DocumentRepository)
        self.signers = ctx.repository(SignerRepository)
        self.signatures = ctx.repository(SignatureRepository)

    async def signer(self, signer_id: uuid.UUID, key: str) -> GmpSigner:
        signer = await self.signers.get(signer_id)
        if signer is None:
            raise bad_input(key, "no signer with this id in this tenant")
        if not signer.active:
            raise bad_input(key, "this signer is deactivated")
        return signer

    async def document(self, document_id: uuid.UUID, *, for_update: bool = False) -> GmpDocument:
        doc = (
            await self.documents.get_for_update(document_id)
            if for_update
            else await self.documents.get(document_id)
        )
        if doc is None:
            raise NotFound("No document with this id.")
        return doc

    async def next_number(self, template: Template, now: datetime) -> str:
        numbering = template.numbering
        series = f"{numbering.prefix}-{now.year}" if numbering.yearly else numbering.prefix
        value = await self.ctx.repository(CounterRepository).next(series)
        return f"{series}-{value:0{numbering.digits}d}"

    async def create(self, body: DocumentIn, now: datetime) -> DocumentOut:
        template, _ = await TemplateCatalog(self.ctx).get(body.template, body.template_version)
        fields = check_fields(template, dict(body.fields))
        check_sections(template, dict(body.sections))
        author = await self.signer(body.author_signer_id, "author_signer_id")
        sections = [
            {"id": s.id, "text": body.sections.get(s.id, ""), "machine_drafted": False}
            for s in template.sections
        ]
        drafting = None
        if body.draft_narratives:
            drafting = await self._draft(template, fields, sections)
        doc = GmpDocument(
            id=uuid.uuid4(),
            number=await self.next_number(template, now),
            series_id=uuid.uuid4(),
            title=str(fields["title"]),
            template_key=template.id,
            template_version=template.version,
            template=msgspec.to_builtins(template),
            status="draft",
            version_major=0,
            version_minor=1,
            change_type="major",
            fields=fields,
            sections=sections,
            content_sha256="",
            author_signer_id=author.id,
        )
        doc.content_sha256 = content_hash(doc)
        await self.documents.add(doc)
        self.ctx.audit(
            "gmp.document.created",
            resource_type=RESOURCE,
            resource_id=str(doc.id),
            changed_fields=sorted([*fields, *body.sections]),
            details={
                "signer_id": str(author.id),
                "version": version_label(doc),
                "template": template.id,
                "machine_drafted_sections": drafting.sections if drafting else [],
            },
        )
        log.info("gmp.document_created", template=template.id, drafted=bool(drafting and drafting.performed))
        return await self.out(doc, drafting=drafting)

    async def _draft(
        self, template: Template, fields: dict[str, Any], sections: list[dict[str, Any]]
    ) -> DraftingOut:
        """The model phrases narrative sections from the structured fields; everything it writes is marked
        machine-drafted until a person edits the section or the document is approved."""
        wanted = [s for s in template.sections if s.narrative]
        empty = [s for s in wanted if not next(x for x in sections if x["id"] == s.id)["text"]]
        drafted: list[str] = []
        facts = "\n".join(f"- {f.label}: {fields[f.id]}" for f in template.fields if f.id in fields)
        for section in empty:
            try:
                generation = await self.ctx.generate(
                    [
                        ChatMessage(
                            role="system",
                            content="You draft one section of a GMP controlled document. Use only the facts "
                            "given; do not invent data, results, names or regulations. Plain, factual prose.",
                        ),
                        ChatMessage(
                            role="user",
                            content=f"Document: {template.name}\n"
                            f"Section: {section.title} ({section.guidance})\n"
                            f"Facts:\n{facts}\n\nWrite the section.",
                        ),
                    ],
                    max_tokens=300,
                )
            except LumenProblem as exc:
                if exc.status_code != 503:
                    raise
                return DraftingOut(
                    requested=True,
                    performed=False,
                    sections=drafted,
                    detail="The inference pool is not available: the document was created without "
                    "drafting; write the narrative sections yourself or try again later.",
                )
            text = _CONTROL.sub("", generation.text).strip()[:20_000]
            for item in sections:
                if item["id"] == section.id and text:
                    item["text"], item["machine_drafted"] = text, True
                    drafted.append(section.id)
        return DraftingOut(requested=True, performed=bool(drafted), sections=drafted)

    async def update(self, document_id: uuid.UUID, body: DocumentPatch) -> DocumentOut:
        doc = await self.document(document_id, for_update=True)
        editor = await self.signer(body.signer_id, "signer_id")
        if body.fields is None and body.sections is None:
            raise bad_input("fields", "send fields or sections to change")
        if doc.status in ("effective", "superseded", "retired"):
            raise Conflict(
                f"The document is {doc.status}; revise it "
                f"(POST /v1/gmp/documents/{doc.id}/revisions) to change it."
            )
        if doc.status == "in_review":
            raise Conflict(
                "The document is in review; return it to draft (transition to 'draft') to edit it."
            )
        was_approved = doc.status == "approved"
        if was_approved and body.reason is None:
            raise bad_input("reason", "a change after approval needs a reason")
        await self.ctx.authorize(
            {
                "type": RESOURCE,
                "operation": "edit",
                "status": doc.status,
                "actor": {"id": str(editor.id), "roles": list(editor.roles)},
                "author_id": str(doc.author_signer_id),
            }
        )
        template = msgspec.convert(doc.template, Template)
        changed: list[str] = []
        if body.fields is not None:
            updates = check_fields(template, dict(body.fields), partial=True)
            merged = {**doc.fields, **updates}
            check_fields(template, merged)
            changed += [f"fields.{k}" for k in updates if doc.fields.get(k) != updates[k]]
            doc.fields = merged
            doc.title = str(merged["title"])
        if body.sections is not None:
            check_sections(template, dict(body.sections))
            sections = [dict(s) for s in doc.sections]
            for item in sections:
                if item["id"] in body.sections:
                    if item["text"] != body.sections[item["id"]]:
                        changed.append(f"sections.{item['id']}")
                    item["text"], item["machine_drafted"] = body.sections[item["id"]], False
            doc.sections = sections
        doc.version_minor += 1
        doc.content_sha256 = content_hash(doc)
        if was_approved:
            doc.status, doc.approved_at = "draft", None  # its signatures no longer verify
        self.ctx.audit(
            "gmp.document.updated",
            resource_type=RESOURCE,
            resource_id=str(doc.id),
            changed_fields=changed,
            details={
                "signer_id": str(editor.id),
                "reason": body.reason,
                "version": version_label(doc),
                "status": doc.status,
                "left_approved": was_approved,
            },
        )
        return await self.out(doc)

    async def transition(self, document_id: uuid.UUID, body: TransitionIn, now: datetime) -> DocumentOut:
        doc = await self.document(document_id, for_update=True)
        actor = await self.signer(body.signer_id, "signer_id")
        if body.to not in TRANSITIONS[doc.status]:
            allowed = ", ".join(sorted(TRANSITIONS[doc.status])) or "none"
            raise Conflict(f"A {doc.status} document cannot become {body.to} (allowed: {allowed}).")
        if body.to in ("draft", "retired") and body.reason is None:
            raise bad_input("reason", f"moving a {doc.status} document to {body.to} needs a reason")
        if body.to == "in_review":
            template = msgspec.convert(doc.template, Template)
            required = {s.id for s in template.sections if s.narrative and s.required}
            empty = sorted(s["id"] for s in doc.sections if s["id"] in required and not s["text"].strip())
            if empty:
                raise bad_input(f"sections.{empty[0]}", "a required section is empty; write it before review")
        approvals = await self._valid_approvals(doc)
        await self.ctx.authorize(
            {
                "type": RESOURCE,
                "operation": f"to_{body.to}",
                "status": doc.status,
                "actor": {"id": str(actor.id), "roles": list(actor.roles)},
                "author_id": str(doc.author_signer_id),
                "approvals": approvals,
            }
        )
        previous = doc.status
        doc.status = body.to
        drafted = [s["id"] for s in doc.sections if s.get("machine_drafted")]
        if body.to == "approved":
            if doc.change_type == "major":
                doc.version_major, doc.version_minor = doc.version_major + 1, 0
            doc.approved_at = now
            # Approved by a person: the drafted text is theirs now (the history keeps that it was drafted).
            doc.sections = [{**s, "machine_drafted": False} for s in doc.sections]
            await self.ctx.emit(
                "gmp.document.approved",
                {
                    "document_id": str(doc.id),
                    "number": doc.number,
                    "version": version_label(doc),
                    "title": doc.title,
                    "approved_at": now.isoformat(),
                },
            )
        elif body.to == "effective":
            doc.effective_at = now
            for older in await self.documents.effective_in_series(doc.series_id, doc.id):
                older.status, older.closed_at = "superseded", now
                self.ctx.audit(
                    "gmp.document.superseded",
                    resource_type=RESOURCE,
                    resource_id=str(older.id),
                    details={"superseded_by": str(doc.id), "version": version_label(older)},
                )
        elif body.to == "retired":
            doc.closed_at = now
        elif body.to == "draft":
            doc.approved_at = None
        self.ctx.audit(
            "gmp.document.transitioned",
            resource_type=RESOURCE,
            resource_id=str(doc.id),
            changed_fields=["status"],
            details={
                "signer_id": str(actor.id),
                "from": previous,
                "to": body.to,
                "reason": body.reason,
                "version": version_label(doc),
                "machine_drafted_sections_approved": drafted if body.to == "approved" else [],
            },
        )
        return await self.out(doc)

    async def _valid_approvals(self, doc: GmpDocument) -> list[dict[str, Any]]:
        """Approval signatures that still verify against the current content, with their signers' roles."""
        sigs = [s for s in await self.signatures.for_document(doc.id) if s.meaning == "approved"]
        signers = await self.signers.many([s.signer_id for s in sigs])
        return [
            {"signer_id": str(s.signer_id), "roles": list(signers[s.signer_id].roles)}
            for s in sigs
            if signature_valid(s, doc) and s.signer_id in signers
        ]

    async def revise(self, document_id: uuid.UUID, body: RevisionIn) -> DocumentOut:
        doc = await self.document(document_id, for_update=True)
        author = await self.signer(body.signer_id, "signer_id")
        if doc.status != "effective":
            raise Conflict(f"Only an effective document is revised; this one is {doc.status}.")
        if await self.documents.open_revision(doc.series_id) is not None:
            raise Conflict("This document already has a revision in progress.")
        await self.ctx.authorize(
            {
                "type": RESOURCE,
                "operation": "revise",
                "status": doc.status,
                "actor": {"id": str(author.id), "roles": list(author.roles)},
                "author_id": str(doc.author_signer_id),
            }
        )
        revision = GmpDocument(
            id=uuid.uuid4(),
            number=doc.number,
            series_id=doc.series_id,
            title=doc.title,
            template_key=doc.template_key,
            template_version=doc.template_version,
            template=doc.template,
            status="draft",
            version_major=doc.version_major,
            version_minor=doc.version_minor + 1,
            change_type=body.change,
            fields=dict(doc.fields),
            sections=[{**s, "machine_drafted": False} for s in doc.sections],
            content_sha256="",
            author_signer_id=author.id,
            previous_id=doc.id,
        )
        revision.content_sha256 = content_hash(revision)
        await self.documents.add(revision)
        for target, action in ((revision, "gmp.document.created"), (doc, "gmp.document.revision_started")):
            self.ctx.audit(
                action,
                resource_type=RESOURCE,
                resource_id=str(target.id),
                details={
                    "signer_id": str(author.id),
                    "reason": body.reason,
                    "change": body.change,
                    "revision_of": str(doc.id),
                    "revision_id": str(revision.id),
                    "version": version_label(target),
                },
            )
        return await self.out(revision)

    async def history(self, document_id: uuid.UUID) -> HistoryOut:
        doc = await self.document(document_id)
        records = await self.ctx.audit_records(resource_type=RESOURCE, resource_id=str(doc.id))
        entries = [
            HistoryEntry(
                seq=r.seq,
                at=r.occurred_at,
                action=r.action,
                outcome=r.outcome,
                actor_key_id=r.actor_key_id,
                signer_id=r.details.get("signer_id"),
                changed_fields=r.changed_fields,
                reason=r.details.get("reason"),
                version=r.details.get("version"),
                details={k: v for k, v in r.details.items() if k not in ("signer_id", "reason", "version")},
            )
            for r in records
        ]
        return HistoryOut(document_id=doc.id, number=doc.number, entries=entries)

    async def page(self, cursor: str | None, limit: int) -> tuple[list[DocumentSummary], str | None]:
        rows, next_cursor = await self.documents.page(cursor=cursor, limit=limit)
        return [
            DocumentSummary(
                id=d.id,
                number=d.number,
                title=d.title,
                template=d.template_key,
                status=d.status,
                version=version_label(d),
                effective_at=d.effective_at,
                updated_at=d.updated_at,
            )
            for d in rows
        ], next_cursor

    async def out(self, doc: GmpDocument, *, drafting: DraftingOut | None = None) -> DocumentOut:
        template = msgspec.convert(doc.template, Template)
        titles = {s.id: s.title for s in template.sections}
        sigs = await self.signatures.for_document(doc.id)
        return DocumentOut(
            id=doc.id,
            number=doc.number,
            title=doc.title,
            template=doc.template_key,
            template_version=doc.template_version,
            status=doc.status,
            version=version_label(doc),
            fields=dict(doc.fields),
            sections=[
                SectionOut(
                    id=s["id"],
                    title=titles.get(s["id"], s["id"]),
                    text=s["text"],
                    machine_drafted=s["machine_drafted"],
                )
                for s in doc.sections
            ],
            requirements=list(template.requirements),
            content_sha256=doc.content_sha256,
            author_signer_id=doc.author_signer_id,
            previous_id=doc.previous_id,
            approved_at=doc.approved_at,
            effective_at=doc.effective_at,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            machine_drafted=any(s["machine_drafted"] for s in doc.sections),
            signatures=[signature_out(s, doc) for s in sigs],
            drafting=drafting,
        )


def today(now: datetime) -> date:
    return now.date()


def days(n: int) -> timedelta:
    return timedelta(days=n)
