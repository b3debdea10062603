"""Templates, document creation, lifecycle and role separation (by policy), revisions and history."""

from __future__ import annotations

import httpx

from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.plugins.gmp.conftest import (
    SOP_FIELDS,
    effective_document,
    make_document,
    make_signer,
    make_team,
    sign,
    transition,
)

BUILT_INS = {
    "sop",
    "deviation-report",
    "investigation-report",
    "capa-plan",
    "change-control",
    "batch-record-review",
    "validation-protocol",
    "cleaning-validation-protocol",
}


async def test_every_built_in_template_is_listed_with_requirements(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get("/v1/gmp/templates", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    items = {t["id"]: t for t in r.json()["items"]}
    assert set(items) >= BUILT_INS
    assert "us-21cfr-211.192" in items["deviation-report"]["requirements"]
    assert all(items[t]["requirements"] for t in BUILT_INS)


async def test_a_template_shows_sections_fields_and_numbering(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get("/v1/gmp/templates/validation-protocol", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    template = r.json()["template"]
    assert template["numbering"]["prefix"] == "VP"
    stage = next(f for f in template["fields"] if f["id"] == "stage")
    assert "IQ/OQ/PQ" in stage["options"]
    assert {s["id"] for s in template["sections"]} >= {"objective", "tests", "acceptance"}


async def test_a_tenant_template_is_validated_versioned_and_private(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    body = {
        "id": "line-clearance",
        "name": "Line clearance record",
        "kind": "record",
        "description": "Confirms a packaging line is clear before the next batch.",
        "numbering": {"prefix": "LC", "digits": 5},
        "requirements": ["us-21cfr-211.130"],
        "fields": [{"id": "title", "label": "Title"}, {"id": "line", "label": "Line"}],
        "sections": [
            {"id": "checks", "title": "Checks", "guidance": "What was checked.", "fields": ["line"]}
        ],
    }
    first = await client.post("/v1/gmp/templates", json=body, headers=tenant_a.headers)
    assert first.status_code == 201, first.text
    second = await client.post("/v1/gmp/templates", json=body, headers=tenant_a.headers)
    assert second.json()["template"]["version"] == 2
    assert (await client.get("/v1/gmp/templates/line-clearance", headers=tenant_a.headers)).json()[
        "template"
    ]["version"] == 2
    assert_problem(await client.get("/v1/gmp/templates/line-clearance", headers=tenant_b.headers), 404)


async def test_a_tenant_template_referring_to_a_missing_field_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = {
        "id": "broken-one",
        "name": "Broken",
        "kind": "record",
        "description": "Refers to a field it lacks.",
        "numbering": {"prefix": "BR"},
        "fields": [{"id": "title", "label": "Title"}],
        "sections": [{"id": "a", "title": "A", "guidance": "A.", "fields": ["nope"]}],
    }
    problem = assert_problem(await client.post("/v1/gmp/templates", json=body, headers=tenant_a.headers), 422)
    assert "sections.a.fields" in problem["detail"]


async def test_a_schema_valid_template_breaking_a_template_rule_is_a_422(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    # schemathesis: a body valid under the documented schema was answered 400 (the status of a body that does
    # not match its schema); a rule the schema cannot state is a 422 naming the field.
    body = {
        "id": "no-title",
        "name": "No title",
        "kind": "sop",
        "description": "Lacks the title field every template needs.",
        "numbering": {"prefix": "NT"},
        "fields": [{"id": "a", "label": "A"}],
        "sections": [{"id": "a", "title": "A", "guidance": "A."}],
    }
    problem = assert_problem(await client.post("/v1/gmp/templates", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"] == [
        {
            "key": "fields",
            "message": "every template needs a 'title' field (it heads the document)",
            "source": "body",
        }
    ]


async def test_a_tenant_template_cannot_take_a_built_in_id(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = {
        "id": "sop",
        "name": "Mine",
        "kind": "sop",
        "description": "Shadowing the built-in.",
        "numbering": {"prefix": "MY"},
        "fields": [{"id": "title", "label": "Title"}],
        "sections": [{"id": "a", "title": "A", "guidance": "A."}],
    }
    problem = assert_problem(await client.post("/v1/gmp/templates", json=body, headers=tenant_a.headers), 422)
    assert problem["detail"].startswith("id:")


async def test_a_document_is_numbered_from_its_template_and_starts_as_draft(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    first = await make_document(client, tenant_a, author)
    second = await make_document(client, tenant_a, author)
    assert (first["number"], second["number"]) == ("SOP-0001", "SOP-0002")
    assert first["status"] == "draft" and first["version"] == "0.1"
    assert len(first["content_sha256"]) == 64
    assert "us-21cfr-211.100" in first["requirements"]


async def test_missing_required_field_names_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    fields = {k: v for k, v in SOP_FIELDS.items() if k != "scope"}
    body = {"template": "sop", "author_signer_id": author.id, "fields": fields}
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "fields.scope"


async def test_a_field_of_the_wrong_type_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    body = {
        "template": "sop",
        "author_signer_id": author.id,
        "fields": {**SOP_FIELDS, "review_period_months": "two years"},
    }
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "fields.review_period_months"


async def test_drafting_without_the_inference_pool_creates_the_document_and_says_so(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author, sections={}, draft_narratives=True)
    assert doc["drafting"]["requested"] is True
    assert doc["drafting"]["performed"] is False
    assert "not available" in doc["drafting"]["detail"]
    assert doc["machine_drafted"] is False
    assert all(s["text"] == "" for s in doc["sections"])


async def test_full_lifecycle_to_effective(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    team = await make_team(client, tenant_a)
    doc = await effective_document(client, tenant_a, team)
    assert doc["status"] == "effective"
    assert doc["version"] == "1.0"
    assert doc["effective_at"] is not None
    assert {s["meaning"] for s in doc["signatures"]} == {"authored", "reviewed", "approved"}
    assert all(s["valid"] for s in doc["signatures"])


async def test_approval_emits_the_document_approved_event(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await effective_document(client, tenant_a, team)
    r = await client.get(
        "/v1/webhooks/events", params={"type": "gmp.document.approved"}, headers=tenant_a.headers
    )
    events = r.json()["items"]
    assert [e["data"]["document_id"] for e in events] == [doc["id"]]
    assert events[0]["data"]["version"] == "1.0"


async def test_the_author_cannot_approve_their_own_document(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author", "approver", "qa"])
    doc = await make_document(client, tenant_a, author)
    assert (await transition(client, tenant_a, doc["id"], "in_review", author)).status_code == 200
    problem = assert_problem(await sign(client, tenant_a, doc["id"], author, "approved"), 403)
    assert "author of a document cannot approve it" in problem["detail"]
    problem = assert_problem(await transition(client, tenant_a, doc["id"], "approved", author), 403)
    assert "author" in problem["detail"]


async def test_approval_needs_an_approval_signature(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    problem = assert_problem(await transition(client, tenant_a, doc["id"], "approved", team.approver), 403)
    assert "approval signature" in problem["detail"]


async def test_a_reviewer_cannot_sign_as_approver(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    problem = assert_problem(await sign(client, tenant_a, doc["id"], team.reviewer, "approved"), 403)
    assert "approver or qa role" in problem["detail"]


async def test_effective_requires_qa_approval(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    assert (await sign(client, tenant_a, doc["id"], team.approver, "approved")).status_code == 201
    assert (await transition(client, tenant_a, doc["id"], "approved", team.approver)).status_code == 200
    # An approver (not QA) cannot make it effective, nor can QA without a QA approval signature.
    assert_problem(await transition(client, tenant_a, doc["id"], "effective", team.approver), 403)
    problem = assert_problem(await transition(client, tenant_a, doc["id"], "effective", team.qa), 403)
    assert "QA approval is required" in problem["detail"]
    assert (await sign(client, tenant_a, doc["id"], team.qa, "approved")).status_code == 201
    assert (await transition(client, tenant_a, doc["id"], "effective", team.qa)).status_code == 200


async def test_an_impossible_transition_is_a_conflict(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    problem = assert_problem(await transition(client, tenant_a, doc["id"], "effective", team.qa), 409)
    assert "draft" in problem["detail"]


async def test_review_needs_the_required_sections_written(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author, sections={})
    problem = assert_problem(await transition(client, tenant_a, doc["id"], "in_review", author), 422)
    assert problem["errors"][0]["key"].startswith("sections.")


async def test_editing_after_approval_needs_a_reason_and_leaves_approved(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    await sign(client, tenant_a, doc["id"], team.approver, "approved")
    assert (await transition(client, tenant_a, doc["id"], "approved", team.approver)).status_code == 200
    edit = {"signer_id": team.author.id, "sections": {"purpose": "A different purpose."}}
    problem = assert_problem(
        await client.patch(f"/v1/gmp/documents/{doc['id']}", json=edit, headers=tenant_a.headers), 422
    )
    assert problem["errors"][0]["key"] == "reason"
    edit["reason"] = "Clarified the purpose after the QA walk-through."
    r = await client.patch(f"/v1/gmp/documents/{doc['id']}", json=edit, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "draft"
    assert r.json()["version"] == "1.1"


async def test_a_revision_supersedes_the_effective_version(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await effective_document(client, tenant_a, team)
    r = await client.post(
        f"/v1/gmp/documents/{doc['id']}/revisions",
        json={"signer_id": team.author.id, "change": "major", "reason": "New detergent."},
        headers=tenant_a.headers,
    )
    assert r.status_code == 201, r.text
    revision = r.json()
    assert revision["number"] == doc["number"] and revision["version"] == "1.1"
    assert revision["previous_id"] == doc["id"]
    rid = revision["id"]
    await transition(client, tenant_a, rid, "in_review", team.author)
    await sign(client, tenant_a, rid, team.qa, "approved")
    approved = await transition(client, tenant_a, rid, "approved", team.qa)
    assert approved.json()["version"] == "2.0"
    assert (await transition(client, tenant_a, rid, "effective", team.qa)).status_code == 200
    old = (await client.get(f"/v1/gmp/documents/{doc['id']}", headers=tenant_a.headers)).json()
    assert old["status"] == "superseded"


async def test_retiring_needs_qa_and_a_reason(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    team = await make_team(client, tenant_a)
    doc = await effective_document(client, tenant_a, team)
    assert_problem(await transition(client, tenant_a, doc["id"], "retired", team.qa), 422)
    assert_problem(await transition(client, tenant_a, doc["id"], "retired", team.approver, "Obsolete."), 403)
    r = await transition(client, tenant_a, doc["id"], "retired", team.qa, "Equipment decommissioned.")
    assert r.json()["status"] == "retired"


async def test_history_shows_who_what_when_and_why(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    await sign(client, tenant_a, doc["id"], team.approver, "approved")
    await transition(client, tenant_a, doc["id"], "approved", team.approver)
    edit = {"signer_id": team.author.id, "fields": {"scope": "Suite B and C."}, "reason": "Suite C added."}
    await client.patch(f"/v1/gmp/documents/{doc['id']}", json=edit, headers=tenant_a.headers)
    r = await client.get(f"/v1/gmp/documents/{doc['id']}/history", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    actions = [e["action"] for e in entries]
    assert actions == [
        "gmp.document.created",
        "gmp.document.transitioned",
        "gmp.document.signed",
        "gmp.document.transitioned",
        "gmp.document.updated",
    ]
    update = entries[-1]
    assert update["reason"] == "Suite C added."
    assert update["signer_id"] == team.author.id
    assert update["changed_fields"] == ["fields.scope"]
    assert update["details"]["left_approved"] is True
    assert entries[3]["signer_id"] == team.approver.id


async def test_documents_are_per_tenant(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    other = await create_tenant(client)
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    assert_problem(await client.get(f"/v1/gmp/documents/{doc['id']}", headers=other.headers), 404)
    listing = (await client.get("/v1/gmp/documents", headers=other.headers)).json()
    assert listing["items"] == []
    # Another tenant's signer cannot author here either.
    body = {"template": "sop", "author_signer_id": author.id, "fields": SOP_FIELDS}
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=other.headers), 422)
    assert problem["errors"][0]["key"] == "author_signer_id"
