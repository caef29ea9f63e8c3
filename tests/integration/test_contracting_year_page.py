"""The year at a glance (issue 15) over the real eligibility, contracting and claims services: the page's
figures equal what the APIs say (GET /procurements/overview, and the contracts, invitations,
negotiations, follow formats and held claims behind it); staff sign in with a token kept in a strict
cookie; and the page's doors refuse what they should."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Kafka
from tests.integration import test_contracting_harness as harness
from tests.integration.claims_world import claims_serving, held_claim
from tests.integration.test_contracting_harness import Contracting, contracting_calling_claims, contracting_settings
from tests.support import page_figures, running_app
from zorg_common.migrations import upgrade
from zorg_contracting.service import SPEC as CONTRACTING

pytestmark = pytest.mark.integration
eligibility = harness.eligibility  # the fixture
MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
LARGE, SMALL, PRACTICE = "40000032", "40000031", "40000030"
HELD = [
    held_claim("H-1", SMALL, "contract"),
    held_claim("H-2", LARGE, "contract", claimed_cents=80000, prestation_code="DBC-BASIS-MIDDEL"),
    held_claim("H-3", LARGE, "review"),
    held_claim("H-4", LARGE, "contract", opening_date=dt.date(2022, 1, 10), service_date=dt.date(2022, 1, 10)),
]
TOTALS = [(2019, LARGE, "GGZ", "CO0042", 10, 10, 12_000, 10, 10, 9_000)]


@pytest.fixture
async def world(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, eligibility: httpx.AsyncClient
) -> AsyncIterator[Contracting]:
    async with (
        claims_serving(make_pg_url(), TOTALS, HELD) as claims_url,
        contracting_calling_claims(make_pg_url, kafka, topic_prefix, eligibility, claims_url) as world,
    ):
        world.claims_url = claims_url  # type: ignore[attr-defined]
        yield world


async def procurement_year(c: Contracting, monkeypatch: pytest.MonkeyPatch) -> str:
    """GGZ-2021 in autumn 2020: the digital providers invited (one of them closed without a contract), a
    negotiation with a priced offer; and a follow format of GLI-2023 that waits for a person."""
    monkeypatch.setenv("ZORG_TODAY", "2020-09-15")
    invited = await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    assert invited.status_code == 200 and invited.json()["count"] >= 2, invited.text
    closed = await c.client.post(
        "/procurements/close", json={"agb": SMALL, "policy_id": "GGZ-2021", "reason": "geen reactie"}, headers=c.staff
    )
    assert closed.status_code == 200, closed.text
    opened = await c.client.post("/negotiations", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    negotiation = str(opened.json()["id"])
    offer = {
        "party": "insurer",
        "tariffs": [{"prestation_code": "CO0042", "amount_cents": 1100}],
        "ceiling_cents": 50_000,
    }
    assert (await c.client.post(f"/negotiations/{negotiation}/offers", json=offer, headers=c.staff)).status_code == 201
    monkeypatch.setenv("ZORG_TODAY", "2022-10-01")
    await c.post_mail((MAIL / "spoofed_sender.eml").read_bytes())
    monkeypatch.setenv("ZORG_TODAY", "2020-10-01")
    return negotiation


async def test_the_page_shows_what_the_apis_say(world: Contracting, monkeypatch: pytest.MonkeyPatch) -> None:
    c = world
    negotiation = await procurement_year(c, monkeypatch)
    staff = c.auth("contracts:read")
    summary = (await c.client.get("/procurements/overview?policy_id=GGZ-2021", headers=staff)).json()
    page = await c.client.get("/overzicht/GGZ-2021", headers=staff)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    shown = page_figures(page.text)

    # The page's figures are the overview's ...
    assert shown["days_to_deadline"] == str(summary["days_to_deadline"]) == "31"  # 1 October to 1 November
    assert shown["providers"] == str(summary["providers"])
    assert shown["intakes_to_review"] == str(summary["intakes_to_review"])
    assert shown["held_claims"] == str(summary["held_claims"]["claims"])
    for route in summary["routes"]:
        for state in ("signed", "negotiating", "invited", "in_progress", "closed", "total"):
            assert shown[f"routes.{route['route']}.{state}"] == str(route[state])
    for hold in summary["held_claims"]["holds"]:
        assert shown[f"holds.{hold['hold']}.claims"] == str(hold["claims"])
        assert shown[f"holds.{hold['hold']}.claimed_cents"] == str(hold["claimed_cents"])
    assert shown[f"negotiations.{negotiation}.projected_cents"] == str(
        summary["negotiations"][0]["latest_projection"]["projected_cents"]
    )

    # ... and the overview's are what the APIs say, each from its own resource.
    routes = {r["route"]: r for r in summary["routes"]}
    invitations = (await c.client.get("/invitations?policy_id=GGZ-2021", headers=c.staff)).json()["items"]
    assert routes["digital"]["invited"] == sum(i["status"] == "invited" for i in invitations)
    assert routes["digital"]["closed"] == sum(i["status"] == "closed" for i in invitations) == 1
    negotiations = (await c.client.get("/negotiations?policy_id=GGZ-2021&state=open", headers=c.staff)).json()
    assert routes["offer"]["negotiating"] == negotiations["total"] == 1
    signed = (await c.client.get("/contracts?status=signed&sector=GGZ&year=2021", headers=c.staff)).json()
    assert sum(r["signed"] for r in summary["routes"]) == signed["total"] == 0
    review = (await c.client.get("/follow-formats?status=needs_review&page_size=200", headers=c.staff)).json()
    assert summary["intakes_to_review"] == sum(i["policy_id"] == "GGZ-2021" for i in review["items"])
    with_claims = {"Authorization": c.auth("claims:read")["Authorization"]}
    async with httpx.AsyncClient(base_url=c.claims_url) as claims:  # type: ignore[attr-defined]
        held = (await claims.get("/claims/holds?sector=GGZ&year=2021", headers=with_claims)).json()
    assert summary["held_claims"] == held
    assert [(h["hold"], h["claims"], h["claimed_cents"]) for h in held["holds"]] == [
        ("contract", 2, 128_000),
        ("review", 1, 48_000),
    ]
    rounds = (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["rounds"]
    assert summary["negotiations"][0]["latest_projection"] == rounds[-1]["projection"]
    assert rounds[-1]["projection"]["projected_cents"] == 11_000  # 10 consults of 2019 at 11.00

    # The negotiation's own page: its rounds and their projections.
    detail = await c.client.get(f"/overzicht/GGZ-2021/onderhandelingen/{negotiation}", headers=staff)
    assert detail.status_code == 200, detail.text
    assert page_figures(detail.text)["rounds.1.projected_cents"] == "11000"
    assert page_figures(detail.text)["rounds.1.last_year_allowed_cents"] == "9000"
    assert "<svg" in detail.text and 'role="img"' in detail.text
    wrong_policy = await c.client.get(f"/overzicht/GLI-2023/onderhandelingen/{negotiation}", headers=staff)
    assert wrong_policy.status_code == 404


async def test_without_claims_the_page_says_so_and_shows_the_rest(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, eligibility: httpx.AsyncClient
) -> None:
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    settings = contracting_settings(url, kafka, topic_prefix, SMTP_ENABLED=False)  # claims: a closed port
    async with running_app(CONTRACTING, settings) as client:
        c = Contracting(client, eligibility, settings, kafka)
        page = await client.get("/overzicht/GGZ-2021", headers=c.auth("contracts:read"))
        assert page.status_code == 200 and "niet bereikbaar" in page.text
        assert page_figures(page.text)["held_claims"] == ""
        summary = (await client.get("/procurements/overview?policy_id=GGZ-2021", headers=c.staff)).json()
        assert (summary["claims_available"], summary["held_claims"]) == (False, None)


async def test_staff_sign_in_with_a_token_kept_in_a_strict_cookie(world: Contracting) -> None:
    c = world
    page = await c.client.get("/overzicht/GGZ-2021", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/overzicht/inloggen"
    form = await c.client.get("/overzicht/inloggen")
    assert form.status_code == 200 and 'name="token"' in form.text
    csp = form.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "style-src 'self'" in csp
    assert form.headers["x-frame-options"] == "DENY" and form.headers["cache-control"] == "no-store"

    for token in (
        "not-a-token",
        c.auth("portal", agb=LARGE)["Authorization"][7:],
        c.auth("claims:read")["Authorization"][7:],
    ):
        refused = await c.client.post("/overzicht/inloggen", data={"token": token})
        assert refused.status_code == 401 and "niet gelukt" in refused.text and "set-cookie" not in refused.headers
    token = c.auth("contracts:read")["Authorization"][7:]
    for foreign in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        posted = await c.client.post("/overzicht/inloggen", data={"token": token}, headers=foreign)
        assert posted.status_code == 403 and "set-cookie" not in posted.headers, foreign
    signed_in = await c.client.post("/overzicht/inloggen", data={"token": token}, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/overzicht/"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("zorg_jaaroverzicht=") and "HttpOnly" in cookie and "Path=/overzicht" in cookie
    assert "SameSite=strict" in cookie and "Max-Age=" in cookie and "Secure" not in cookie  # development: http
    c.client.cookies.set("zorg_jaaroverzicht", token)
    try:
        assert (await c.client.get("/overzicht/")).status_code == 200
        assert "GGZ-2021" in (await c.client.get("/overzicht/")).text
        assert (await c.client.get("/overzicht/GGZ-2021")).status_code == 200
        assert (await c.client.get("/overzicht/XYZ-2000")).status_code == 404
        # The cookie opens the page only, never the API.
        assert (await c.client.get("/contracts")).status_code == 401
        out = await c.client.post("/overzicht/uitloggen", follow_redirects=False)
        assert out.status_code == 303 and 'zorg_jaaroverzicht=""' in out.headers["set-cookie"]
    finally:
        c.client.cookies.clear()
    crowded = await c.client.post("/overzicht/inloggen", content="&".join(f"f{n}=x" for n in range(50)))
    assert crowded.status_code == 401  # a form of fifty fields is no sign-in, and no error either
    big = await c.client.post(
        "/overzicht/inloggen",
        content=b"token=" + b"x" * 10_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    style = await c.client.get("/overzicht/jaaroverzicht.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_the_overview_api_is_for_staff_only(world: Contracting) -> None:
    c = world
    url = "/procurements/overview?policy_id=GGZ-2021"
    assert (await c.client.get(url)).status_code == 401
    assert (await c.client.get(url, headers=c.auth("portal", agb=LARGE))).status_code == 403
    unknown = await c.client.get("/procurements/overview?policy_id=XYZ-2000", headers=c.staff)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "policy_id"
    assert (await c.client.get("/procurements/overview", headers=c.staff)).status_code == 422
