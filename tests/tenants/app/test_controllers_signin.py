"""The patient's sign-in and own profile over HTTP: one-time links, the session cookie, CSRF, isolation
between patients and tenants, hostile input, auditing, and the patient-bound app token."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from typing import Any

import httpx
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant

FORM = {"content-type": "application/x-www-form-urlencoded"}
PROFILE = {
    "birth_date": "1950-05-05",
    "sex": "female",
    "medications": [
        "warfarin",
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6809", "display": "metformin"},
    ],
    "conditions": ["atrial fibrillation"],
    "allergies": ["penicillin"],
}


async def brand(client: httpx.AsyncClient, t: TenantHandle, **extra: object) -> None:
    body = {"name": f"Brand {t.slug}", "primary_color": "#0a5c8a", **extra}
    r = await client.put("/v1/branding", json=body, headers=t.headers)
    assert r.status_code in (200, 201), r.text


async def new_patient(client: httpx.AsyncClient, t: TenantHandle, **profile: Any) -> str:
    r = await client.post("/v1/patients", json={**PROFILE, **profile}, headers=t.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_link(client: httpx.AsyncClient, t: TenantHandle, patient_id: str) -> dict[str, Any]:
    r = await client.post(f"/v1/patients/{patient_id}/app-links", headers=t.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def post_signin(
    client: httpx.AsyncClient, t: TenantHandle, code: str, **headers: str
) -> httpx.Response:
    return await client.post(f"/t/{t.slug}/signin", data={"code": code}, headers={**FORM, **headers})


def session_id(response: httpx.Response) -> str:
    found = re.search(r"lumen_patient=([A-Za-z0-9_-]{43})", response.headers.get("set-cookie", ""))
    assert found, response.headers.get("set-cookie")
    return found.group(1)


def cookie(sid: str) -> dict[str, str]:
    # The cookie is Secure: httpx would not send it to http://lumen.test, so tests send it by hand.
    return {"cookie": f"lumen_patient={sid}"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def signed_in(client: httpx.AsyncClient, t: TenantHandle, **profile: Any) -> tuple[str, str, str]:
    """(patient id, session id, CSRF token) of a freshly signed-in patient of `t`."""
    await brand(client, t)
    pid = await new_patient(client, t, **profile)
    r = await post_signin(client, t, (await new_link(client, t, pid))["code"])
    assert r.status_code == 303, r.text
    sid = session_id(r)
    page = await client.get(f"/t/{t.slug}/profile", headers=cookie(sid))
    assert page.status_code == 200, page.text
    return pid, sid, csrf_of(page.text)


async def audit_actions(client: httpx.AsyncClient, t: TenantHandle, patient_id: str) -> list[dict[str, Any]]:
    r = await client.get(
        "/v1/audit",
        params={"limit": 200, "resource_type": "patient", "resource_id": patient_id},
        headers=t.headers,
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


# --- issuing links -----------------------------------------------------------------------------------------


async def test_link_points_at_the_tenants_sign_in_page_with_the_code_in_the_fragment(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await brand(client, tenant_a)
    link = await new_link(client, tenant_a, await new_patient(client, tenant_a))
    assert link["url"] == f"http://lumen.test/t/{tenant_a.slug}/signin#code={link['code']}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", link["code"]) and link["expires_in"] == 600


async def test_link_code_is_stored_only_as_its_hash(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    await brand(client, tenant_a)
    pid = await new_patient(client, tenant_a)
    code = (await new_link(client, tenant_a, pid))["code"]
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        rows = (
            await conn.execute(
                text("SELECT row_to_json(l)::text, code_hash FROM patient_app_links l WHERE patient_id = :p"),
                {"p": pid},
            )
        ).all()
    assert len(rows) == 1
    assert code not in rows[0][0]
    assert bytes(rows[0][1]) == hashlib.sha256(code.encode()).digest()


async def test_link_for_another_tenants_patient_is_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await brand(client, tenant_a)
    await brand(client, tenant_b)
    pid = await new_patient(client, tenant_a)
    assert_problem(await client.post(f"/v1/patients/{pid}/app-links", headers=tenant_b.headers), 404)
    assert_problem(await client.post(f"/v1/patients/{uuid.uuid4()}/app-links", headers=tenant_a.headers), 404)


async def test_link_needs_the_app_and_its_profile_feature(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await new_patient(client, tenant_a)
    assert_problem(await client.post(f"/v1/patients/{pid}/app-links", headers=tenant_a.headers), 409)
    await brand(client, tenant_a, features=["triage"])
    assert_problem(await client.post(f"/v1/patients/{pid}/app-links", headers=tenant_a.headers), 409)


async def test_link_needs_patients_write(client: httpx.AsyncClient) -> None:
    reader = await create_tenant(client, scopes=["patients:read"])
    r = await client.post(f"/v1/patients/{uuid.uuid4()}/app-links", headers=reader.headers)
    assert_problem(r, 403)


# --- signing in ---------------------------------------------------------------------------------------------


async def test_sign_in_sets_a_strict_cookie_for_the_tenants_app_only(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await brand(client, tenant_a)
    code = (await new_link(client, tenant_a, await new_patient(client, tenant_a)))["code"]
    r = await post_signin(client, tenant_a, code)
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tenant_a.slug}/profile"
    flags = {part.strip().lower() for part in r.headers["set-cookie"].split(";")}
    assert {"httponly", "secure", "samesite=strict", f"path=/t/{tenant_a.slug}"} <= flags
    assert code not in r.headers["set-cookie"]


async def test_a_link_works_once(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    code = (await new_link(client, tenant_a, await new_patient(client, tenant_a)))["code"]
    assert (await post_signin(client, tenant_a, code)).status_code == 303
    replay = await post_signin(client, tenant_a, code)
    assert replay.status_code == 401 and "set-cookie" not in replay.headers
    assert "used already" in replay.text


async def test_an_expired_link_is_refused_like_an_unknown_one(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    await brand(client, tenant_a)
    pid = await new_patient(client, tenant_a)
    code = (await new_link(client, tenant_a, pid))["code"]
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        await conn.execute(
            text(
                "UPDATE patient_app_links SET expires_at = now() - interval '1 second' WHERE patient_id = :p"
            ),
            {"p": pid},
        )
    expired = await post_signin(client, tenant_a, code)
    unknown = await post_signin(client, tenant_a, secrets.token_urlsafe(32))
    assert expired.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", expired.text) == strip.sub("", unknown.text)  # no oracle for which case it was


async def test_tenant_a_code_does_not_work_on_tenant_b_and_is_not_used_up_there(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await brand(client, tenant_a)
    await brand(client, tenant_b)
    code = (await new_link(client, tenant_a, await new_patient(client, tenant_a)))["code"]
    assert (await post_signin(client, tenant_b, code)).status_code == 401
    assert (await post_signin(client, tenant_a, code)).status_code == 303


async def test_hostile_codes_are_refused_cleanly(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    for code in ["' OR 1=1 --", "x" * 5000, "é" * 43, "<script>alert(1)</script>", "a%00b", " " * 10]:
        r = await post_signin(client, tenant_a, code)
        assert r.status_code in (401, 422), (code[:20], r.status_code)
        assert "<script>alert(1)</script>" not in r.text
    r = await client.post(f"/t/{tenant_a.slug}/signin", content=b"\xff\xfe" * 10, headers=FORM)
    assert r.status_code == 422
    r = await client.post(f"/t/{tenant_a.slug}/signin", json={"code": "x"})
    assert r.status_code == 422


async def test_sign_in_from_another_site_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await brand(client, tenant_a)
    code = (await new_link(client, tenant_a, await new_patient(client, tenant_a)))["code"]
    r = await post_signin(client, tenant_a, code, origin="https://evil.example")
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = await post_signin(client, tenant_a, code, **{"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    r = await post_signin(client, tenant_a, code, origin="null")
    assert r.status_code == 403
    # The refused attempts did not use the code up.
    assert (await post_signin(client, tenant_a, code, origin="http://lumen.test")).status_code == 303


async def test_sign_in_attempts_are_rate_limited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    statuses = [
        (await post_signin(client, tenant_a, secrets.token_urlsafe(32))).status_code for _ in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429


async def test_sign_in_page_needs_the_profile_feature(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await brand(client, tenant_a, features=["triage"])
    assert (await client.get(f"/t/{tenant_a.slug}/signin")).status_code == 404
    assert (await client.get(f"/t/{tenant_a.slug}/profile")).status_code == 404


# --- the profile pages ------------------------------------------------------------------------------------


async def test_profile_shows_the_patients_own_data_and_is_audited(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, _ = await signed_in(client, tenant_a)
    r = await client.get(f"/t/{tenant_a.slug}/profile", headers=cookie(sid))
    assert r.status_code == 200
    assert "warfarin" in r.text and "metformin" in r.text and "penicillin" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    reads = [e for e in await audit_actions(client, tenant_a, pid) if e["action"] == "patients.read"]
    assert len(reads) >= 2 and {e["actor_kind"] for e in reads} == {"patient"}


async def test_profile_without_a_session_sends_to_sign_in(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await brand(client, tenant_a)
    for headers in [{}, cookie(secrets.token_urlsafe(32)), {"cookie": "lumen_patient=../../etc"}]:
        r = await client.get(f"/t/{tenant_a.slug}/profile", headers=headers)
        assert r.status_code == 303 and r.headers["location"] == f"/t/{tenant_a.slug}/signin"


async def test_tenant_a_session_on_tenant_b_reads_nothing(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    _, sid, csrf = await signed_in(client, tenant_a)
    await brand(client, tenant_b)
    r = await client.get(f"/t/{tenant_b.slug}/profile", headers=cookie(sid))
    assert r.status_code == 303 and "warfarin" not in r.text
    r = await client.get(f"/t/{tenant_b.slug}/profile/export", headers=cookie(sid))
    assert r.status_code == 303
    r = await client.post(
        f"/t/{tenant_b.slug}/profile",
        data={"csrf": csrf, "medications": "x"},
        headers={**FORM, **cookie(sid)},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tenant_b.slug}/signin"
    home = await client.get(f"/t/{tenant_b.slug}/", headers=cookie(sid))
    assert 'id="signed-in"' not in home.text
    session = await client.post(f"/t/{tenant_b.slug}/session", headers=cookie(sid))
    assert session.json()["patient_id"] is None


async def test_editing_the_profile_changes_the_record_and_keeps_codes(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, csrf = await signed_in(client, tenant_a)
    form = {
        "csrf": csrf,
        "birth_date": "1951-06-07",
        "sex": "female",
        "pregnancy_status": "",
        "conditions": "atrial fibrillation\nasthma",
        "medications": "metformin\n  ibuprofen  \nIBUPROFEN\n",
        "allergies": "",
    }
    r = await client.post(f"/t/{tenant_a.slug}/profile", data=form, headers={**FORM, **cookie(sid)})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tenant_a.slug}/profile?saved"
    stored = (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).json()
    assert stored["birth_date"] == "1951-06-07"
    assert stored["conditions"] == ["atrial fibrillation", "asthma"]
    assert stored["medications"][0]["code"] == "6809" and stored["medications"][1:] == ["ibuprofen"]
    assert stored["allergies"] == []
    update = [e for e in await audit_actions(client, tenant_a, pid) if e["action"] == "patients.update"]
    assert update[-1]["changed_fields"] == ["allergies", "birth_date", "conditions", "medications"]
    assert update[-1]["actor_kind"] == "patient"


async def test_profile_form_errors_name_the_field(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    pid, sid, csrf = await signed_in(client, tenant_a)
    cases = {
        "My medicines": {"medications": "\n".join(f"drug{i}" for i in range(101))},
        "Date of birth": {"birth_date": "2999-01-01"},
        "Sex": {"sex": "robot"},
        "external_ref": {"external_ref": "mine"},
        "My allergies": {"allergies": "x" * 300},
    }
    for label, fields in cases.items():
        r = await client.post(
            f"/t/{tenant_a.slug}/profile", data={"csrf": csrf, **fields}, headers={**FORM, **cookie(sid)}
        )
        assert r.status_code == 422, (label, r.status_code)
        assert f"{label}:" in r.text, label
    stored = (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).json()
    assert stored["birth_date"] == "1950-05-05" and stored["allergies"] == ["penicillin"]


async def test_profile_posts_need_the_sessions_csrf_token_and_same_origin(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, csrf = await signed_in(client, tenant_a)
    _, _, other_csrf = await signed_in(client, tenant_a)
    url = f"/t/{tenant_a.slug}/profile"
    for data, extra in [
        ({"allergies": ""}, {}),
        ({"csrf": other_csrf, "allergies": ""}, {}),
        ({"csrf": csrf, "allergies": ""}, {"origin": "https://evil.example"}),
        ({"csrf": csrf, "allergies": ""}, {"sec-fetch-site": "cross-site"}),
    ]:
        r = await client.post(url, data=data, headers={**FORM, **cookie(sid), **extra})
        assert r.status_code == 403, (data, extra)
    for path in ("/signout", "/profile/delete"):
        r = await client.post(
            f"/t/{tenant_a.slug}{path}", data={"confirm": "yes"}, headers={**FORM, **cookie(sid)}
        )
        assert r.status_code == 403, path
    stored = (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).json()
    assert stored["allergies"] == ["penicillin"]


async def test_oversized_form_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    _, sid, csrf = await signed_in(client, tenant_a)
    r = await client.post(
        f"/t/{tenant_a.slug}/profile",
        data={"csrf": csrf, "conditions": "a\n" * 40_000},
        headers={**FORM, **cookie(sid)},
    )
    # Too big to read: the session's token is not even looked at, so it is refused as a forged post.
    assert r.status_code in (403, 422)


async def test_export_downloads_the_profile_and_fhir_and_is_audited(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, _ = await signed_in(client, tenant_a)
    r = await client.get(f"/t/{tenant_a.slug}/profile/export", headers=cookie(sid))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    body = r.json()
    assert body["patient"]["id"] == pid and body["fhir"]["resourceType"] == "Bundle"
    assert any(e["action"] == "patients.export" for e in await audit_actions(client, tenant_a, pid))


async def test_delete_needs_confirmation_then_erases_and_signs_out(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, csrf = await signed_in(client, tenant_a)
    url = f"/t/{tenant_a.slug}/profile/delete"
    r = await client.post(url, data={"csrf": csrf}, headers={**FORM, **cookie(sid)})
    assert r.status_code == 422
    assert (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).status_code == 200
    r = await client.post(url, data={"csrf": csrf, "confirm": "yes"}, headers={**FORM, **cookie(sid)})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tenant_a.slug}/signin?erased"
    assert (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).status_code == 404
    assert (await client.get(f"/t/{tenant_a.slug}/profile", headers=cookie(sid))).status_code == 303
    assert any(e["action"] == "patients.delete" for e in await audit_actions(client, tenant_a, pid))


async def test_sign_out_ends_the_session(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    _, sid, csrf = await signed_in(client, tenant_a)
    r = await client.post(f"/t/{tenant_a.slug}/signout", data={"csrf": csrf}, headers={**FORM, **cookie(sid)})
    assert r.status_code == 303 and "max-age=0" in r.headers["set-cookie"].lower()
    assert (await client.get(f"/t/{tenant_a.slug}/profile", headers=cookie(sid))).status_code == 303


async def test_tenant_can_sign_a_patient_out_everywhere(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, _ = await signed_in(client, tenant_a)
    unused = (await new_link(client, tenant_a, pid))["code"]
    r = await client.delete(f"/v1/patients/{pid}/app-sessions", headers=tenant_a.headers)
    assert r.status_code == 204
    assert (await client.get(f"/t/{tenant_a.slug}/profile", headers=cookie(sid))).status_code == 303
    assert (await post_signin(client, tenant_a, unused)).status_code == 401


async def test_tenant_b_cannot_sign_out_tenant_as_patient(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid, sid, _ = await signed_in(client, tenant_a)
    assert_problem(await client.delete(f"/v1/patients/{pid}/app-sessions", headers=tenant_b.headers), 404)
    assert (await client.get(f"/t/{tenant_a.slug}/profile", headers=cookie(sid))).status_code == 200


async def test_erasing_the_patient_through_the_api_ends_their_sessions(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, _ = await signed_in(client, tenant_a)
    assert (await client.delete(f"/v1/patients/{pid}", headers=tenant_a.headers)).status_code == 204
    assert (await client.get(f"/t/{tenant_a.slug}/profile", headers=cookie(sid))).status_code == 303


async def test_no_phi_in_logs_or_urls(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    canary = "canarydrug" + secrets.token_hex(4)
    with structlog.testing.capture_logs() as logs:
        _, sid, csrf = await signed_in(client, tenant_a, medications=[canary])
        r = await client.post(
            f"/t/{tenant_a.slug}/profile",
            data={"csrf": csrf, "medications": canary + "\nother" + canary},
            headers={**FORM, **cookie(sid)},
        )
        assert r.status_code == 303 and canary not in r.headers["location"]
        await client.get(f"/t/{tenant_a.slug}/profile/export", headers=cookie(sid))
    assert canary not in repr(logs)
    assert sid not in repr(logs) and csrf not in repr(logs)


# --- the patient-bound app token ---------------------------------------------------------------------------


async def patient_token(client: httpx.AsyncClient, t: TenantHandle, sid: str) -> dict[str, Any]:
    r = await client.post(f"/t/{t.slug}/session", headers=cookie(sid))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_app_token_of_a_signed_in_patient_uses_their_profile(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid, sid, _ = await signed_in(client, tenant_a)
    session = await patient_token(client, tenant_a, sid)
    assert session["patient_id"] == pid and not any(s.startswith("patients") for s in session["scopes"])
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": pid},
        headers=bearer(session["token"]),
    )
    assert r.status_code == 200, r.text
    assert any("warfarin" in " ".join(i["drugs"]).lower() for i in r.json()["interactions"])
    reads = [e for e in await audit_actions(client, tenant_a, pid) if e["action"] == "patients.read"]
    assert reads[-1]["details"].get("via") and reads[-1]["actor_kind"] == "patient"


async def test_app_token_cannot_use_another_patients_profile(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    _, sid, _ = await signed_in(client, tenant_a)
    other = await new_patient(client, tenant_a)
    token = (await patient_token(client, tenant_a, sid))["token"]
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": other},
        headers=bearer(token),
    )
    assert_problem(r, 404)
    r = await client.post(
        "/v1/triage/assess", json={"text": "headache", "patient_id": other}, headers=bearer(token)
    )
    assert r.status_code in (403, 404)
    assert (await client.get(f"/v1/patients/{other}", headers=bearer(token))).status_code == 403
    assert (await client.get("/v1/patients", headers=bearer(token))).status_code == 403


async def test_app_token_of_tenant_a_patient_reaches_nothing_of_tenant_b(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    _, sid, _ = await signed_in(client, tenant_a)
    b_patient = await new_patient(client, tenant_b)
    token = (await patient_token(client, tenant_a, sid))["token"]
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": b_patient},
        headers=bearer(token),
    )
    assert_problem(r, 404)


async def test_forging_the_patient_in_an_app_token_breaks_it(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    import base64
    import json

    _, sid, _ = await signed_in(client, tenant_a)
    other = await new_patient(client, tenant_a)
    token = (await patient_token(client, tenant_a, sid))["token"]
    body, _, signature = token.removeprefix("lm_app_").partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["p"] = other
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": other},
        headers=bearer(f"lm_app_{forged_body}.{signature}"),
    )
    assert_problem(r, 401)


async def test_anonymous_app_token_still_cannot_read_a_profile(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await brand(client, tenant_a)
    pid = await new_patient(client, tenant_a)
    r = await client.post(f"/t/{tenant_a.slug}/session")
    assert r.json()["patient_id"] is None
    check = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": pid},
        headers=bearer(r.json()["token"]),
    )
    assert_problem(check, 403)
