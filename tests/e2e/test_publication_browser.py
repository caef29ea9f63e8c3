"""The public page in a real browser: headless Chromium loads it from a running service, searches with
the keyboard and without JavaScript, checks the result, and keeps a screenshot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Kafka
from tests.unit.publication.builders import produce, provider, signed
from zorg_common.broker import free_port
from zorg_common.migrations import upgrade
from zorg_publication.service import SPEC

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def serving(database_url: str, kafka: Kafka, prefix: str, today: str) -> Iterator[str]:
    """`zorg serve publication` as its own process; yields its base URL once it is ready."""
    port = free_port()
    env = dict(
        os.environ,
        PUBLICATION_DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
        KAFKA_TOPIC_PARTITIONS="2",
        KAFKA_SESSION_TIMEOUT_MS="6000",
        ZORG_TODAY=today,
        LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "zorg_common.cli", "serve", "publication", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, f"the service exited: {proc.stdout.read().decode() if proc.stdout else ''}"
            time.sleep(0.2)
        else:
            raise AssertionError("the publication service did not become ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_visitor_searches_the_page_in_a_browser(pg_url: str, kafka: Kafka, topic_prefix: str, tmp_path: Path) -> None:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright for Python: pip install playwright (no `playwright install`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium"
        )

    upgrade(SPEC.migrations, pg_url)
    with serving(pg_url, kafka, topic_prefix, today="2022-11-20") as base:
        asyncio.run(
            produce(
                kafka.bootstrap,
                topic_prefix,
                provider("60000001", "Leefstijlpraktijk De Dom", city="Utrecht", care_forms=("in_person", "hybrid")),
                signed("60000001", sector="GLI", years=(2023,)),
                provider("60000002", "Beweegcentrum Zwolle", city="Zwolle", postcode="8011 CW"),
                signed("60000002", sector="GLI", years=(2023,)),
                # (GLI: GGZ has no policy of its own for 2023, so its 2023 listing is not published)
                provider("60000003", "Beweegpraktijk Utrecht", city="Utrecht", postcode="3511 AB"),
                signed("60000003", sector="GLI", years=(2023,)),
            )
        )
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/listings", params={"year": 2023}).json()["total"] < 3:
            assert time.monotonic() < deadline, "the events did not reach the listing"
            time.sleep(0.2)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                context = browser.new_context(java_script_enabled=False, locale="nl-NL")
                page = context.new_page()
                refused: list[str] = []  # what the Content-Security-Policy blocked (the page's own style?)
                page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
                page.goto(f"{base}/?year=2023")
                expect(page.get_by_role("heading", level=1)).to_have_text("Gecontracteerde zorgaanbieders")
                expect(page.locator("tbody tr")).to_have_count(3)

                page.keyboard.press("Tab")
                expect(page.locator(":focus")).to_have_text("Direct naar de resultaten")  # skip link first
                page.get_by_label("Naam zorgaanbieder").fill("leefstijl")
                page.get_by_label("Plaats").fill("utrecht")
                page.get_by_label("Sector").select_option("GLI")
                page.get_by_label("Naam zorgaanbieder").press("Enter")  # submit from the keyboard
                page.wait_for_url("**/?q=leefstijl*")

                rows = page.locator("tbody tr")
                expect(rows).to_have_count(1)
                expect(rows.first).to_contain_text("Leefstijlpraktijk De Dom")
                expect(rows.first).to_contain_text("op locatie, hybride")
                expect(page.get_by_role("status").first).to_contain_text("1 gecontracteerde zorgaanbieder gevonden")
                expect(page.get_by_label("Naam zorgaanbieder")).to_have_value("leefstijl")
                page.screenshot(path=str(tmp_path / "publication-page.png"), full_page=True)

                page.get_by_label("Contractjaar").select_option("2022")
                page.get_by_label("Sector").select_option("GLI")
                page.get_by_role("button", name="Zoeken").click()
                expect(page.get_by_text("Niet gepubliceerd.")).to_be_visible()
                expect(page.locator("tbody tr")).to_have_count(0)
                page.screenshot(path=str(tmp_path / "publication-not-published.png"), full_page=True)
                assert refused == []
            finally:
                browser.close()
    assert (tmp_path / "publication-page.png").stat().st_size > 10_000
