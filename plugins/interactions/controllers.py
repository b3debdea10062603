"""The interaction checker's routes.

POST /v1/interactions/check            check a medication list (optionally with patient context)
GET/POST /v1/interactions/rules        the tenant's own rules; GET/DELETE /v1/interactions/rules/{rule_id}
GET /v1/drugs?q=                       search and autocomplete drug names
GET /v1/drugs/{drug}                   a drug monograph

Medication names and patient details are never logged (they can identify a patient's conditions).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from lumen.plugins.interactions.models import TenantInteractionRule
from lumen.plugins.interactions.repository import MAX_RULES_PER_TENANT, InteractionRuleRepository
from lumen.plugins.interactions.schemas import (
    MAX_MEDICATIONS,
    CheckRequest,
    CheckResult,
    DrugHit,
    DrugPage,
    Monograph,
    Patient,
    RuleIn,
    RuleOut,
    RulePage,
)
from lumen.plugins.interactions.service import (
    TENANT_RULES,
    check_for,
    checker,
    selector_problem,
    settings_of,
)
from lumen.plugins.sdk import Conflict, Context, NotFound, UnprocessableEntity

__all__ = ["DrugsController", "InteractionsController"]

Query = Annotated[
    str | None,
    QueryParameter(
        max_length=100,
        description="Start of a drug name, brand or UK/US name (any case); without it, the drugs A to Z.",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=50, description="How many results at most.")]
DrugParam = Annotated[
    str,
    PathParameter(max_length=100, description="An ingredient id (e.g. `simvastatin`) or any of its names."),
]
Cursor = Annotated[
    str | None, QueryParameter(max_length=200, description="`next_cursor` of the previous page.")
]
RulePageLimit = Annotated[int, QueryParameter(ge=1, le=200, description="How many rules at most.")]


def _rule_out(row: TenantInteractionRule) -> RuleOut:
    rule = row.rule
    return RuleOut(
        id=str(row.id),
        a=list(rule["a"]),
        b=list(rule["b"]),
        severity=rule["severity"],
        mechanism=rule["mechanism"],
        clinical_effect=rule["clinical_effect"],
        management=rule["management"],
        evidence=rule.get("evidence", "guideline"),
        reference=rule["reference"],
        created_at=row.created_at.isoformat(),
    )


class InteractionsController(Controller):
    path = "/v1/interactions"
    tags = ["interactions"]

    @post(
        "/check",
        operation_id="checkInteractions",
        summary="Check a medication list for interactions, duplicates and patient-specific cautions",
        status_code=HTTP_200_OK,
        opt={"action": "interactions.check"},
    )
    async def check(self, ctx: Context, data: CheckRequest) -> CheckResult:
        if data.patient_id is None:
            return await check_for(ctx, data.medications, data.patient)
        if data.patient is not None:
            raise UnprocessableEntity("patient_id: give either `patient` or `patient_id`, not both")
        profile = await ctx.patient(data.patient_id)
        patient = msgspec.convert(
            {
                "age": profile.get("age"),
                "sex": profile.get("sex"),
                "pregnant": profile.get("pregnant"),
                "conditions": profile.get("condition_names", [])[:50],
                "allergies": profile.get("allergy_names", [])[:50],
                "egfr": profile.get("egfr"),
            },
            Patient,
        )
        current = [m for m in profile.get("medication_names", []) if m not in data.medications]
        medications = [*data.medications, *current][:MAX_MEDICATIONS]
        return await check_for(ctx, medications, patient)

    @post(
        "/rules",
        operation_id="createInteractionRule",
        summary="Add a rule of the tenant's own (applied to this tenant's checks only)",
        status_code=HTTP_201_CREATED,
        opt={"action": "interactions.manage_rules"},
    )
    async def create_rule(self, ctx: Context, data: RuleIn) -> RuleOut:
        knowledge = checker().knowledge
        problem = selector_problem(knowledge, "a", data.a) or selector_problem(knowledge, "b", data.b)
        if problem:
            raise UnprocessableEntity(problem, slug="validation-error")
        repository = ctx.repository(InteractionRuleRepository)
        if await repository.count() >= MAX_RULES_PER_TENANT:
            raise Conflict(f"A tenant can hold at most {MAX_RULES_PER_TENANT} interaction rules.")
        row = await repository.add(
            TenantInteractionRule(severity=data.severity, rule=msgspec.to_builtins(data))
        )
        ctx.forget(TENANT_RULES)
        return _rule_out(row)

    @get(
        "/rules",
        operation_id="listInteractionRules",
        summary="The tenant's own interaction rules",
        opt={"action": "interactions.read"},
    )
    async def list_rules(self, ctx: Context, cursor: Cursor = None, limit: RulePageLimit = 50) -> RulePage:
        rows, next_cursor = await ctx.repository(InteractionRuleRepository).page(cursor=cursor, limit=limit)
        return RulePage(items=[_rule_out(r) for r in rows], next_cursor=next_cursor)

    @get(
        "/rules/{rule_id:uuid}",
        operation_id="getInteractionRule",
        summary="One of the tenant's interaction rules",
        opt={"action": "interactions.read"},
    )
    async def get_rule(self, ctx: Context, rule_id: uuid.UUID) -> RuleOut:
        row = await ctx.repository(InteractionRuleRepository).get(rule_id)
        if row is None:
            raise NotFound("No interaction rule with this id.")
        return _rule_out(row)

    @delete(
        "/rules/{rule_id:uuid}",
        operation_id="deleteInteractionRule",
        summary="Remove one of the tenant's interaction rules",
        status_code=HTTP_204_NO_CONTENT,
        opt={"action": "interactions.manage_rules"},
    )
    async def delete_rule(self, ctx: Context, rule_id: uuid.UUID) -> None:
        repository = ctx.repository(InteractionRuleRepository)
        row = await repository.get(rule_id)
        if row is None:
            raise NotFound("No interaction rule with this id.")
        await repository.delete(row)
        ctx.forget(TENANT_RULES)


class DrugsController(Controller):
    path = "/v1/drugs"
    tags = ["interactions"]

    @get(
        operation_id="searchDrugs",
        summary="Search drug names (ingredients, brands, US and UK names, combination products)",
        opt={"action": "interactions.read"},
    )
    async def search(self, ctx: Context, q: Query = None, limit: Limit = 10) -> DrugPage:
        engine = checker()
        knowledge = engine.knowledge
        if q is None or not q.strip():
            names = sorted(knowledge.ingredients.values(), key=lambda i: i.name.casefold())[:limit]
            hits = [
                DrugHit(id=i.id, name=i.name, uk_name=i.uk, matched=i.name, kind="ingredient") for i in names
            ]
        else:
            hits = []
            for ident, matched, kind in engine.search(q, limit):
                if kind == "product":
                    product = knowledge.products[ident]
                    hits.append(
                        DrugHit(id=ident, name=product.name, uk_name=None, matched=matched, kind="product")
                    )
                else:
                    ing = knowledge.ingredients[ident]
                    hits.append(
                        DrugHit(id=ident, name=ing.name, uk_name=ing.uk, matched=matched, kind="ingredient")
                    )
        return DrugPage(items=hits, knowledge_version=engine.version)

    @get(
        "/{drug:str}",
        operation_id="getDrug",
        summary="A drug monograph: names, classes, uses, key warnings, interaction profile and sources",
        opt={"action": "interactions.read"},
    )
    async def monograph(self, ctx: Context, drug: DrugParam) -> Monograph:
        engine = checker()
        ident = drug if drug in engine.knowledge.ingredients else None
        if ident is None:
            hit = engine.resolve(drug)
            ident = hit.ids[0] if hit is not None and len(hit.ids) == 1 else None
        found = engine.monograph(ident, settings_of(ctx).disclaimer) if ident else None
        if found is None:
            raise NotFound("No drug with this id or name; search with GET /v1/drugs?q=...")
        return found
