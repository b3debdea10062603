"""The isolation matrix, generated from the app's own route table: tenant B's key on tenant A's object is a
404 on every route that takes an id, and no list shows B another tenant's rows. A new route is covered the
moment it exists; a route whose id this file cannot make fails the test until a factory is added below.
A plugin's routes are checked with the plugin enabled for both tenants (disabled, everything is a 404)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from lumen.core.policy.actions import KERNEL_ACTIONS
from tests.conftest import TenantHandle, create_tenant
from tests.inference.pool.archives import adapter_files, tar_gz

# path parameter name -> makes an object owned by tenant A and returns its id
Factory = Callable[[httpx.AsyncClient, TenantHandle], Awaitable[str]]


async def _key_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    r = await client.post("/v1/keys", json={"name": "victim", "scopes": ["keys:read"]}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _tenant_of(_: httpx.AsyncClient, owner: TenantHandle) -> str:
    return str(owner.id)


async def _endpoint_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {"url": "https://hooks.example.com/lumen", "description": "victim"}
    r = await client.post("/v1/webhooks/endpoints", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _event_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    await _key_of(client, owner)  # emits api_key.created
    r = await client.get("/v1/webhooks/events", params={"type": "api_key.created"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["items"][-1]["id"])


async def _job_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    """No public route starts a job yet (ingestion and training will): make one as the owner's work would."""
    from lumen.core.db.session import Database
    from lumen.core.jobs.outbox import create_job
    from lumen.core.tenancy.context import Scope

    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    db = Database(settings.database)
    try:
        async with db.transaction(Scope.tenant(owner.id)) as session:
            job = await create_job(session, owner.id, "test.noop", {})
        return str(job.id)
    finally:
        await db.dispose()


async def _adapter_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    archive = tar_gz(adapter_files())
    files = {"file": ("victim.tar.gz", archive, "application/gzip")}
    r = await client.post("/v1/adapters", data={"name": "victim"}, files=files, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _interaction_rule_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {
        "a": ["drug:warfarin"],
        "b": ["class:nsaid"],
        "severity": "major",
        "mechanism": "Local policy.",
        "clinical_effect": "Bleeding.",
        "management": "Avoid.",
        "reference": "Formulary policy 1",
    }
    r = await client.post("/v1/interactions/rules", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _interview_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {"text": "Headache since this morning.", "age": 40, "sex": "male"}
    r = await client.post("/v1/triage/interviews", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _patient_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {"external_ref": "iso-1", "birth_date": "1970-01-01", "medications": ["warfarin"]}
    r = await client.post("/v1/patients", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _gmp_signer_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    import secrets

    body = {
        "user_id": "v" + secrets.token_hex(4),
        "full_name": "Victim Signer",
        "roles": ["author", "qa"],
        "password": "a long enough password",
    }
    r = await client.post("/v1/gmp/signers", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _gmp_template_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    import secrets

    key = "victim-" + secrets.token_hex(3)
    body = {
        "id": key,
        "name": "Victim template",
        "kind": "record",
        "description": "Owned by the victim tenant.",
        "numbering": {"prefix": "VT"},
        "fields": [{"id": "title", "label": "Title"}],
        "sections": [{"id": "body", "title": "Body", "guidance": "Anything."}],
    }
    r = await client.post("/v1/gmp/templates", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return key


async def _gmp_document_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {
        "template": "sop",
        "author_signer_id": await _gmp_signer_of(client, owner),
        "fields": {"title": "Victim SOP", "department": "QA", "scope": "All", "review_period_months": 12},
    }
    r = await client.post("/v1/gmp/documents", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _gmp_deviation(client: httpx.AsyncClient, owner: TenantHandle) -> dict[str, object]:
    signer = await _gmp_signer_of(client, owner)
    body = {
        "title": "Victim deviation",
        "classification": "minor",
        "occurred_at": "2026-11-01T08:00:00+00:00",
        "discovered_at": "2026-11-01T09:00:00+00:00",
        "reported_by_signer_id": signer,
    }
    r = await client.post("/v1/gmp/deviations", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    ask = {"requested_by_signer_id": signer, "requested_due_date": "2027-06-01", "reason": "Waiting."}
    r = await client.post(f"/v1/gmp/deviations/{r.json()['id']}/extensions", json=ask, headers=owner.headers)
    assert r.status_code == 201, r.text
    found: dict[str, object] = r.json()
    return found


async def _gmp_deviation_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    return str((await _gmp_deviation(client, owner))["id"])


async def _gmp_extension_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    extensions = (await _gmp_deviation(client, owner))["extensions"]
    assert isinstance(extensions, list)
    return str(extensions[0]["id"])


async def _gmp_capa(client: httpx.AsyncClient, owner: TenantHandle) -> dict[str, object]:
    signer = await _gmp_signer_of(client, owner)
    body = {
        "title": "Victim CAPA",
        "owner_signer_id": signer,
        "effectiveness_criteria": "Works.",
        "actions": [
            {"kind": "corrective", "description": "Fix.", "owner_signer_id": signer, "due_date": "2099-01-01"}
        ],
    }
    r = await client.post("/v1/gmp/capas", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    found: dict[str, object] = r.json()
    return found


async def _gmp_capa_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    return str((await _gmp_capa(client, owner))["id"])


async def _gmp_action_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    actions = (await _gmp_capa(client, owner))["actions"]
    assert isinstance(actions, list)
    return str(actions[0]["id"])


TRAINING_EXAMPLES = [
    {
        "messages": [
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }
    for i in range(6)
]


async def _training_dataset_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {"name": "victim", "examples": TRAINING_EXAMPLES}
    r = await client.post("/v1/training/datasets", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _training_run_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    dataset = await _training_dataset_of(client, owner)
    body = {"dataset": dataset, "hyperparameters": {"max_steps": 1}}
    r = await client.post("/v1/training/runs", json=body, headers=owner.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def _document_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {
        "title": f"victim-{uuid.uuid4().hex[:8]}",
        "text": "Owner's SOP text.",
        "content_type": "text/plain",
    }
    r = await client.post("/v1/documents", json=body, headers=owner.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def _gap_analysis_of(client: httpx.AsyncClient, owner: TenantHandle) -> str:
    body = {"document": "Owner's CAPA procedure.", "document_type": "capa", "background": True}
    r = await client.post("/v1/regulatory/gap-analysis", json=body, headers=owner.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


FACTORIES: dict[str, Factory] = {
    "dataset_id": _training_dataset_of,
    "run_id": _training_run_of,
    "adapter_id": _adapter_of,
    "key_id": _key_of,
    "tenant_id": _tenant_of,
    "endpoint_id": _endpoint_of,
    "event_id": _event_of,
    "job_id": _job_of,
    "interview_id": _interview_of,
    "patient_id": _patient_of,
    "rule_id": _interaction_rule_of,
    "signer_id": _gmp_signer_of,
    "template_id": _gmp_template_of,
    "document_id": _gmp_document_of,
    "deviation_id": _gmp_deviation_of,
    "extension_id": _gmp_extension_of,
    "capa_id": _gmp_capa_of,
    "action_id": _gmp_action_of,
    "analysis_id": _gap_analysis_of,
}
_SOMEONE = "00000000-0000-4000-8000-000000000001"
# Where two areas name their path parameter alike (`document_id` for a GMP document and for a retrieval
# document), the route's prefix picks the factory.
ROUTE_FACTORIES: dict[tuple[str, str], Factory] = {("/v1/documents", "document_id"): _document_of}
# A body that passes validation, so the answer is about the object, not the input.
BODIES: dict[tuple[str, str], object] = {
    ("POST", "/v1/triage/interviews/{interview_id}/answers"): {
        "question_id": "finding:thunderclap",
        "answer": "no",
    },
    ("PATCH", "/v1/gmp/signers/{signer_id}"): {"unlock": True},
    ("PATCH", "/v1/gmp/documents/{document_id}"): {"signer_id": _SOMEONE, "fields": {"scope": "x"}},
    ("POST", "/v1/gmp/documents/{document_id}/transitions"): {"to": "in_review", "signer_id": _SOMEONE},
    ("POST", "/v1/gmp/documents/{document_id}/signatures"): {
        "meaning": "authored",
        "signer_id": _SOMEONE,
        "user_id": "intruder",
        "password": "guess",
    },
    ("POST", "/v1/gmp/documents/{document_id}/revisions"): {
        "signer_id": _SOMEONE,
        "change": "minor",
        "reason": "Take over.",
    },
    ("POST", "/v1/gmp/deviations/{deviation_id}/extensions"): {
        "requested_by_signer_id": _SOMEONE,
        "requested_due_date": "2030-01-01",
        "reason": "Take over.",
    },
    ("POST", "/v1/gmp/deviations/{deviation_id}/extensions/{extension_id}/decision"): {
        "decided_by_signer_id": _SOMEONE,
        "approve": True,
    },
    ("POST", "/v1/gmp/deviations/{deviation_id}/close"): {"signer_id": _SOMEONE, "reason": "Take over."},
    ("POST", "/v1/gmp/capas/{capa_id}/actions/{action_id}/complete"): {
        "completed_by_signer_id": _SOMEONE,
        "note": "Take over.",
    },
    ("POST", "/v1/gmp/capas/{capa_id}/effectiveness"): {
        "verified_by_signer_id": _SOMEONE,
        "result": "effective",
        "summary": "Take over.",
    },
}


@dataclass(frozen=True)
class RouteCase:
    method: str
    template: str  # e.g. /v1/keys/{key_id}
    params: tuple[str, ...]
    platform_only: bool
    # A plugin's route: the plugin is enabled for both tenants first, or every answer would be a 404.
    plugin: str | None = None
    # Required query parameters: the answer is computed from input (e.g. a conversion), not a list of rows.
    needs_input: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _needs_input(app: Litestar, template: str, method: str) -> bool:
    item = (app.openapi_schema.paths or {}).get(template)
    operation = getattr(item, method.lower(), None)
    return any(p.required and p.param_in == "query" for p in getattr(operation, "parameters", None) or [])


def _cases(app: Litestar) -> list[RouteCase]:
    cases = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/v1/"):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                # Object ids only: `{name}` of a plugin names something global, not a tenant's row.
                params = tuple(p for p in re.findall(r"\{(\w+)\}", template) if p.endswith("_id"))
                spec = KERNEL_ACTIONS.get(handler.opt.get("action", ""))
                cases.append(
                    RouteCase(
                        method,
                        template,
                        params,
                        bool(spec and spec.platform),
                        plugin=handler.opt.get("plugin"),
                        needs_input=_needs_input(app, template, method),
                    )
                )
    return cases


def _route_cases() -> list[RouteCase]:
    from lumen.core.app import create_app
    from lumen.core.settings import load_settings

    # Building the app touches no server: the route table is all this needs.
    offline = load_settings(
        {"LUMEN_DATABASE_URL": "postgresql://nobody@/none", "LUMEN_REDIS_URL": "redis://x"}
    )
    return _cases(create_app(offline))


ROUTES = _route_cases()
ID_ROUTES = [c for c in ROUTES if c.params]
LIST_ROUTES = [
    c
    for c in ROUTES
    if "{" not in c.template and c.method == "GET" and not c.platform_only and not c.needs_input
]


async def _enable_plugin(client: httpx.AsyncClient, case: RouteCase, *tenants: TenantHandle) -> None:
    for tenant in tenants if case.plugin else ():
        r = await client.put(f"/v1/plugins/{case.plugin}", json={"enabled": True}, headers=tenant.headers)
        assert r.status_code == 200, r.text


def test_matrix_covers_the_kernel_routes() -> None:
    names = {str(c) for c in ID_ROUTES}
    assert {
        "GET /v1/keys/{key_id}",
        "DELETE /v1/keys/{key_id}",
        "POST /v1/keys/{key_id}/rotate",
        "GET /v1/tenants/{tenant_id}",
        "DELETE /v1/tenants/{tenant_id}",
    } <= names


@pytest.mark.parametrize("case", ID_ROUTES, ids=str)
async def test_other_tenants_object_is_not_found(client: httpx.AsyncClient, case: RouteCase) -> None:
    owner = await create_tenant(client)
    intruder = await create_tenant(client)
    await _enable_plugin(client, case, owner, intruder)
    prefix = "/".join(case.template.split("/")[:3])

    def factory(param: str) -> Factory | None:
        return ROUTE_FACTORIES.get((prefix, param)) or FACTORIES.get(param)

    missing = [p for p in case.params if factory(p) is None]
    assert not missing, f"{case}: add a factory for {missing} to tests/core/test_isolation.py"
    ids = {p: await factory(p)(client, owner) for p in case.params}  # type: ignore[misc]
    body = BODIES.get((case.method, case.template), {} if case.method in ("POST", "PATCH", "PUT") else None)

    async def call(values: dict[str, str]) -> httpx.Response:
        return await client.request(
            case.method, case.template.format(**values), headers=intruder.headers, json=body
        )

    response = await call(ids)
    if case.platform_only:
        # Function-level: a tenant key is refused whatever the id, so the answer reveals nothing.
        assert response.status_code == 403, response.text
        random_ids = {p: str(uuid.uuid4()) for p in case.params}
        assert (await call(random_ids)).json()["type"] == response.json()["type"]
    else:
        assert response.status_code == 404, f"{case}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json")
    # ...and the owner's object is untouched.
    check = await client.get("/v1/keys", headers=owner.headers)
    assert check.status_code == 200


@pytest.mark.parametrize("case", LIST_ROUTES, ids=str)
async def test_lists_never_show_another_tenants_rows(client: httpx.AsyncClient, case: RouteCase) -> None:
    owner = await create_tenant(client)
    owned = await _key_of(client, owner)
    viewer = await create_tenant(client)
    await _enable_plugin(client, case, owner, viewer)
    response = await client.get(case.template, headers=viewer.headers)
    assert response.status_code == 200, response.text
    assert str(owner.id) not in response.text
    assert owned not in response.text
    assert str(owner.key_id) not in response.text
