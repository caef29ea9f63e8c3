"""Mijn Zorgverlener in a real browser, on `zorg up` (what `make run` runs): headless Chromium
activates an account, logs in, sees its claims and their status and its invitation, and changes
the bank account with the password asked again; axe-core finds no WCAG 2.1 A/AA violation, and the
page breaks none of its own Content-Security-Policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_platform import _free_offset, _start_platform, _stop_platform
from tests.e2e.test_publication_browser import ARGS, CHROMIUM
from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.settings import ServiceSettings

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PRACTICE = "40000030"  # Psychologenpraktijk Van Dijk: claims and an invitation in the demo
PERSON = {"agb": PRACTICE, "name": "R. Jansen", "email": "r.jansen@vandijk.example", "birth_date": "1984-02-29"}
STATUS_NL = {
    "received": "Ontvangen",
    "pending": "In behandeling",
    "approved": "Goedgekeurd",
    "partially_approved": "Deels goedgekeurd",
    "rejected": "Afgewezen",
}


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA rules over the page as it is now. The script goes in through the
    DevTools protocol, which the page's CSP does not govern (the page itself loads nothing inline)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]]


def invitation_on_file(contracting: str, admin: dict[str, str]) -> dict[str, Any]:
    """The demo's invitation of the practice, as contracting lists it."""
    listed = httpx.get(f"{contracting}/invitations", params={"agb": PRACTICE}, headers=admin, timeout=10).json()
    return dict(listed["items"][0])


def test_a_provider_uses_mijn_zorgverlener_in_a_browser(tmp_path: Path) -> None:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright for Python: pip install playwright (no `playwright install`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium"
        )
    if not AXE.exists():
        pytest.fail(f"the browser test needs axe-core at {AXE}: npm install (make test does it)")

    offset, broker_port = _free_offset(), free_port()
    proc, lines = _start_platform(tmp_path / "var", offset, broker_port)
    try:
        out = "".join(lines)
        eligibility, claims = f"http://127.0.0.1:{8001 + offset}", f"http://127.0.0.1:{8003 + offset}"
        # `zorg up` tells how to log in to the demo account once the demo data is in.
        assert f"Mijn Zorgverlener: {eligibility}/portal/" in out and "demo@vandijk.example" in out, out

        admin = {"Authorization": f"Bearer {issue_token(ServiceSettings(_env_file=None), ['admin'])}"}  # type: ignore[call-arg]
        created = httpx.post(f"{eligibility}/portal/accounts", json=PERSON, headers=admin, timeout=10)
        assert created.status_code == 201, created.text
        code = created.json()["activation_code"]
        on_file = httpx.get(f"{claims}/claims", params={"agb": PRACTICE}, headers=admin, timeout=10).json()
        assert on_file["total"] >= 3, on_file
        claim = next(c for c in on_file["items"] if c["status"] != "received")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                context = browser.new_context(locale="nl-NL")
                page = context.new_page()
                csp_errors: list[str] = []
                page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
                page.goto(f"{eligibility}/portal/")
                expect(page.get_by_role("heading", level=1)).to_have_text("Mijn Zorgverlener")
                assert axe_violations(page) == []

                # Activate: the seed's rules beside the field, checked while typing.
                password = page.get_by_label("Nieuw wachtwoord").first
                password.fill("kort")
                rules = page.locator("#activeren-regels li")
                expect(rules.nth(0)).to_have_class("nok")  # 8 to 12 characters
                expect(rules.nth(1)).to_have_class("nok")  # a digit
                expect(rules.nth(2)).to_have_class("ok")  # a letter
                password.fill("Praktijk2024")
                for n in range(4):
                    expect(rules.nth(n)).to_have_class("ok")
                page.get_by_label("Activatiecode").fill(code)
                page.get_by_label("Geboortedatum").first.fill(PERSON["birth_date"])
                page.get_by_role("button", name="Activeren").click()
                expect(page.get_by_role("status").first).to_contain_text("Uw account is geactiveerd")

                # Log in with a wrong password first: one answer, in Dutch.
                page.get_by_label("E-mailadres").first.fill(PERSON["email"])
                page.locator("#inloggen-wachtwoord").fill("Verkeerd2024")
                page.get_by_role("button", name="Inloggen").click()
                expect(page.locator("#form-inloggen .fout")).to_contain_text("klopt niet")
                page.locator("#inloggen-wachtwoord").fill("Praktijk2024")
                page.get_by_role("button", name="Inloggen").click()
                expect(page.locator("#aanbieder-naam")).to_have_text("Psychologenpraktijk Van Dijk")

                # The claims, with their status and reasons; then filtered by status.
                table = page.locator("#declaraties tbody")
                row = table.locator("tr", has_text=claim["provider_reference"])
                expect(row).to_contain_text(STATUS_NL[claim["status"]])
                page.get_by_label("Status").select_option(claim["status"])
                page.get_by_role("button", name="Toon").click()
                expect(table.locator("tr")).to_have_count(
                    sum(1 for c in on_file["items"] if c["status"] == claim["status"])
                )
                assert axe_violations(page) == []

                # The invitation (GGZ-2021, digital route) carries the policy's questionnaire and can be
                # accepted from the page; on the demo's date (2023-06-01) contracting refuses, as the
                # policy's deadline has passed, and the page says so beside the invitation.
                invitation = page.locator("#uitnodigingen article").first
                expect(invitation).to_contain_text("GGZ-2021")
                invitation.get_by_role("group", name="Publiceert u uw actuele wachttijden").get_by_label("Ja").check()
                invitation.get_by_role("group", name="Levert u ROM-gegevens").get_by_label("Nee").check()
                invitation.get_by_label("Hoeveel regiebehandelaars").fill("3")
                invitation.get_by_label("Naam ondertekenaar").fill("R. Jansen")
                invitation.get_by_role("button", name="Accepteren en ondertekenen").click()
                expect(invitation.get_by_role("alert")).to_contain_text("2020-11-01")
                expect(page.locator("#contracten-aantal")).to_have_text("U hebt nog geen contracten.")

                # An invitation that can still be signed (served here by the browser's route, in the
                # shape contracting gives): the page asks the questions and sends the answers, an
                # optional question left empty left out.
                questionnaire = {
                    **invitation_on_file(f"http://127.0.0.1:{8002 + offset}", admin),
                    "id": "uitnodiging-met-vragen",
                    "questionnaire": [
                        {
                            "id": "KWALITEITSSTATUUT",
                            "text_nl": "Is uw kwaliteitsstatuut goedgekeurd?",
                            "text_en": "Is your quality statute approved?",
                            "answer": "yes_no",
                            "required": True,
                        },
                        {
                            "id": "WACHTTIJD",
                            "text_nl": "Gemiddelde wachttijd in weken",
                            "text_en": "Average waiting time in weeks",
                            "answer": "number",
                            "required": True,
                        },
                        {
                            "id": "TOELICHTING",
                            "text_nl": "Toelichting (optioneel)",
                            "text_en": "Remarks (optional)",
                            "answer": "text",
                            "required": False,
                        },
                    ],
                }
                sent: list[Any] = []
                cors = {"Access-Control-Allow-Origin": "*"}
                listing = {"items": [questionnaire], "page": 1, "page_size": 50, "total": 1}
                page.route(re.compile(r".*/invitations\?.*"), lambda route: route.fulfill(json=listing, headers=cors))

                def accept(route: Any) -> None:
                    sent.append(route.request.post_data_json)
                    route.fulfill(
                        json={**questionnaire, "status": "accepted", "accepted_on": "2023-06-01"}, headers=cors
                    )

                page.route(re.compile(r".*/invitations/uitnodiging-met-vragen/accept$"), accept)
                page.get_by_role("button", name="Uitloggen").click()
                page.locator("#inloggen-wachtwoord").fill("Praktijk2024")
                page.get_by_label("E-mailadres").first.fill(PERSON["email"])
                page.get_by_role("button", name="Inloggen").click()
                card = page.locator("#uitnodigingen article").first
                card.get_by_role("group", name="Is uw kwaliteitsstatuut goedgekeurd?").get_by_label("Ja").check()
                card.get_by_label("Gemiddelde wachttijd in weken").fill("6")
                card.get_by_label("Naam ondertekenaar").fill("R. Jansen")
                card.get_by_role("button", name="Accepteren en ondertekenen").click()
                expect(page.get_by_role("status").first).to_contain_text("geaccepteerd")
                assert sent == [
                    {
                        "signatory": "R. Jansen",
                        "answers": [
                            {"question": "KWALITEITSSTATUUT", "answer": True},
                            {"question": "WACHTTIJD", "answer": 6},
                        ],
                    }
                ]
                assert axe_violations(page) == []
                page.unroute_all()

                # The bank account, with the password asked again.
                page.get_by_label("Nieuw IBAN").fill("NL20INGB0001234567")
                page.get_by_label("Tenaamstelling").fill("Psychologenpraktijk Van Dijk")
                page.get_by_label("Uw wachtwoord (ter bevestiging)").fill("Verkeerd2024")
                page.get_by_role("button", name="Bankrekening wijzigen").click()
                expect(page.locator("#form-bank .fout")).to_contain_text("klopt niet")
                page.get_by_label("Uw wachtwoord (ter bevestiging)").fill("Praktijk2024")
                page.get_by_role("button", name="Bankrekening wijzigen").click()
                expect(page.locator("#bank-huidig")).to_contain_text("NL20INGB0001234567")
                expect(page.get_by_role("status").first).to_contain_text("bevestiging per e-mail")
                page.screenshot(path=str(tmp_path / "portal.png"), full_page=True)
                assert axe_violations(page) == []

                page.get_by_role("button", name="Uitloggen").click()
                expect(page.get_by_role("heading", name="Inloggen")).to_be_visible()
                assert csp_errors == [], csp_errors
                # The token lived in memory only.
                stored = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
                assert not re.search(r"eyJ", stored), stored
            finally:
                browser.close()

        notice = httpx.get(f"{eligibility}/portal/mail", params={"email": PERSON["email"]}, headers=admin).json()
        assert [m["purpose"] for m in notice] == ["bank_account"], json.dumps(notice)
    finally:
        _stop_platform(proc, lines)
    assert (tmp_path / "portal.png").stat().st_size > 10_000
