"""Row-level security DDL for tenant-owned tables, used by migrations.

The policy reads the per-transaction settings that ``lumen.core.db.session`` applies at BEGIN:
``lumen.tenant_id`` (one tenant) and ``lumen.platform`` (the operator's scope, honoured only by the few
tables that opt in: tenants themselves and API keys, which must be found before the tenant is known).
With neither set, a tenant table shows no rows and accepts no writes: fail closed.
"""

from __future__ import annotations

__all__ = ["TENANT_MATCH", "disable_tenant_rls", "enable_tenant_rls"]

# nullif: after a SET LOCAL ends, a placeholder GUC reads '' (not NULL) for the rest of the session.
TENANT_MATCH = "{column} = nullif(current_setting('lumen.tenant_id', true), '')::uuid"
PLATFORM_MATCH = "current_setting('lumen.platform', true) = 'on'"


def enable_tenant_rls(
    table: str, *, column: str = "tenant_id", platform_access: bool = False, platform_rows: str | None = None
) -> list[str]:
    """SQL that enables and FORCEs RLS on `table` keyed on `column` (the owner is bound by it too).

    `platform_access` lets the platform scope see every row; `platform_rows` (an SQL condition) lets it see
    only the rows matching it, e.g. the operator's own audit chain (`tenant_id IS NULL`).
    """
    match = TENANT_MATCH.format(column=column)
    if platform_access:
        match = f"({match}) OR {PLATFORM_MATCH}"
    elif platform_rows:
        match = f"({match}) OR ({PLATFORM_MATCH} AND {platform_rows})"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_tenant_isolation ON {table} USING ({match}) WITH CHECK ({match})",
    ]


def disable_tenant_rls(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {table}_tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
