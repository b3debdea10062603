"""The patient app in a real browser: Debian's Chromium driven by Playwright against a live `lumen serve`.

Skipped (with the reason) where /usr/bin/chromium or the playwright package is missing; `.ci/run` installs
both. Screenshots go to $LUMEN_TEST_ARTIFACTS (default: the test's tmp dir) for the issue note.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import Server

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"
    ),
]
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACME = "Acme Care Companion"
BOLT = "Bolt Health Helper"


class App:
    def __init__(self, server: Server, platform_key: str, shots: Path) -> None:
        self.server, self.platform_key, self.shots = server, platform_key, shots
        self.keys: dict[str, str] = {}

    def tenant(self, slug: str) -> str:
        status, tenant = self.server.request(
            "POST", "/v1/tenants", {"slug": slug, "name": slug}, self.platform_key
        )
        assert status == 201, tenant
        assert isinstance(tenant, dict)
        status, key = self.server.request(
            "POST",
            f"/v1/tenants/{tenant['id']}/keys",
            {"name": "admin", "scopes": ["admin"]},
            self.platform_key,
        )
        assert status == 201 and isinstance(key, dict), key
        self.keys[slug] = str(key["key"])
        return self.keys[slug]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    data_dir = str(tmp_path_factory.mktemp("whitelabel"))
    platform_key = "lm_platform_" + secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(LUMEN_PLATFORM_KEY=platform_key, LUMEN_LOG_LEVEL="warning", LUMEN_SERVER__WORKERS="1")
    # Every test signs a patient in from 127.0.0.1: more than the default 10 a minute when the run is quick
    # (the limit itself is tested in test_controllers_signin.py).
    env.update(LUMEN_PATIENTS__APP_SIGNINS_PER_MINUTE="1000")
    shots = Path(os.environ.get("LUMEN_TEST_ARTIFACTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir, env, ready_timeout=240)  # the app imports spaCy, torch...: slow on busy CI
    try:
        live = App(server, platform_key, shots)
        acme = live.tenant("acmepharma")
        bolt = live.tenant("bolthealth")
        status, body = server.request(
            "PUT",
            "/v1/branding",
            {
                "name": ACME,
                "primary_color": "#0a7d5a",
                "locale": "en-GB",
                "emergency_text": "In an emergency call 999.",
                "support_text": "Acme patient line: 0800 000 111",
            },
            acme,
        )
        assert status == 201, body
        status, body = server.request(
            "PUT", "/v1/branding", {"name": BOLT, "primary_color": "#6a1b9a", "features": ["triage"]}, bolt
        )
        assert status == 201, body
        # Acme's patients are in the UK: the triage plugin names 999 in emergencies.
        status, body = server.request(
            "PUT", "/v1/plugins/triage", {"settings": {"emergency_number": "999"}}, acme
        )
        assert status == 200, body
        yield live
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(app: App) -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    try:
        yield page
    finally:
        context.close()


def finish_interview(page: Any, *, answer: str = "Not sure", limit: int = 25) -> int:
    """Answer the symptom check's questions one at a time until its result shows; the number answered."""
    result = page.locator("#result-triage .level")
    for asked in range(limit):
        # Either the result, or the next question ("Question 1", "Question 2"...).
        page.locator(
            f"#result-triage .level, #result-triage p.notice:text-is('Question {asked + 1}')"
        ).first.wait_for(timeout=15_000)
        if result.count():
            return asked
        question = page.locator("#result-triage fieldset.question")
        if question.locator("input").count():
            question.locator("input").fill("30")
            question.get_by_role("button", name="Answer", exact=True).click()
        else:
            question.get_by_role("button", name=answer, exact=True).click()
    raise AssertionError("the interview did not end")


def test_branding_shows_per_tenant(app: App, page: Any) -> None:
    response = page.goto(app.url("/t/acmepharma/"))
    assert response.status == 200
    assert page.title() == ACME
    assert page.locator("#app-name").inner_text() == ACME
    # The theme stylesheet applied the tenant's colour to the header.
    assert (
        page.eval_on_selector("header.brand", "e => getComputedStyle(e).backgroundColor")
        == "rgb(10, 125, 90)"
    )
    page.screenshot(path=str(app.shots / "acme-home.png"), full_page=True)
    page.goto(app.url("/t/bolthealth/"))
    assert page.locator("#app-name").inner_text() == BOLT
    assert (
        page.eval_on_selector("header.brand", "e => getComputedStyle(e).backgroundColor")
        == "rgb(106, 27, 154)"
    )
    page.screenshot(path=str(app.shots / "bolt-home.png"), full_page=True)


def test_tenant_a_page_never_shows_b(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/"))
    text = page.content()
    assert BOLT not in text and ACME in text
    page.goto(app.url("/t/bolthealth/"))
    text = page.content()
    assert ACME not in text and "Acme patient line" not in text
    # Bolt enabled only the symptom check.
    assert page.locator("#triage").count() == 1 and page.locator("#interactions").count() == 0


def test_interaction_check_shows_severity(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#interactions"))
    page.get_by_label("My medicines (one per line)").fill("warfarin\naspirin")
    page.get_by_role("button", name="Check interactions").click()
    card = page.locator("#result-interactions .interaction").first
    card.wait_for(timeout=15_000)
    severity = card.locator(".severity").inner_text()
    assert severity in {"Major", "Do not combine", "Moderate"}
    assert "Warfarin" in card.inner_text() or "warfarin" in card.inner_text().lower()
    assert page.locator("#result-interactions .disclaimer-text").count() == 1
    page.screenshot(path=str(app.shots / "acme-interactions.png"), full_page=True)
    assert page.console_errors == []


def test_drug_autocomplete_offers_names(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#interactions"))
    page.get_by_label("Find a medicine").fill("warf")
    # (wait_for_function would eval a string, which the page's CSP rightly forbids)
    page.locator("#drug-options option").first.wait_for(state="attached", timeout=10_000)
    values = page.eval_on_selector_all("#drug-options option", "os => os.map(o => o.value.toLowerCase())")
    assert any("warfarin" in v for v in values)
    page.get_by_role("button", name="Add to list").click()
    assert "warf" in page.get_by_label("My medicines (one per line)").input_value()


def test_triage_emergency_shows_the_tenants_number_first(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#triage"))
    page.get_by_label("Describe your symptoms").fill(
        "Crushing chest pain spreading to my left arm, sweating and short of breath for 20 minutes"
    )
    page.get_by_label("Age in years (optional)").fill("58")
    page.get_by_role("button", name="Check my symptoms").click()
    finish_interview(page)
    alert = page.locator("#result-triage .emergency")
    assert "Call 999 now." in alert.inner_text()
    # The emergency box comes before anything else in the result.
    first = page.eval_on_selector("#result-triage", "e => e.firstElementChild.className")
    assert "emergency" in first
    assert "Emergency" in page.locator("#result-triage .level").inner_text()
    page.screenshot(path=str(app.shots / "acme-triage-emergency.png"), full_page=True)


def test_triage_self_care_level(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#triage"))
    page.get_by_label("Describe your symptoms").fill(
        "I have had a runny nose and a mild sore throat for two days"
    )
    page.get_by_label("Age in years (optional)").fill("30")
    page.get_by_role("button", name="Check my symptoms").click()
    finish_interview(page, answer="No")
    assert page.locator("#result-triage .emergency").count() == 0
    assert page.locator("#result-triage .level").inner_text()
    page.screenshot(path=str(app.shots / "acme-triage-self-care.png"), full_page=True)


def test_otc_and_glossary_flows(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#otc"))
    page.get_by_label("What do you need help with?").fill("mild tension headache since this morning, adult")
    page.get_by_role("button", name="Suggest options").click()
    page.locator("#result-otc .disclaimer-text").wait_for(timeout=15_000)
    page.screenshot(path=str(app.shots / "acme-otc.png"), full_page=True)
    page.get_by_label("Word or phrase").fill("hypertension")
    page.get_by_role("button", name="Explain").click()
    page.locator("#result-glossary .term").first.wait_for(timeout=10_000)
    assert "blood pressure" in page.locator("#result-glossary").inner_text().lower()
    page.screenshot(path=str(app.shots / "acme-glossary.png"), full_page=True)


def test_qa_degrades_when_the_service_is_missing(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#qa"))
    page.get_by_label("Your question").fill("Can I take ibuprofen with a cold?")
    page.get_by_role("button", name="Ask").click()
    notice = page.locator("#result-qa .notice, #result-qa .answer").first
    notice.wait_for(timeout=15_000)
    assert notice.inner_text()
    page.screenshot(path=str(app.shots / "acme-qa.png"), full_page=True)


def test_keyboard_and_accessibility_basics(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/"))
    assert page.get_attribute("html", "lang") == "en-GB"
    # Every form control has a label pointing at it.
    unlabelled = page.eval_on_selector_all(
        "input, textarea, select",
        "els => els.filter(e => !document.querySelector(`label[for='${e.id}']`)).map(e => e.id || e.name)",
    )
    assert unlabelled == []
    # The first Tab reaches the skip link; following it moves focus into the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    # Keyboard only: tab into the symptom box, type, submit with Enter on the button.
    page.focus("#symptoms")
    page.keyboard.type("mild headache")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Check my symptoms"
    page.keyboard.press("Enter")
    # The interview's question (or result) takes the focus's place: answer it from the keyboard too.
    page.locator("#result-triage .level, #result-triage fieldset.question").first.wait_for(timeout=15_000)
    if page.locator("#result-triage fieldset.question").count():
        if page.evaluate("document.activeElement.tagName") == "INPUT":  # a number question (age)
            page.keyboard.type("30")
        else:
            assert page.evaluate("document.activeElement.textContent") == "Yes"
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # "No", or "Answer" for a number
        page.locator("#result-triage p.notice:text-is('Question 2'), #result-triage .level").first.wait_for(
            timeout=15_000
        )
    # Headings in order: one h1, then h2 per section.
    assert page.locator("h1").count() == 1


def test_csp_header_and_no_inline_code(app: App, page: Any) -> None:
    response = page.goto(app.url("/t/acmepharma/"))
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # The browser enforces it: an injected inline script does not run.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__pwned = 1';"
        " document.body.append(s); }"
    )
    assert page.evaluate("window.__pwned") is None


def test_unknown_tenant_is_404(app: App, page: Any) -> None:
    assert page.goto(app.url("/t/no-such-tenant/")).status == 404


def test_narrow_phone_has_no_horizontal_scroll(app: App, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(app.url("/t/acmepharma/"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(app.shots / "acme-360px.png"), full_page=True)
    finally:
        context.close()


def test_axe_finds_no_serious_violations(app: App, browser: Any) -> None:
    """axe-core (the engine browsers' dev tools use) on the page with results showing: no serious or
    critical violations. The context bypasses the CSP only so that axe's own script can be injected."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(app.url("/t/acmepharma/"))
        page.get_by_label("My medicines (one per line)").fill("warfarin\naspirin")
        page.get_by_role("button", name="Check interactions").click()
        page.locator("#result-interactions .interaction").first.wait_for(timeout=15_000)
        page.get_by_label("Describe your symptoms").fill("sudden weakness of one side of my face and arm")
        page.get_by_role("button", name="Check my symptoms").click()
        finish_interview(page)
        results = Axe().run(page)
        violations = results.response["violations"]
        (app.shots / "axe-report.txt").write_text(results.generate_report())
        serious = [
            (v["id"], v["impact"], len(v["nodes"]))
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], results.generate_report()
    finally:
        context.close()


def test_interview_asks_one_question_at_a_time(app: App, page: Any) -> None:
    page.goto(app.url("/t/acmepharma/#triage"))
    page.get_by_label("Describe your symptoms").fill("I have a headache")
    page.get_by_role("button", name="Check my symptoms").click()
    question = page.locator("#result-triage fieldset.question")
    question.wait_for(timeout=15_000)
    assert question.count() == 1 and question.locator("legend").inner_text().strip()
    page.screenshot(path=str(app.shots / "acme-triage-question.png"), full_page=True)
    assert finish_interview(page, answer="No") >= 1
    assert page.locator("#result-triage .disclaimer-text").count() == 1


# --- the patient's sign-in and own profile ------------------------------------------------------------------


def new_patient(app: App, **profile: Any) -> str:
    body = {
        "birth_date": "1948-03-02",
        "sex": "female",
        "medications": ["warfarin"],
        "conditions": ["atrial fibrillation"],
        "allergies": ["penicillin"],
        **profile,
    }
    status, created = app.server.request("POST", "/v1/patients", body, app.keys["acmepharma"])
    assert status == 201 and isinstance(created, dict), created
    return str(created["id"])


def sign_in_link(app: App, patient_id: str) -> str:
    status, link = app.server.request(
        "POST", f"/v1/patients/{patient_id}/app-links", None, app.keys["acmepharma"]
    )
    assert status == 201 and isinstance(link, dict), link
    assert str(link["url"]).startswith(app.url("/t/acmepharma/signin#code="))
    return str(link["url"])


def sign_in(app: App, page: Any, patient_id: str) -> None:
    page.goto(sign_in_link(app, patient_id))
    # The code moved from the fragment into the form, and out of the address bar.
    assert page.evaluate("location.hash") == ""
    assert len(page.get_by_label("Sign-in code").input_value()) == 43
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url == app.url("/t/acmepharma/profile"), (page.url, page.locator("main").inner_text())


def test_patient_signs_in_sees_and_edits_their_profile(app: App, page: Any) -> None:
    pid = new_patient(app)
    sign_in(app, page, pid)
    assert page.locator("h1").inner_text() == "My profile"
    assert "warfarin" in page.locator("#v-medications").inner_text()
    assert "penicillin" in page.locator("#v-allergies").inner_text()
    # The session cookie is for Acme's app only, and script cannot read it.
    cookies = [c for c in page.context.cookies() if c["name"] == "lumen_patient"]
    assert len(cookies) == 1 and cookies[0]["path"] == "/t/acmepharma"
    assert cookies[0]["httpOnly"] and cookies[0]["secure"] and cookies[0]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    page.screenshot(path=str(app.shots / "acme-profile.png"), full_page=True)
    page.get_by_label("My medicines (one per line)").fill("warfarin\nsimvastatin")
    page.get_by_label("My allergies (one per line)").fill("penicillin\nlatex")
    page.get_by_role("button", name="Save my profile").click()
    page.wait_for_url(app.url("/t/acmepharma/profile?saved"))
    assert page.locator("#profile-notice").inner_text() == "Your profile is saved."
    assert "simvastatin" in page.locator("#v-medications").inner_text()
    status, stored = app.server.request("GET", f"/v1/patients/{pid}", None, app.keys["acmepharma"])
    assert status == 200 and isinstance(stored, dict)
    assert stored["medications"] == ["warfarin", "simvastatin"] and stored["allergies"] == [
        "penicillin",
        "latex",
    ]
    page.screenshot(path=str(app.shots / "acme-profile-saved.png"), full_page=True)
    assert page.console_errors == []


def test_profile_form_error_names_the_field(app: App, page: Any) -> None:
    sign_in(app, page, new_patient(app))
    page.get_by_label("Date of birth").fill("2999-01-01")
    # The browser's own max= check would stop the post; the server must refuse it as well.
    page.eval_on_selector("#form-profile", "f => f.noValidate = true")
    page.get_by_role("button", name="Save my profile").click()
    alert = page.locator("#profile-error")
    alert.wait_for()
    assert alert.inner_text().startswith("Date of birth:")


def test_signed_in_medicine_check_uses_the_profile(app: App, page: Any) -> None:
    sign_in(app, page, new_patient(app))
    page.goto(app.url("/t/acmepharma/#interactions"))
    assert page.locator("#signed-in").inner_text() == "You are signed in."
    # Only ibuprofen typed: the warfarin in the profile makes the interaction.
    page.get_by_label("My medicines (one per line)").fill("ibuprofen")
    page.get_by_role("button", name="Check interactions").click()
    card = page.locator("#result-interactions .interaction").first
    card.wait_for(timeout=15_000)
    assert "warfarin" in page.locator("#result-interactions").inner_text().lower()
    assert page.locator("#result-interactions .uses-profile").count() == 1
    page.screenshot(path=str(app.shots / "acme-interactions-with-profile.png"), full_page=True)
    assert page.console_errors == []


def test_patient_signs_out(app: App, page: Any) -> None:
    sign_in(app, page, new_patient(app))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(app.url("/t/acmepharma/signin?signed_out"))
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.goto(app.url("/t/acmepharma/profile"))
    assert page.url == app.url("/t/acmepharma/signin")
    page.goto(app.url("/t/acmepharma/"))
    assert page.locator("#signed-in").count() == 0


def test_used_and_invalid_links_are_refused(app: App, page: Any) -> None:
    link = sign_in_link(app, new_patient(app))
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(app.url("/t/acmepharma/profile"))
    page.context.clear_cookies()
    for url in (link, app.url("/t/acmepharma/signin#code=" + secrets.token_urlsafe(32))):
        page.goto("about:blank")
        page.goto(url)
        page.get_by_role("button", name="Sign in").click()
        alert = page.locator("#signin-error")
        alert.wait_for()
        assert "does not work" in alert.inner_text()
        assert page.url == app.url("/t/acmepharma/signin")
    page.screenshot(path=str(app.shots / "acme-signin-refused.png"), full_page=True)


def test_acme_session_is_not_sent_to_bolt(app: App, page: Any) -> None:
    sign_in(app, page, new_patient(app))
    page.goto(app.url("/t/bolthealth/"))
    assert ACME not in page.content() and "signed in" not in page.content()
    # The browser keeps the cookie to Acme's path: Bolt's session request carries none, so no patient.
    body = page.evaluate(
        "async () => (await fetch('/t/bolthealth/session', {method: 'POST', credentials: 'same-origin'}))"
        ".json()"
    )
    assert body["patient_id"] is None


def test_patient_exports_their_data(app: App, page: Any) -> None:
    pid = new_patient(app)
    sign_in(app, page, pid)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download everything").click()
    import json

    exported = json.loads(Path(info.value.path()).read_text())
    assert exported["patient"]["id"] == pid and exported["fhir"]["resourceType"] == "Bundle"


def test_patient_deletes_their_data_after_confirming(app: App, page: Any) -> None:
    pid = new_patient(app)
    sign_in(app, page, pid)
    page.get_by_role("link", name="Delete my data").click()
    page.wait_for_url(app.url("/t/acmepharma/profile/delete"))
    page.screenshot(path=str(app.shots / "acme-delete-confirm.png"), full_page=True)
    page.get_by_label("I understand that my profile will be deleted for good").check()
    page.get_by_role("button", name="Delete my data").click()
    page.wait_for_url(app.url("/t/acmepharma/signin?erased"))
    assert "deleted" in page.get_by_role("status").inner_text()
    status, _ = app.server.request("GET", f"/v1/patients/{pid}", None, app.keys["acmepharma"])
    assert status == 404


def test_profile_pages_work_without_javascript(app: App, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        link = sign_in_link(app, new_patient(app))
        code = link.split("#code=", 1)[1]
        page.goto(app.url("/t/acmepharma/signin"))
        page.get_by_label("Sign-in code").fill(code)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(app.url("/t/acmepharma/profile"))
        page.get_by_label("My conditions (one per line)").fill("asthma")
        page.get_by_role("button", name="Save my profile").click()
        page.wait_for_url(app.url("/t/acmepharma/profile?saved"))
        assert "asthma" in page.locator("#v-conditions").inner_text()
    finally:
        context.close()


def test_patient_pages_keep_the_csp_and_have_no_axe_violations(app: App, browser: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    pid = new_patient(app)
    # First in a normal context: the CSP header is there and the browser reports no violation of it.
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        response = page.goto(sign_in_link(app, pid))
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(app.url("/t/acmepharma/profile"))
        cookies = context.cookies()
    finally:
        context.close()
    assert errors == []
    # Then axe, whose script needs the CSP bypassed, with the same session.
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    context.add_cookies(cookies)
    page = context.new_page()
    report: list[str] = []
    try:
        for path in ("/t/acmepharma/profile", "/t/acmepharma/profile/delete", "/t/acmepharma/"):
            page.goto(app.url(path))
            results = Axe().run(page)
            report.append(f"{path}\n{results.generate_report()}")
            assert results.response["violations"] == [], results.generate_report()
        page.context.clear_cookies()
        page.goto(app.url("/t/acmepharma/signin"))
        page.get_by_label("Sign-in code").fill("not-a-code")
        page.get_by_role("button", name="Sign in").click()  # the error state
        page.locator("#signin-error").wait_for()
        results = Axe().run(page)
        report.append(f"/t/acmepharma/signin (error)\n{results.generate_report()}")
        assert results.response["violations"] == [], results.generate_report()
    finally:
        (app.shots / "axe-report-patient.txt").write_text("\n\n".join(report))
        context.close()
