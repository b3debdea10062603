"""Retrieval: tenant documents (versions, chunks) under RLS; platform-shared corpora readable by every tenant.

Chunks carry a pgvector embedding (HNSW, cosine) and a generated tsvector (GIN) for the hybrid search.

Revision ID: 0013_retrieval
Revises: 0012_interaction_rules
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import PLATFORM_MATCH, enable_tenant_rls

revision: str = "0013_retrieval"
down_revision: str | None = "0012_interaction_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
DIMENSIONS = 384
TSV = "to_tsvector('english', coalesce(heading, '') || ' ' || coalesce(section_id, '') || ' ' || text)"


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
    ]


def _chunk_columns() -> list[sa.Column]:
    return [
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("heading", sa.String(500)),
        sa.Column("section_id", sa.String(200)),
        sa.Column("page", sa.Integer()),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(16)),
        sa.Column("document_type", sa.String(64)),
        sa.Column("effective_date", sa.Date()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


def _vector_and_text_search(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ADD COLUMN embedding vector({DIMENSIONS})")
    # Vectors stay in the row, uncompressed: an exact scan over a tenant's rows otherwise spends most of
    # its time fetching and decompressing TOASTed vectors (measured 3-4x slower).
    op.execute(f"ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE PLAIN")
    op.execute(f"ALTER TABLE {table} ADD COLUMN tsv tsvector GENERATED ALWAYS AS ({TSV}) STORED")
    op.execute(
        f"CREATE INDEX ix_{table}_embedding ON {table} USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64)"
    )
    op.execute(f"CREATE INDEX ix_{table}_tsv ON {table} USING gin (tsv)")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("current_version", sa.Integer(), nullable=False, server_default="0"),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_documents_tenant_id_tenants"),
        sa.UniqueConstraint("tenant_id", "title", name="uq_documents_tenant_id_title"),
    )
    op.create_index("ix_documents_tenant_id", "documents", ["tenant_id"])

    op.create_table(
        "document_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(300)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pages", sa.Integer()),
        sa.Column("job_id", sa.Uuid()),
        sa.Column("error", sa.String(500)),
        sa.Column("jurisdiction", sa.String(16)),
        sa.Column("document_type", sa.String(64)),
        sa.Column("effective_date", sa.Date()),
        sa.Column("ready_at", TS),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_document_versions"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_document_versions_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name="fk_document_versions_document_id_documents"),
        sa.UniqueConstraint("document_id", "version", name="uq_document_versions_document_id_version"),
    )
    op.create_index("ix_document_versions_tenant_id", "document_versions", ["tenant_id"])
    op.create_index("ix_document_versions_document_id", "document_versions", ["document_id"])
    op.create_index("ix_document_versions_content_hash", "document_versions", ["content_hash"])

    op.create_table(
        "document_chunks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_chunk_columns(),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_document_chunks"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_document_chunks_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name="fk_document_chunks_document_id_documents"),
        sa.ForeignKeyConstraint(["version_id"], ["document_versions.id"], ondelete="CASCADE",
                                name="fk_document_chunks_version_id_document_versions"),
    )
    op.create_index("ix_document_chunks_tenant_id", "document_chunks", ["tenant_id"])
    op.create_index("ix_document_chunks_document_id", "document_chunks", ["document_id"])
    op.create_index("ix_document_chunks_version_id", "document_chunks", ["version_id"])
    _vector_and_text_search("document_chunks")
    for table in ("documents", "document_versions", "document_chunks"):
        for statement in enable_tenant_rls(table):
            op.execute(statement)

    op.create_table(
        "corpus_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("corpus", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("plugin", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("section_id", sa.String(200)),
        sa.Column("jurisdiction", sa.String(16)),
        sa.Column("document_type", sa.String(64)),
        sa.Column("effective_date", sa.Date()),
        sa.Column("source_url", sa.String(2048)),
        sa.Column("metadata", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("current", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_corpus_documents"),
        sa.UniqueConstraint("corpus", "source_id", "version", name="uq_corpus_documents_corpus_source_id_version"),
        sa.UniqueConstraint("corpus", "source_id", "content_hash",
                            name="uq_corpus_documents_corpus_source_id_content_hash"),
    )
    op.create_table(
        "corpus_chunks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("corpus", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_chunk_columns(),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_corpus_chunks"),
        sa.ForeignKeyConstraint(["document_id"], ["corpus_documents.id"], ondelete="CASCADE",
                                name="fk_corpus_chunks_document_id_corpus_documents"),
    )
    op.create_index("ix_corpus_chunks_document_id", "corpus_chunks", ["document_id"])
    _vector_and_text_search("corpus_chunks")
    # Shared corpora: every scope reads them; only the platform scope (the corpus sync) writes them.
    for table in ("corpus_documents", "corpus_chunks"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT USING (true)")
        op.execute(f"CREATE POLICY {table}_platform_insert ON {table} FOR INSERT WITH CHECK ({PLATFORM_MATCH})")
        op.execute(f"CREATE POLICY {table}_platform_update ON {table} FOR UPDATE USING ({PLATFORM_MATCH}) "
                   f"WITH CHECK ({PLATFORM_MATCH})")
        op.execute(f"CREATE POLICY {table}_platform_delete ON {table} FOR DELETE USING ({PLATFORM_MATCH})")


def downgrade() -> None:
    for table in ("corpus_chunks", "corpus_documents", "document_chunks", "document_versions", "documents"):
        op.drop_table(table)
