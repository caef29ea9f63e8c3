"""Procurement insight (issue 15) on `zorg up`, what `make run` runs: the demo's draft GLI-2024 has been
simulated and its negotiation's offers priced on real claims; and the year page, in headless Chromium,
signs staff in, shows the figures the API gives, breaks none of its own Content-Security-Policy and
passes axe-core's WCAG 2.1 A/AA checks. Screenshots are kept in test-artifacts/ (the test prints where)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_platform import _free_offset, _start_platform, _stop_platform
from tests.e2e.test_portal_browser import AXE, axe_violations
from tests.e2e.test_publication_browser import ARGS, CHROMIUM
from tests.support import page_figures
from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.settings import ServiceSettings

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOOLS: tuple[tuple[Callable[[], bool], str], ...] = (
    (lambda: find_spec("playwright") is not None, "Playwright for Python (no `playwright install`)"),
    (lambda: Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)"),
    (lambda: AXE.exists(), f"axe-core at {AXE} (npm ci; make test does it)"),
)


def token(*scopes: str) -> str:
    return issue_token(ServiceSettings(_env_file=None), scopes, subject="inkoper")  # type: ignore[call-arg]


def keep(tmp_path: Path, name: str) -> Path:
    """The screenshot, copied to test-artifacts/ (kept after the run, ignored by git); says where."""
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / name
    shutil.copyfile(tmp_path / name, kept)
    print(f"screenshot: {kept}")
    return kept


def test_the_demo_simulation_the_priced_offers_and_the_year_page_in_a_browser(tmp_path: Path) -> None:
    missing = [why for there, why in TOOLS if not there()]
    if missing:  # a missing tool fails the test, never skips it: make test installs them
        pytest.fail("the browser test needs " + "; ".join(missing))
    from playwright.sync_api import expect, sync_playwright

    offset, broker_port = _free_offset(), free_port()
    proc, lines = _start_platform(tmp_path / "var", offset, broker_port)
    try:
        out = "".join(lines)
        eligibility, contracting = f"http://127.0.0.1:{8001 + offset}", f"http://127.0.0.1:{8002 + offset}"
        assert "Beleidssimulatie concept GLI-2024" in out and f"{contracting}/overzicht/" in out, out
        staff = {"Authorization": f"Bearer {token('admin')}"}

        # The draft GLI-2024 was simulated over the demo register, with last year's amounts from claims.
        listed = httpx.get(f"{eligibility}/policies/simulations", headers=staff, timeout=10).json()["items"]
        [simulation] = [s for s in listed if s["policy_id"] == "GLI-2024"]
        made: dict[str, Any] = httpx.get(
            f"{eligibility}/policies/simulations/{simulation['id']}?changed=true", headers=staff, timeout=10
        ).json()
        assert made["claims_available"] and made["claims_year"] == 2023
        moves = {p["agb"]: p["change"] for p in made["providers"]}
        assert moves == {
            "40000002": "route_changed",
            "40000003": "newly_ineligible",
            "40000020": "newly_eligible",
            "40000023": "newly_ineligible",
        }
        coach = next(p for p in made["providers"] if p["agb"] == "40000003")
        assert coach["last_year"]["allowed_cents"] > 0  # the demo coach's restitution claims of 2023

        # The negotiation's offers were priced on the institution's claims of last year.
        [negotiation] = httpx.get(f"{contracting}/negotiations?agb=40000032", headers=staff, timeout=10).json()["items"]
        for r in negotiation["rounds"]:
            assert r["projection"]["status"] == "computed" and r["projection"]["volume_year"] == 2022
            assert r["projection"]["projected_cents"] > 0 and r["projection"]["last_year_allowed_cents"] > 0
        overview = httpx.get(
            f"{contracting}/procurements/overview?policy_id=GGZ-2021", headers=staff, timeout=10
        ).json()

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_context(locale="nl-NL").new_page()
                csp_errors: list[str] = []
                page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
                page.goto(f"{contracting}/overzicht/GGZ-2021")
                expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")  # sent to sign in first
                assert axe_violations(page) == []
                page.get_by_label("Medewerkerstoken").fill("geen token")
                page.get_by_role("button", name="Inloggen").click()
                expect(page.get_by_role("alert")).to_contain_text("niet geldig")
                page.get_by_label("Medewerkerstoken").fill(token("contracts:read"))
                page.get_by_role("button", name="Inloggen").click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Jaaroverzicht per inkoopbeleid")
                page.get_by_role("link", name="GGZ-2021", exact=True).first.click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Inkoopbeleid GGZ 2021")
                figures = page_figures(page.content())
                assert figures["days_to_deadline"] == str(overview["days_to_deadline"])
                for route in overview["routes"]:
                    for state in ("signed", "negotiating", "invited", "in_progress", "closed", "total"):
                        assert figures[f"routes.{route['route']}.{state}"] == str(route[state])
                assert figures["intakes_to_review"] == str(overview["intakes_to_review"])
                assert figures["held_claims"] == str(overview["held_claims"]["claims"])
                latest = overview["negotiations"][0]["latest_projection"]
                assert figures[f"negotiations.{negotiation['id']}.projected_cents"] == str(latest["projected_cents"])
                expect(page.get_by_role("img", name="Zorgaanbieders per route en status")).to_be_visible()
                assert axe_violations(page) == []
                page.screenshot(path=str(tmp_path / "jaaroverzicht-GGZ-2021.png"), full_page=True)

                page.get_by_role("link", name="40000032").click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Onderhandeling met AGB 40000032")
                assert page_figures(page.content())["rounds.1.projected_cents"] == str(
                    negotiation["rounds"][0]["projection"]["projected_cents"]
                )
                assert axe_violations(page) == []
                page.screenshot(path=str(tmp_path / "jaaroverzicht-onderhandeling.png"), full_page=True)

                page.get_by_role("link", name="GLI-2023", exact=True).click()
                expect(page.get_by_role("heading", level=1)).to_contain_text("Gecombineerde Leefstijlinterventie")
                assert axe_violations(page) == []
                page.screenshot(path=str(tmp_path / "jaaroverzicht-GLI-2023.png"), full_page=True)

                page.get_by_role("button", name="Uitloggen").click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
                page.goto(f"{contracting}/overzicht/GGZ-2021")
                expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")  # the cookie is gone
                assert csp_errors == [], csp_errors
                assert page.evaluate("() => document.cookie") == ""  # HttpOnly: no script sees the token
            finally:
                browser.close()
    finally:
        _stop_platform(proc, lines)
    for name in ("jaaroverzicht-GGZ-2021.png", "jaaroverzicht-onderhandeling.png", "jaaroverzicht-GLI-2023.png"):
        assert keep(tmp_path, name).stat().st_size > 10_000
