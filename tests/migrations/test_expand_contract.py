"""Zero-downtime migrations (docs/operations.md): every migration is an *expand* step that the code of the
previous release still runs against, unless its docstring declares `Phase: contract` and names the release
whose expand step it completes. Read statically from migrations/versions/*.py (no database needed)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
MIGRATIONS = sorted(VERSIONS.glob("*.py"))

# Operations that break the previous release's code while it still runs (rolling deploy).
BREAKING_OPS = {"drop_table", "drop_column", "rename_table", "drop_constraint"}
BREAKING_SQL = re.compile(
    r"\b(DROP\s+(TABLE|COLUMN)|RENAME\s+(TO|COLUMN)|ALTER\s+COLUMN\s+\S+\s+(TYPE|SET\s+NOT\s+NULL))\b",
    re.IGNORECASE,
)


# CREATE [UNIQUE] INDEX without CONCURRENTLY, and the table it is ON ("{}" when an f-string names it).
PLAIN_INDEX_SQL = re.compile(
    r"\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY\b)(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON\s+(?:ONLY\s+)?(\S+)",
    re.IGNORECASE,
)
# Migrations this check cannot read right, each with the reason it lets them through.
KNOWN = {
    # Shipped before raw SQL was checked: it rebuilt the chunk tables' indexes with writes held. It has run
    # wherever it will run; a migration like it today must build them CONCURRENTLY.
    "2026_12_01_0020_retrieval_search": "shipped before raw SQL was checked",
}


def _upgrade(tree: ast.Module) -> ast.FunctionDef:
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade")


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _creators(tree: ast.Module) -> set[str]:
    """op.create_table, and the module's helpers that call it on their first parameter (`_tenant_table`)."""
    names = {"create_table"}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.args.args:
            first = fn.args.args[0].arg
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", None) == "create_table"
                    and node.args
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id == first
                ):
                    names.add(fn.name)
    return names


def _created_tables(tree: ast.Module, fn: ast.FunctionDef) -> set[str]:
    creators = _creators(tree)
    names = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if called in creators and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value))
    return names


def violations(source: str) -> list[str]:
    """What in this migration's upgrade() would break the previous release's code during a rollout."""
    tree = ast.parse(source)
    if re.search(r"^Phase:\s*contract\b", ast.get_docstring(tree) or "", re.MULTILINE):
        return []
    upgrade = _upgrade(tree)
    created = _created_tables(tree, upgrade)
    found: list[str] = []
    for node in ast.walk(upgrade):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        op, kw = node.func.attr, _keywords(node)
        line = f"line {node.lineno}: op.{op}"
        if op in BREAKING_OPS:
            found.append(f"{line} removes what the running release uses")
        elif op == "alter_column" and (
            {"new_column_name", "type_"} & set(kw)
            or (
                isinstance(kw.get("nullable"), ast.Constant) and kw["nullable"].value is False  # type: ignore[attr-defined]
            )
        ):
            found.append(f"{line} renames, retypes or tightens a column in place")
        elif op == "add_column":
            column = node.args[1] if len(node.args) > 1 else None
            if isinstance(column, ast.Call):
                ckw = _keywords(column)
                not_null = isinstance(ckw.get("nullable"), ast.Constant) and ckw["nullable"].value is False  # type: ignore[attr-defined]
                if not_null and "server_default" not in ckw:
                    found.append(f"{line} adds a NOT NULL column without a server default")
        elif op == "create_index" and len(node.args) > 1:
            table = node.args[1]
            if isinstance(table, ast.Constant) and table.value not in created:
                concurrently = kw.get("postgresql_concurrently")
                if not (isinstance(concurrently, ast.Constant) and concurrently.value is True):
                    found.append(f"{line} indexes an existing table without CONCURRENTLY (locks writes)")
        elif op == "execute" and node.args:
            sql = _sql_text(node.args[0])
            if sql is None:
                continue
            if BREAKING_SQL.search(sql):
                found.append(f"line {node.lineno}: SQL that drops, renames or tightens: {sql[:60]!r}")
            index = PLAIN_INDEX_SQL.search(sql)
            if index and index.group(1) not in created:
                found.append(
                    f"line {node.lineno}: SQL that indexes a table without CONCURRENTLY (locks writes): "
                    f"{sql[:60]!r}"
                )
    return found


def _sql_text(node: ast.expr) -> str | None:
    """The SQL of op.execute(...): a string, or an f-string with each placeholder as `{}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)  # type: ignore[misc]
    return None


def test_there_are_migrations_to_check() -> None:
    assert MIGRATIONS


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.stem)
def test_every_migration_is_an_expand_step(path: Path) -> None:
    if path.stem in KNOWN:
        pytest.skip(KNOWN[path.stem])
    assert violations(path.read_text()) == []


def test_the_known_exceptions_are_still_caught_and_still_exist() -> None:
    # An exception that no longer trips the check, or names no file, is stale: take it out.
    for stem in KNOWN:
        assert violations((VERSIONS / f"{stem}.py").read_text()) != []


EXPAND = '''"""Add a column."""
def upgrade() -> None:
    op.add_column("t", sa.Column("c", sa.Text(), nullable=True))
    op.add_column("t", sa.Column("d", sa.Text(), server_default="x", nullable=False))
'''


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('op.drop_column("t", "c")', "removes"),
        ('op.alter_column("t", "c", new_column_name="d")', "renames"),
        ('op.alter_column("t", "c", nullable=False)', "tightens"),
        ('op.add_column("t", sa.Column("c", sa.Text(), nullable=False))', "NOT NULL"),
        ('op.create_index("ix", "t", ["c"])', "CONCURRENTLY"),
        ('op.execute("ALTER TABLE t RENAME COLUMN a TO b")', "renames"),
        ('op.execute("CREATE INDEX ix ON t (c)")', "CONCURRENTLY"),
        ('op.execute(f"CREATE UNIQUE INDEX ix_{name} ON {table} (c)")', "CONCURRENTLY"),
    ],
)
def test_the_checker_catches_a_contract_step(body: str, problem: str) -> None:
    assert violations(EXPAND) == []
    found = violations(f'"""Change t."""\ndef upgrade() -> None:\n    {body}\n')
    assert len(found) == 1
    assert problem in found[0]


def test_a_declared_contract_step_may_remove_what_an_earlier_release_stopped_using() -> None:
    source = '"""Drop t.c.\n\nPhase: contract (expand shipped in 0.3: nothing reads t.c since)\n"""\n'
    assert violations(source + 'def upgrade() -> None:\n    op.drop_column("t", "c")\n') == []
