"""The documents and search API: POST/GET /v1/documents, GET/DELETE /v1/documents/{id}, POST /v1/search.

Uploads are parsed in the request, so an unsupported or corrupt file is a 415/422 at once; the embedding
runs as a job (GET /v1/jobs/{id} shows its progress) and the version becomes searchable only when every
chunk is embedded. Query text and document contents are never logged.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import ClientException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT
from lumen.core.db.unit_of_work import unit_of_work
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import LumenProblem, NotFound, UnprocessableEntity, field_message
from lumen.core.jobs.outbox import wake_after_commit
from lumen.core.tenancy.config import TenantConfigCache
from lumen.inference.retrieval.models import Document, DocumentVersion
from lumen.inference.retrieval.parsing import (
    CONTENT_TYPES,
    InvalidDocument,
    UnsupportedDocument,
    content_type_for,
)
from lumen.inference.retrieval.repository import DocumentRepository
from lumen.inference.retrieval.runtime import Retrieval, filters_from
from lumen.inference.retrieval.schemas import (
    MAX_JSON_BODY_BYTES,
    MAX_UPLOAD_BYTES,
    DocumentCreate,
    DocumentOut,
    DocumentPage,
    PassageOut,
    SearchRequest,
    SearchResponse,
    VersionOut,
)
from lumen.inference.retrieval.service import AcceptedDocument, DocumentFields, DocumentIngestor

__all__ = ["DocumentController", "SearchController"]

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=200, description="`next_cursor` of the previous page.")
]

_UPLOAD_DOC = (
    "Send JSON `{title, text, content_type}` (text/plain, text/markdown, text/html, application/xml for eCFR "
    "or DailyMed SPL, application/json for an openFDA label), or `multipart/form-data` with a `file` part "
    "(PDF, DOCX, HTML, Markdown, text, XML, JSON; at most 20 MiB) and a `title` field (default: the file "
    "name). Optional fields: jurisdiction, document_type, effective_date. 202 with the ingestion job; 200 "
    "with `deduplicated: true` when these exact bytes are already stored."
)


def _upload_body() -> dict[str, Any]:
    """The body the upload reads itself (_read_upload), for the OpenAPI document: JSON with the text inline
    (the text formats only), or multipart with a `file` part (any supported format)."""
    (_,), components = msgspec.json.schema_components([DocumentCreate])
    json_schema: dict[str, Any] = components["DocumentCreate"]
    binary = {"application/pdf", *(m for m in CONTENT_TYPES if m.endswith("document"))}
    json_schema["properties"]["content_type"] = {
        "enum": sorted(set(CONTENT_TYPES) - binary),
        "default": "text/plain",
    }
    form_fields: dict[str, Any] = {
        "content_type": {"enum": sorted(CONTENT_TYPES), "description": "default: the `file` part's type"}
    }
    for name in ("title", "jurisdiction", "document_type", "effective_date"):
        prop = json_schema["properties"][name]
        # Form values are strings; leaving a field out is its null.
        form_fields[name] = next((b for b in prop.get("anyOf", []) if b.get("type") == "string"), prop)
    form_fields["title"] = {**form_fields["title"], "description": "default: the file name"}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": json_schema},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "at most 20 MiB"},
                        **{
                            k: {kk: vv for kk, vv in v.items() if kk != "default"}
                            for k, v in form_fields.items()
                        },
                    },
                },
                # Or application/octet-stream with a file name whose extension says (.pdf, .docx, .md...).
                "encoding": {"file": {"contentType": ", ".join(sorted(CONTENT_TYPES))}},
            },
        },
    }


UPLOAD_BODY = _upload_body()


def _retrieval(request: Request[Any, Any, Any]) -> Retrieval:
    retrieval: Retrieval = request.app.state.retrieval
    return retrieval


def _version_out(v: DocumentVersion) -> VersionOut:
    return VersionOut(
        version=v.version,
        state=v.state,
        content_type=v.content_type,
        content_hash=v.content_hash,
        size_bytes=v.size_bytes,
        chunks=v.chunk_count,
        pages=v.pages,
        filename=v.filename,
        job_id=v.job_id,
        error=v.error,
        created_at=v.created_at,
        ready_at=v.ready_at,
    )


def _document_out(d: Document, latest: DocumentVersion | None, **extra: Any) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        title=d.title,
        latest_version=d.latest_version,
        current_version=d.current_version,
        state=latest.state if latest else "queued",
        created_at=d.created_at,
        updated_at=d.updated_at,
        job_id=latest.job_id if latest else None,
        version=_version_out(latest) if latest else None,
        **extra,
    )


def _convert(raw: Any, *, strict: bool) -> DocumentCreate:
    """A JSON body strictly (as every JSON body, core/http/body.py); form fields, always strings, laxly."""
    try:
        return msgspec.convert(raw, DocumentCreate, strict=strict)
    except msgspec.ValidationError as exc:
        raise LumenProblem(field_message(exc), slug="validation-error") from None


async def _read_upload(request: Request[Any, Any, Any]) -> tuple[bytes, DocumentFields]:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            raw = msgspec.json.decode(await request.body())
        except msgspec.DecodeError as exc:
            raise LumenProblem(f"the body is not valid JSON ({exc})", slug="validation-error") from None
        body = _convert(raw, strict=True)
        fields = DocumentFields(
            title=body.title.strip(),
            content_type=_content_type(body.content_type, None),
            jurisdiction=body.jurisdiction,
            document_type=body.document_type,
            effective_date=body.effective_date,
        )
        if fields.content_type in ("application/pdf",) or fields.content_type.endswith("document"):
            raise LumenProblem(
                "content_type: binary formats (PDF, DOCX) must be sent as a multipart upload",
                slug="unsupported-media-type",
            )
        return body.text.encode(), fields
    if media == "multipart/form-data":
        try:
            form = await request.form()
        except ClientException as exc:
            if exc.status_code == 413:
                raise LumenProblem(
                    f"file: larger than {MAX_UPLOAD_BYTES} bytes", slug="payload-too-large"
                ) from None
            raise LumenProblem(
                f"the multipart body could not be read ({exc.detail})", slug="validation-error"
            ) from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise LumenProblem("file: a multipart upload needs a `file` part", slug="validation-error")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise LumenProblem(f"file: larger than {MAX_UPLOAD_BYTES} bytes", slug="payload-too-large")
        filename = (upload.filename or "").rsplit("/", 1)[-1][:300] or None
        declared = (
            form.get("content_type") if isinstance(form.get("content_type"), str) else upload.content_type
        )
        text_fields = {
            k: v
            for k in ("title", "jurisdiction", "document_type", "effective_date")
            if isinstance(v := form.get(k), str) and v.strip()
        }
        text_fields.setdefault("title", filename or "")
        meta = _convert({**text_fields, "text": "-", "content_type": "text/plain"}, strict=False)
        return data, DocumentFields(
            title=meta.title.strip(),
            content_type=_content_type(declared, filename),
            filename=filename,
            jurisdiction=meta.jurisdiction,
            document_type=meta.document_type,
            effective_date=meta.effective_date,
        )
    raise LumenProblem(
        f"Content-Type must be application/json or multipart/form-data (got {media or 'none'}).",
        slug="unsupported-media-type",
    )


def _content_type(declared: Any, filename: str | None) -> str:
    try:
        return content_type_for(declared if isinstance(declared, str) else None, filename)
    except UnsupportedDocument as exc:
        raise LumenProblem(f"content_type: {exc}", slug="unsupported-media-type") from None


class DocumentController(Controller):
    path = "/v1/documents"
    tags = ["documents"]

    @post(
        "/",
        operation_id="createDocument",
        summary="Upload a document (a new version when the title exists)",
        description=_UPLOAD_DOC,
        opt={"action": "documents.create", "resource": "document", "openapi_request_body": UPLOAD_BODY},
        request_max_body_size=max(MAX_UPLOAD_BYTES + 64 * 1024, MAX_JSON_BODY_BYTES),
        status_code=HTTP_202_ACCEPTED,
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=DocumentOut,
                description="These exact bytes are already stored (`deduplicated: true`): nothing new.",
            )
        },
    )
    async def create(
        self, request: Request[Any, Any, Any], session: DbSession, principal: Caller
    ) -> Response[DocumentOut]:
        assert principal.tenant_id is not None
        data, fields = await _read_upload(request)
        try:
            accepted: AcceptedDocument = await DocumentIngestor(session, principal.tenant_id).accept(
                data, fields
            )
        except UnsupportedDocument as exc:
            raise LumenProblem(f"file: {exc}", slug="unsupported-media-type") from None
        except InvalidDocument as exc:
            raise UnprocessableEntity(f"file: {exc}") from None
        if not accepted.deduplicated:
            wake_after_commit(request.scope)
        out = _document_out(accepted.document, accepted.version, deduplicated=accepted.deduplicated)
        return Response(out, status_code=HTTP_200_OK if accepted.deduplicated else HTTP_202_ACCEPTED)

    @get(
        "/",
        operation_id="listDocuments",
        summary="The tenant's documents, oldest first",
        opt={"action": "documents.list"},
    )
    async def list_documents(
        self, session: DbSession, principal: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> DocumentPage:
        assert principal.tenant_id is not None
        repo = DocumentRepository(session, principal.tenant_id)
        rows, next_cursor = await repo.document_page(cursor=cursor, limit=limit)
        latest = await repo.latest_versions([d.id for d in rows])
        return DocumentPage(items=[_document_out(d, latest.get(d.id)) for d in rows], next_cursor=next_cursor)

    @get(
        "/{document_id:uuid}",
        operation_id="getDocument",
        summary="One document with all its versions",
        opt={"action": "documents.read", "resource": "document"},
    )
    async def get_document(
        self, document_id: FromPath[uuid.UUID], session: DbSession, principal: Caller
    ) -> DocumentOut:
        assert principal.tenant_id is not None
        repo = DocumentRepository(session, principal.tenant_id)
        document = await repo.get(document_id)
        if document is None:
            raise NotFound("document not found")
        versions = list(await repo.versions(document.id))
        return _document_out(
            document, versions[-1] if versions else None, versions=[_version_out(v) for v in versions]
        )

    @delete(
        "/{document_id:uuid}",
        operation_id="deleteDocument",
        summary="Delete a document: every version, chunk and vector",
        opt={"action": "documents.delete", "resource": "document"},
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_document(
        self,
        request: Request[Any, Any, Any],
        document_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> None:
        tenant_id = principal.tenant_id
        assert tenant_id is not None
        repo = DocumentRepository(session, tenant_id)
        document = await repo.get(document_id)
        if document is None:
            raise NotFound("document not found")
        await repo.delete(document)  # versions and chunks go with it (ON DELETE CASCADE)
        backend = _retrieval(request).backend

        async def erase_elsewhere() -> None:
            await backend.document_deleted(tenant_id, document_id)

        unit_of_work(request.scope).after_commit(erase_elsewhere)


class SearchController(Controller):
    path = "/v1/search"
    tags = ["search"]

    @post(
        "/",
        operation_id="search",
        summary="Hybrid search over the tenant's documents and the shared corpora it may read",
        description="Full-text and vector search fused by reciprocal rank fusion. Each passage names its "
        "document and version, section id, heading, page and the character offsets of its text.",
        opt={"action": "search.query"},
        status_code=HTTP_200_OK,
    )
    async def search(
        self, request: Request[Any, Any, Any], data: JSONBody[SearchRequest], principal: Caller
    ) -> SearchResponse:
        assert principal.tenant_id is not None
        retrieval = _retrieval(request)
        cache: TenantConfigCache = request.app.state.tenant_config
        config = await cache.get(principal.tenant_id)
        corpora = retrieval.choose_corpora(data.corpora, config.enabled_plugins)
        raw_filters = msgspec.to_builtins(data.filters) if data.filters else None
        filters = filters_from(
            {
                k: (date.fromisoformat(v) if k == "effective_date" else v)
                for k, v in raw_filters.items()
                if v is not None
            }
            if raw_filters
            else None
        )
        passages = await retrieval.search(
            principal.tenant_id, data.query, corpora=corpora, filters=filters, k=data.k
        )
        return SearchResponse(
            passages=[
                PassageOut(
                    document_id=p.document_id,
                    version=p.version,
                    corpus=p.corpus,
                    title=p.title,
                    section_id=p.section_id,
                    heading=p.heading,
                    page=p.page,
                    start=p.start,
                    end=p.end,
                    text=p.text,
                    score=p.score,
                    source_url=p.source_url,
                    metadata=p.metadata,
                )
                for p in passages
            ],
            corpora=corpora,
        )
