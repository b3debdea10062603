"""Deviations (classification, occurrence and awareness dates, due dates with extension requests) and CAPA
(actions with owners and due dates, an effectiveness check). The scheduled jobs in tasks.py announce what
falls due."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from lumen.plugins.gmp.models import GmpCapa, GmpCapaAction, GmpDeviation, GmpExtension, GmpSigner
from lumen.plugins.gmp.repository import (
    CapaActionRepository,
    CapaRepository,
    CounterRepository,
    DeviationRepository,
    DocumentRepository,
    ExtensionRepository,
    SignerRepository,
)
from lumen.plugins.gmp.schemas import (
    ActionCompleteIn,
    CapaActionOut,
    CapaIn,
    CapaOut,
    CloseIn,
    DeviationIn,
    DeviationOut,
    EffectivenessIn,
    ExtensionDecisionIn,
    ExtensionIn,
    ExtensionOut,
)
from lumen.plugins.gmp.service import bad_input, settings_of
from lumen.plugins.sdk import Conflict, NotFound, PluginContext

__all__ = ["CapaService", "DeviationService"]

# Awareness cannot be later than "now" by more than clock skew.
_SKEW = timedelta(minutes=5)


async def _signer(ctx: PluginContext, signer_id: uuid.UUID, key: str) -> GmpSigner:
    signer = await ctx.repository(SignerRepository).get(signer_id)
    if signer is None or not signer.active:
        raise bad_input(key, "no active signer with this id in this tenant")
    return signer


async def _number(ctx: PluginContext, prefix: str, now: datetime) -> str:
    value = await ctx.repository(CounterRepository).next(f"{prefix}-{now.year}")
    return f"{prefix}-{now.year}-{value:04d}"


def _actor(signer: GmpSigner) -> dict[str, object]:
    return {"id": str(signer.id), "roles": list(signer.roles)}


class DeviationService:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.deviations = ctx.repository(DeviationRepository)
        self.extensions = ctx.repository(ExtensionRepository)

    async def get(self, deviation_id: uuid.UUID) -> GmpDeviation:
        row = await self.deviations.get(deviation_id)
        if row is None:
            raise NotFound("No deviation with this id.")
        return row

    async def create(self, body: DeviationIn, now: datetime) -> DeviationOut:
        for key, value in (("occurred_at", body.occurred_at), ("discovered_at", body.discovered_at)):
            if value.tzinfo is None:
                raise bad_input(key, "a date and time needs its UTC offset")
            if value > now + _SKEW:
                raise bad_input(key, "cannot be in the future")
        if body.discovered_at < body.occurred_at:
            raise bad_input("discovered_at", "awareness cannot come before the occurrence")
        reporter = await _signer(self.ctx, body.reported_by_signer_id, "reported_by_signer_id")
        if (
            body.document_id is not None
            and await self.ctx.repository(DocumentRepository).get(body.document_id) is None
        ):
            raise bad_input("document_id", "no document with this id in this tenant")
        due = body.due_date or (
            body.discovered_at.date() + timedelta(days=settings_of(self.ctx).deviation_due_days)
        )
        if due < body.discovered_at.date():
            raise bad_input("due_date", "cannot be before the awareness date")
        row = GmpDeviation(
            id=uuid.uuid4(),
            number=await _number(self.ctx, "DEV", now),
            title=body.title,
            classification=body.classification,
            occurred_at=body.occurred_at,
            discovered_at=body.discovered_at,
            due_date=due,
            status="open",
            description=body.description,
            reported_by_signer_id=reporter.id,
            document_id=body.document_id,
        )
        await self.deviations.add(row)
        self.ctx.audit(
            "gmp.deviation.created",
            resource_type="gmp_deviation",
            resource_id=str(row.id),
            changed_fields=sorted(f for f in body.__struct_fields__ if getattr(body, f) is not None),
            details={
                "signer_id": str(reporter.id),
                "classification": row.classification,
                "due_date": due.isoformat(),
            },
        )
        return self.out(row, [], now)

    async def request_extension(
        self, deviation_id: uuid.UUID, body: ExtensionIn, now: datetime
    ) -> DeviationOut:
        row = await self.get(deviation_id)
        requester = await _signer(self.ctx, body.requested_by_signer_id, "requested_by_signer_id")
        if row.status != "open":
            raise Conflict("The deviation is closed.")
        if body.requested_due_date <= row.due_date:
            raise bad_input("requested_due_date", f"must be later than the current due date {row.due_date}")
        if body.requested_due_date > row.due_date + timedelta(days=365):
            raise bad_input("requested_due_date", "at most a year beyond the current due date")
        if await self.extensions.pending(row.id):
            raise Conflict("An extension request for this deviation is already awaiting a decision.")
        await self.extensions.add(
            GmpExtension(
                id=uuid.uuid4(),
                deviation_id=row.id,
                requested_by_signer_id=requester.id,
                reason=body.reason,
                previous_due_date=row.due_date,
                requested_due_date=body.requested_due_date,
                status="requested",
            )
        )
        self.ctx.audit(
            "gmp.deviation.extension_requested",
            resource_type="gmp_deviation",
            resource_id=str(row.id),
            details={
                "signer_id": str(requester.id),
                "reason": body.reason,
                "requested_due_date": body.requested_due_date.isoformat(),
            },
        )
        return await self.one(row.id, now)

    async def decide_extension(
        self, deviation_id: uuid.UUID, extension_id: uuid.UUID, body: ExtensionDecisionIn, now: datetime
    ) -> DeviationOut:
        row = await self.get(deviation_id)
        extension = await self.extensions.get(extension_id)
        if extension is None or extension.deviation_id != row.id:
            raise NotFound("No extension request with this id on this deviation.")
        decider = await _signer(self.ctx, body.decided_by_signer_id, "decided_by_signer_id")
        if extension.status != "requested":
            raise Conflict(f"This extension request was already {extension.status}.")
        await self.ctx.authorize(
            {
                "type": "gmp_deviation",
                "operation": "decide_extension",
                "actor": _actor(decider),
                "requester_id": str(extension.requested_by_signer_id),
            }
        )
        extension.status = "approved" if body.approve else "rejected"
        extension.decided_by_signer_id, extension.decided_at = decider.id, now
        if body.approve:
            row.due_date = extension.requested_due_date
            row.overdue_notified_at = None  # due again later: announce again if that passes too
        self.ctx.audit(
            "gmp.deviation.extension_decided",
            resource_type="gmp_deviation",
            resource_id=str(row.id),
            details={
                "signer_id": str(decider.id),
                "extension_id": str(extension.id),
                "approved": body.approve,
            },
        )
        return await self.one(row.id, now)

    async def close(self, deviation_id: uuid.UUID, body: CloseIn, now: datetime) -> DeviationOut:
        row = await self.get(deviation_id)
        closer = await _signer(self.ctx, body.signer_id, "signer_id")
        if row.status != "open":
            raise Conflict("The deviation is already closed.")
        await self.ctx.authorize({"type": "gmp_deviation", "operation": "close", "actor": _actor(closer)})
        row.status, row.closed_at = "closed", now
        self.ctx.audit(
            "gmp.deviation.closed",
            resource_type="gmp_deviation",
            resource_id=str(row.id),
            details={"signer_id": str(closer.id), "reason": body.reason},
        )
        return await self.one(row.id, now)

    async def one(self, deviation_id: uuid.UUID, now: datetime) -> DeviationOut:
        row = await self.get(deviation_id)
        return self.out(row, (await self.extensions.for_deviations([row.id]))[row.id], now)

    async def page(
        self, cursor: str | None, limit: int, now: datetime
    ) -> tuple[list[DeviationOut], str | None]:
        rows, next_cursor = await self.deviations.page(cursor=cursor, limit=limit)
        extensions = await self.extensions.for_deviations([r.id for r in rows])
        return [self.out(r, extensions[r.id], now) for r in rows], next_cursor

    def out(self, row: GmpDeviation, extensions: list[GmpExtension], now: datetime) -> DeviationOut:
        return DeviationOut(
            id=row.id,
            number=row.number,
            title=row.title,
            classification=row.classification,
            occurred_at=row.occurred_at,
            discovered_at=row.discovered_at,
            due_date=row.due_date,
            overdue=row.status == "open" and row.due_date < now.date(),
            status=row.status,
            description=row.description,
            reported_by_signer_id=row.reported_by_signer_id,
            document_id=row.document_id,
            closed_at=row.closed_at,
            extensions=[
                ExtensionOut(
                    id=e.id,
                    requested_by_signer_id=e.requested_by_signer_id,
                    reason=e.reason,
                    previous_due_date=e.previous_due_date,
                    requested_due_date=e.requested_due_date,
                    status=e.status,
                    decided_by_signer_id=e.decided_by_signer_id,
                    decided_at=e.decided_at,
                )
                for e in extensions
            ],
            created_at=row.created_at,
        )


class CapaService:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.capas = ctx.repository(CapaRepository)
        self.actions = ctx.repository(CapaActionRepository)

    async def get(self, capa_id: uuid.UUID) -> GmpCapa:
        row = await self.capas.get(capa_id)
        if row is None:
            raise NotFound("No CAPA with this id.")
        return row

    async def create(self, body: CapaIn, now: datetime) -> CapaOut:
        owner = await _signer(self.ctx, body.owner_signer_id, "owner_signer_id")
        if (
            body.deviation_id is not None
            and await self.ctx.repository(DeviationRepository).get(body.deviation_id) is None
        ):
            raise bad_input("deviation_id", "no deviation with this id in this tenant")
        for i, action in enumerate(body.actions):
            await _signer(self.ctx, action.owner_signer_id, f"actions[{i}].owner_signer_id")
            if action.due_date < now.date():
                raise bad_input(f"actions[{i}].due_date", "cannot be in the past")
        check_due = body.effectiveness_check_due or (
            now.date() + timedelta(days=settings_of(self.ctx).capa_effectiveness_days)
        )
        if check_due < now.date():
            raise bad_input("effectiveness_check_due", "cannot be in the past")
        capa = GmpCapa(
            id=uuid.uuid4(),
            number=await _number(self.ctx, "CAPA", now),
            title=body.title,
            deviation_id=body.deviation_id,
            owner_signer_id=owner.id,
            status="open",
            effectiveness_criteria=body.effectiveness_criteria,
            effectiveness_check_due=check_due,
        )
        await self.capas.add(capa)
        for action in body.actions:
            await self.actions.add(
                GmpCapaAction(
                    id=uuid.uuid4(),
                    capa_id=capa.id,
                    kind=action.kind,
                    description=action.description,
                    owner_signer_id=action.owner_signer_id,
                    due_date=action.due_date,
                )
            )
        self.ctx.audit(
            "gmp.capa.created",
            resource_type="gmp_capa",
            resource_id=str(capa.id),
            details={
                "signer_id": str(owner.id),
                "actions": len(body.actions),
                "effectiveness_check_due": check_due.isoformat(),
            },
        )
        return await self.one(capa.id)

    async def complete_action(
        self, capa_id: uuid.UUID, action_id: uuid.UUID, body: ActionCompleteIn, now: datetime
    ) -> CapaOut:
        capa = await self.get(capa_id)
        action = await self.actions.get(action_id)
        if action is None or action.capa_id != capa.id:
            raise NotFound("No action with this id on this CAPA.")
        signer = await _signer(self.ctx, body.completed_by_signer_id, "completed_by_signer_id")
        if action.completed_at is not None:
            raise Conflict("This action is already complete.")
        if capa.status == "closed":
            raise Conflict("The CAPA is closed.")
        action.completed_at, action.completed_by_signer_id, action.completion_note = now, signer.id, body.note
        self.ctx.audit(
            "gmp.capa.action_completed",
            resource_type="gmp_capa",
            resource_id=str(capa.id),
            details={"signer_id": str(signer.id), "action_id": str(action.id)},
        )
        return await self.one(capa.id)

    async def verify_effectiveness(self, capa_id: uuid.UUID, body: EffectivenessIn, now: datetime) -> CapaOut:
        capa = await self.get(capa_id)
        verifier = await _signer(self.ctx, body.verified_by_signer_id, "verified_by_signer_id")
        if capa.effectiveness_result is not None:
            raise Conflict("The effectiveness check is already recorded.")
        open_actions = [
            a for a in (await self.actions.for_capas([capa.id]))[capa.id] if a.completed_at is None
        ]
        if open_actions:
            raise Conflict(f"{len(open_actions)} action(s) are not complete; complete them before the check.")
        await self.ctx.authorize(
            {"type": "gmp_capa", "operation": "verify_effectiveness", "actor": _actor(verifier)}
        )
        capa.effectiveness_result, capa.effectiveness_summary = body.result, body.summary
        capa.verified_by_signer_id, capa.verified_at = verifier.id, now
        capa.status = "closed" if body.result == "effective" else "not_effective"
        self.ctx.audit(
            "gmp.capa.effectiveness_verified",
            resource_type="gmp_capa",
            resource_id=str(capa.id),
            details={"signer_id": str(verifier.id), "result": body.result},
        )
        return await self.one(capa.id)

    async def one(self, capa_id: uuid.UUID) -> CapaOut:
        capa = await self.get(capa_id)
        return self.out(capa, (await self.actions.for_capas([capa.id]))[capa.id])

    async def page(self, cursor: str | None, limit: int) -> tuple[list[CapaOut], str | None]:
        rows, next_cursor = await self.capas.page(cursor=cursor, limit=limit)
        actions = await self.actions.for_capas([r.id for r in rows])
        return [self.out(r, actions[r.id]) for r in rows], next_cursor

    def out(self, capa: GmpCapa, actions: list[GmpCapaAction]) -> CapaOut:
        return CapaOut(
            id=capa.id,
            number=capa.number,
            title=capa.title,
            status=capa.status,
            deviation_id=capa.deviation_id,
            owner_signer_id=capa.owner_signer_id,
            effectiveness_criteria=capa.effectiveness_criteria,
            effectiveness_check_due=capa.effectiveness_check_due,
            effectiveness_result=capa.effectiveness_result,
            effectiveness_summary=capa.effectiveness_summary,
            verified_by_signer_id=capa.verified_by_signer_id,
            verified_at=capa.verified_at,
            actions=[
                CapaActionOut(
                    id=a.id,
                    kind=a.kind,
                    description=a.description,
                    owner_signer_id=a.owner_signer_id,
                    due_date=a.due_date,
                    completed_at=a.completed_at,
                    completed_by_signer_id=a.completed_by_signer_id,
                    completion_note=a.completion_note,
                )
                for a in actions
            ],
            created_at=capa.created_at,
        )
