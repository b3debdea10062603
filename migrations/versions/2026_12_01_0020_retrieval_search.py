"""Retrieval search speed: indexes that start from the tenant (or corpus), and a tsvector kept in the row.

Profiled at 100k chunks over 100 tenants (EXPLAIN ANALYZE of the hybrid statement, see docs/retrieval.md):
- Full text: every candidate row's `tsv` was TOASTed out of line (a row is ~2.3 kB: the 1.5 kB vector is
  stored PLAIN), so matching and ranking a tenant's rows cost ~3 extra buffer reads and a decompression per
  row (15,800 buffers for a 5,000-chunk tenant). STORAGE MAIN keeps it inline (compressed); the chunk text,
  needed only for the final k rows, is the column moved out instead. Existing rows are rewritten once so the
  new storage applies to them (the generated column is recomputed).
- The shared `tsv` GIN index cannot start from a tenant: an OR query matches every tenant's rows. A
  (tenant_id, tsv) GIN (btree_gin) can; the corpus table gets (corpus, tsv).
- Vectors: the exact scan of a tenant's rows (recall 1.0) read every heap row (scattered when a tenant
  uploads over time). A covering btree (tenant_id) INCLUDE (id, embedding) makes it an index-only scan over
  the tenant's contiguous leaf pages, cheaper than the shared HNSW index with iterative scanning for tenants
  up to ~10k chunks (EXACT_BELOW in inference/retrieval/backend.py).

Revision ID: 0020_retrieval_search
Revises: 0016_training
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020_retrieval_search"
down_revision: str | None = "0016_training"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, owner column)
TABLES = (("document_chunks", "tenant_id"), ("corpus_chunks", "corpus"))


def _rewrite(table: str) -> None:
    """Rewrite every row so that its tsvector is stored under the new storage. RLS is FORCEd on both tables;
    the owner lifts it inside this transaction only."""
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"UPDATE {table} SET text = text")  # noqa: S608 (a fixed table name)
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")  # trusted: the database owner may create it
    for table, owner in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tsv SET STORAGE MAIN")
        _rewrite(table)
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_tsv")
        op.execute(f"CREATE INDEX ix_{table}_{owner}_tsv ON {table} USING gin ({owner}, tsv) WHERE active")
        op.execute(
            f"CREATE INDEX ix_{table}_{owner}_embedding ON {table} ({owner}) INCLUDE (id, embedding) "
            "WHERE active AND embedding IS NOT NULL"
        )


def downgrade() -> None:
    for table, owner in TABLES:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{owner}_embedding")
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{owner}_tsv")
        op.execute(f"CREATE INDEX ix_{table}_tsv ON {table} USING gin (tsv)")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tsv SET STORAGE EXTENDED")
