"""Audit append throughput: hash-chained appends per second with concurrent writers, against plain inserts
of the same rows (no chain, no head lock) in the same run, on the embedded PostgreSQL.

Each append is one transaction (as a request's is): BEGIN, set the tenant, lock the chain head, read it,
insert the record, move the head, COMMIT. Writers of one tenant queue on the head lock: that serialisation
is what keeps the chain linear, and this measures what it costs. Writers of different tenants do not queue.

Run from the repository root in the project's virtualenv:

    python bench/audit.py                 # 8 writers, 3 s per case
    python bench/audit.py --writers 16 --seconds 5

Prints a table and writes JSON to bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from lumen.core.audit.service import AuditEntry, AuditTrail
from lumen.core.db.session import Database
from lumen.core.embedded import EmbeddedServices
from lumen.core.settings import Settings, load_settings
from lumen.core.tenancy.context import Scope

RESULTS = Path(__file__).parent / "results"

PLAIN_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS bench_plain (
    id uuid PRIMARY KEY, tenant_id uuid, action text, resource_id text, details jsonb, created_at timestamptz
)"""


async def _run(seconds: float, writers: int, work) -> float:  # type: ignore[no-untyped-def]
    done = 0
    stop = time.perf_counter() + seconds

    async def loop(n: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await work(n)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(n) for n in range(writers)))
    return done / (time.perf_counter() - started)


async def main(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    db = Database(settings.database)
    try:
        one_tenant = uuid.uuid4()
        tenants = [uuid.uuid4() for _ in range(args.writers)]

        async def chained_same(n: int) -> None:
            async with db.transaction(Scope.tenant(one_tenant)) as session:
                await AuditTrail(session, one_tenant).append(
                    [AuditEntry(action="bench.write", resource_id=str(n))]
                )

        async def chained_spread(n: int) -> None:
            tenant = tenants[n]
            async with db.transaction(Scope.tenant(tenant)) as session:
                await AuditTrail(session, tenant).append(
                    [AuditEntry(action="bench.write", resource_id=str(n))]
                )

        async def plain(n: int) -> None:
            async with db.transaction(Scope.tenant(one_tenant)) as session:
                await session.execute(text(PLAIN_TABLE))
                await session.execute(
                    text("INSERT INTO bench_plain VALUES (:id, :t, 'bench.write', :r, '{}', now())"),
                    {"id": uuid.uuid4(), "t": one_tenant, "r": str(n)},
                )

        cases = [
            ("plain insert (baseline)", plain, args.writers),
            ("chained, 1 tenant", chained_same, args.writers),
            ("chained, 1 writer", chained_same, 1),
            (f"chained, {args.writers} tenants", chained_spread, args.writers),
        ]
        for _, work, writers in cases:  # warm up connections and statement caches
            await _run(0.3, writers, work)
        rows = []
        for name, work, writers in cases:
            rate = await _run(args.seconds, writers, work)
            rows.append({"case": name, "writers": writers, "appends_per_s": round(rate, 1)})
        async with db.transaction(Scope.tenant(one_tenant)) as session:
            from lumen.core.audit.service import verify_chain

            report = await verify_chain(session, one_tenant)
        baseline = rows[0]["appends_per_s"]
        for row in rows:
            row["vs_baseline"] = round(float(row["appends_per_s"]) / float(baseline), 2)  # type: ignore[arg-type]
        return {
            "writers": args.writers,
            "seconds": args.seconds,
            "rows": rows,
            "chain_verified": report.ok,
            "chain_length": report.checked,
        }
    finally:
        await db.dispose()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=RESULTS / "audit.json")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="lumen-bench-")
    services = EmbeddedServices(load_settings({"LUMEN_DATA_DIR": data, "LUMEN_LOG_LEVEL": "warning"}))
    try:
        result = asyncio.run(main(args, services.start()))
    finally:
        services.stop()
        shutil.rmtree(data, ignore_errors=True)
    print(f"Audit append throughput, embedded PostgreSQL, {args.seconds:g} s per case")
    print(f"{'case':<28} {'writers':>7} {'appends/s':>10} {'vs baseline':>11}")
    print(f"{'-' * 28} {'-' * 7} {'-' * 10} {'-' * 11}")
    for row in result["rows"]:  # type: ignore[union-attr]
        rate, ratio = row["appends_per_s"], row["vs_baseline"]
        print(f"{row['case']:<28} {row['writers']:>7} {rate:>10,.1f} {ratio:>11.2f}")
    print(f"chain after the run: {result['chain_length']} records, verified: {result['chain_verified']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    cli()
