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
