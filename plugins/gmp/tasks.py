"""Scheduled jobs: every run is for one tenant, in its own scope (the worker fans a schedule out to every
tenant with the plugin enabled). Each announces what fell due once, then marks it, so a repeated run or
a retried job sends nothing twice; an approved extension re-arms a deviation's announcement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lumen.plugins.gmp.repository import CapaRepository, DeviationRepository
from lumen.plugins.sdk import JobContext

__all__ = ["announce_due_capa_checks", "announce_overdue_deviations"]


async def announce_overdue_deviations(ctx: JobContext, **_: Any) -> dict[str, int]:
    now = datetime.now(UTC)
    async with ctx.transaction() as tx:
        rows = await tx.repository(DeviationRepository).overdue_unnotified(now.date())
        for row in rows:
            await tx.emit(
                "gmp.deviation.overdue",
                {
                    "deviation_id": str(row.id),
                    "number": row.number,
                    "classification": row.classification,
                    "due_date": row.due_date.isoformat(),
                    "days_overdue": (now.date() - row.due_date).days,
                },
            )
            row.overdue_notified_at = now
            await tx.audit(
                "gmp.deviation.overdue",
                resource_type="gmp_deviation",
                resource_id=str(row.id),
                details={"due_date": row.due_date.isoformat()},
            )
    return {"announced": len(rows)}


async def announce_due_capa_checks(ctx: JobContext, **_: Any) -> dict[str, int]:
    now = datetime.now(UTC)
    async with ctx.transaction() as tx:
        rows = await tx.repository(CapaRepository).effectiveness_due(now.date())
        for row in rows:
            await tx.emit(
                "gmp.capa.effectiveness_check_due",
                {
                    "capa_id": str(row.id),
                    "number": row.number,
                    "effectiveness_check_due": row.effectiveness_check_due.isoformat(),
                    "owner_signer_id": str(row.owner_signer_id),
                },
            )
            row.effectiveness_notified_at = now
            await tx.audit(
                "gmp.capa.effectiveness_check_due",
                resource_type="gmp_capa",
                resource_id=str(row.id),
                details={"effectiveness_check_due": row.effectiveness_check_due.isoformat()},
            )
    return {"announced": len(rows)}
