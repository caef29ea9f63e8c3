"""Claim totals on PostgreSQL (issue 15): kept by the decisions in their own transactions, moved by a
re-decision, equal to what the claims themselves say; served by GET /claims/volumes and /claims/holds to
staff and other services, with every abuse of those doors answered 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.integration import test_claims_review_and_access as review_tests
from tests.integration.claims_world import COACH, GGZ_INSTITUTION, GROUP, World, gli_line
from tests.integration.test_claims_review_and_access import held_for_review
from tests.unit.claims.builders import contract_signed, eligible, procurement_started
from zorg_claims.adapters.orm import claim_totals, claims
from zorg_claims.domain.claim import DatedPrestation
from zorg_claims.domain.volume import NOTHING, Contribution, VolumeKey, contribution, volume_key

pytestmark = pytest.mark.integration
world = review_tests.world  # the fixture: the claims service, review from five lines a month


async def totals_on_file(world: World) -> dict[VolumeKey, Contribution]:
    async with world.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(claim_totals))).all()
    return {
        VolumeKey(r.year, r.agb, r.prestation_code, r.sector): Contribution(
            r.lines, r.quantity, r.claimed_cents, r.paid_lines, r.paid_quantity, r.allowed_cents
        )
        for r in rows
        if any((r.lines, r.quantity, r.claimed_cents, r.paid_lines, r.paid_quantity, r.allowed_cents))
    }


async def totals_from_claims(world: World) -> dict[VolumeKey, Contribution]:
    """The totals counted again from every claim as it stands: what the kept totals must equal."""
    async with world.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(claims))).all()
    found: dict[VolumeKey, Contribution] = {}
    for r in rows:
        counts = contribution(r.status, r.reasons, r.quantity, r.claimed_cents, r.allowed_cents)
        if counts:
            key = volume_key(r.agb, DatedPrestation(r.sector, r.prestation_code, r.service_date, r.opening_date))
            found[key] = found.get(key, NOTHING) + counts
    return found


async def batch(world: World, *lines: dict[str, Any]) -> list[dict[str, Any]]:
    response = await world.client.post("/claims/batch", json={"lines": list(lines)}, headers=world.headers)
    assert response.status_code == 202, response.text
    return [await world.decided(claim_id) for claim_id in response.json()["accepted"]]


async def test_the_totals_follow_every_decision_and_equal_the_claims(world: World) -> None:
    decided = await batch(
        world,
        gli_line("V-1"),  # restitution, paid in full
        gli_line("V-2", bsn="123456782", claimed_cents=9000),  # capped at the maximum tariff
        gli_line("V-3"),  # a duplicate of V-1
        gli_line("V-4", bsn="100000009", prestation_code="GLI-MAINTENANCE-Q", claimed_cents=9829),  # wrong phase
        gli_line("V-5", agb=GROUP, bsn="100000010"),  # a care group without a contract: the non-contracted rate
    )
    assert [d["status"] for d in decided] == [
        "approved",
        "partially_approved",
        "rejected",
        "rejected",
        "partially_approved",
    ]
    # Held for a procurement: counted nowhere until the contract releases it, then counted once.
    await world.events(procurement_started("p-1", GROUP))
    [held] = await batch(
        world, gli_line("V-6", agb=GROUP, bsn="100000022", prestation_code="GLI-TREATMENT-Q", claimed_cents=19380)
    )
    assert held["hold"] == "contract"
    before_release = await totals_on_file(world)
    assert VolumeKey(2023, GROUP, "GLI-TREATMENT-Q", "GLI") not in before_release
    await world.events(contract_signed("k-1", "p-1", GROUP, GLI_TREATMENT_Q=18000))
    await world.decided(held["id"], "partially_approved")
    on_file = await totals_on_file(world)
    assert on_file == await totals_from_claims(world)
    # V-1 and V-2 paid; V-3, the duplicate, is no care of its own
    assert on_file[VolumeKey(2023, COACH, "GLI-INTAKE", "GLI")] == Contribution(2, 2, 8193 + 9000, 2, 2, 2 * 8193)
    assert on_file[VolumeKey(2023, GROUP, "GLI-TREATMENT-Q", "GLI")] == Contribution(1, 1, 19380, 1, 1, 18000)

    served = await world.client.get(
        "/claims/volumes", params=[("year", 2023), ("agb", COACH), ("agb", GROUP)], headers=world.headers
    )
    assert served.status_code == 200, served.text
    body = served.json()
    assert body["total"] == 2 and [p["agb"] for p in body["items"]] == [COACH, GROUP]
    coach = body["items"][0]
    assert (coach["lines"], coach["paid_lines"], coach["claimed_cents"], coach["allowed_cents"]) == (
        3,
        2,
        8193 + 9000 + 9829,
        2 * 8193,
    )
    assert {p["prestation_code"] for p in coach["prestations"]} == {"GLI-INTAKE", "GLI-MAINTENANCE-Q"}
    # Without agb: every provider of the year, page by page in AGB order.
    first = (await world.client.get("/claims/volumes?year=2023&page_size=1", headers=world.headers)).json()
    second = (await world.client.get("/claims/volumes?year=2023&page_size=1&page=2", headers=world.headers)).json()
    assert (first["total"], first["items"][0]["agb"], second["items"][0]["agb"]) == (2, COACH, GROUP)
    assert (await world.client.get("/claims/volumes?year=2022", headers=world.headers)).json()["total"] == 0


async def test_a_persons_review_moves_a_held_claim_into_the_totals_or_leaves_it_out(world: World) -> None:
    held = await held_for_review(world)  # five capped lines of 90.00: held, each at the rules' 81.93
    holds = (await world.client.get("/claims/holds?sector=GLI&year=2023", headers=world.headers)).json()
    assert holds["holds"] == [
        {"hold": "contract", "reason": "AWAITING_CONTRACT", "claims": 0, "claimed_cents": 0, "providers": 0},
        {"hold": "review", "reason": "REVIEW_VOLUME", "claims": 5, "claimed_cents": 5 * 9000, "providers": 1},
    ]
    assert await totals_on_file(world) == {}
    for claim, verdict in zip(held[:2], ("approve", "reject"), strict=True):
        response = await world.client.post(
            f"/claims/{claim['id']}/review", json={"decision": verdict}, headers=world.headers
        )
        assert response.status_code == 200, response.text
    approved = Contribution(1, 1, 9000, 1, 1, 8193)  # the rejected one was not shown to have been delivered
    assert await totals_on_file(world) == {VolumeKey(2023, COACH, "GLI-INTAKE", "GLI"): approved}
    assert await totals_on_file(world) == await totals_from_claims(world)
    later = (await world.client.get("/claims/holds?sector=GLI&year=2023", headers=world.headers)).json()
    assert later["claims"] == 3
    earlier = (await world.client.get("/claims/holds?sector=GLI&year=2022", headers=world.headers)).json()
    assert earlier["claims"] == 0


async def test_a_dbc_is_counted_and_held_in_its_opening_year(world: World) -> None:
    await world.events(eligible(GGZ_INSTITUTION, "GGZ-2021"), procurement_started("p-ggz", GGZ_INSTITUTION, 2021))
    dbc = {
        "provider_reference": "D-1",
        "agb": GGZ_INSTITUTION,
        "bsn": "111222333",
        "sector": "GGZ",
        "prestation_code": "DBC-BASIS-KORT",
        "opening_date": "2021-10-01",
        "service_date": "2021-12-01",
        "quantity": 1,
        "claimed_cents": 48000,
    }
    [claim] = await batch(world, dbc)
    assert claim["status"] == "rejected"  # received 2023-06-01: past the deadline of a 2021 opening
    assert (await totals_on_file(world)) == {
        VolumeKey(2021, GGZ_INSTITUTION, "DBC-BASIS-KORT", "GGZ"): Contribution(1, 1, 48000)
    }


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("/claims/volumes", 422, "year"),
        ("/claims/volumes?year=1999", 422, "year"),
        ("/claims/volumes?year=abc", 422, "year"),
        ("/claims/volumes?year=2023&agb=1234", 422, "agb[0]"),
        ("/claims/volumes?year=2023&" + "&".join(f"agb={40000000 + n}" for n in range(201)), 422, "agb"),
        ("/claims/volumes?year=2023&sector=XYZ", 422, "sector"),
        ("/claims/volumes?year=2023&page=100001", 422, "page"),
        ("/claims/holds?year=2023", 422, "sector"),
        ("/claims/holds?sector=GLI&year=99999", 422, "year"),
    ],
)
async def test_bad_questions_are_refused_naming_the_field(world: World, query: str, status: int, field: str) -> None:
    response = await world.client.get(query, headers=world.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_only_staff_and_services_with_claims_read_see_the_summaries(world: World) -> None:
    for path in ("/claims/volumes?year=2023", "/claims/holds?sector=GLI&year=2023"):
        assert (await world.client.get(path)).status_code == 401
        assert (await world.client.get(path, headers=world.token("contracts:read"))).status_code == 403
        assert (await world.client.get(path, headers=world.token("portal", agb=COACH))).status_code == 403
        assert (await world.client.get(path, headers=world.token("claims:read"))).status_code == 200
