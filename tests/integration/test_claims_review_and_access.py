"""A person's review (the rules' amount, one decision under concurrency) and the access log (NEN 7513)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from tests.conftest import Kafka
from tests.integration.claims_world import COACH, GROUP, TODAY, World, claims_world, gli_line
from zorg_claims.adapters.orm import access_log, claim_volume, decisions
from zorg_claims.adapters.repository import SqlClaimsUnit
from zorg_claims.entrypoints.consumers import review
from zorg_claims.service_layer.adjudicate import Review, adjudicate_claims

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(
    make_pg_url: Any, kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    monkeypatch.setenv("ZORG_TODAY", TODAY)
    monkeypatch.setenv("CLAIMS_REVIEW_MIN_LINES", "5")
    review.cache_clear()
    try:
        async with claims_world(make_pg_url, kafka, topic_prefix) as world:
            yield world
    finally:
        review.cache_clear()


async def held_for_review(world: World, count: int = 5, **changes: Any) -> list[dict[str, Any]]:
    """``count`` capped lines of a provider whose usual volume is one line a month: held for review."""
    async with world.runtime.engine.begin() as conn:
        await conn.execute(
            insert(claim_volume),
            [{"agb": COACH, "month": dt.date(2023, m, 1), "lines": 1} for m in (3, 4, 5)],
        )
    bsns = ["111222333", "123456782", "100000009", "100000010", "100000022", "100000034"][:count]
    lines = [gli_line(f"V-{n}", bsn=bsn, claimed_cents=9000, **changes) for n, bsn in enumerate(bsns)]
    response = await world.client.post("/claims/batch", json={"lines": lines}, headers=world.headers)
    assert response.status_code == 202, response.text
    return [await world.decided(i) for i in response.json()["accepted"]]


async def test_a_reviewed_capped_claim_is_paid_the_rules_amount(world: World) -> None:
    held = await held_for_review(world)
    assert {c["hold"] for c in held} == {"review"}
    first = held[0]
    # the hold keeps the rules' decision: capped at the maximum tariff, not yet paid
    assert (first["status"], first["reasons"], first["allowed_cents"]) == (
        "pending",
        ["REVIEW_VOLUME", "TARIFF_CAPPED"],
        8193,
    )
    queue = (await world.client.get("/claims?hold=review", headers=world.headers)).json()
    assert queue["total"] == 5
    person = await world.client.post(
        f"/claims/{first['id']}/review", headers=world.headers, json={"decision": "approve", "note": "bekend patroon"}
    )
    assert person.status_code == 200, person.text
    body = person.json()
    assert (body["status"], body["allowed_cents"], body["reasons"], body["decided_by"]) == (
        "partially_approved",
        8193,  # the rules' amount, not the 9000 claimed
        ["TARIFF_CAPPED", "REVIEW_APPROVED"],
        "zorg-cli",
    )
    twice = await world.client.post(f"/claims/{first['id']}/review", headers=world.headers, json={"decision": "reject"})
    assert twice.status_code == 409
    rejected = await world.client.post(
        f"/claims/{held[1]['id']}/review", headers=world.headers, json={"decision": "reject"}
    )
    assert (rejected.json()["status"], rejected.json()["allowed_cents"]) == ("rejected", 0)
    async with world.runtime.uow() as uow:  # a rerun of the rules never overwrites a person's decision
        assert await adjudicate_claims(SqlClaimsUnit(uow), [first["id"]], Review(3.0, 5), holds=("review",)) == []
        await uow.commit()
    history = await world.history(first["id"])
    assert [(d["decision_no"], d["decided_by"], d["allowed_cents"]) for d in history] == [
        (1, "rules", 8193),
        (2, "zorg-cli", 8193),
    ]
    assert history[1]["note"] == "bekend patroon" and history[1]["inputs"] == {"reviewed_decision_no": 1}


async def test_a_review_cannot_name_its_own_amount(world: World) -> None:
    held = await held_for_review(world)
    response = await world.client.post(
        f"/claims/{held[0]['id']}/review", headers=world.headers, json={"decision": "approve", "allowed_cents": 9000}
    )
    assert response.status_code == 422 and [e["field"] for e in response.json()["errors"]] == ["allowed_cents"]
    assert (await world.decided(held[0]["id"]))["status"] == "pending"
    not_held = await world.decided(await world.submit(**gli_line("N-1", agb=GROUP)))
    response = await world.client.post(
        f"/claims/{not_held['id']}/review", headers=world.headers, json={"decision": "approve"}
    )
    assert response.status_code == 409
    unknown = await world.client.post(
        "/claims/no-such-claim/review", headers=world.headers, json={"decision": "approve"}
    )
    assert unknown.status_code == 404


async def test_two_people_reviewing_one_claim_at_once_give_one_decision(world: World) -> None:
    held = await held_for_review(world)
    for claim in held:
        people = [world.token("claims:write", subject=f"reviewer-{n}") for n in (1, 2)]
        answers = await asyncio.gather(
            *(
                world.client.post(f"/claims/{claim['id']}/review", headers=who, json={"decision": verdict})
                for who, verdict in zip(people, ("approve", "reject"), strict=True)
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    async with world.runtime.engine.connect() as conn:
        by_person = await conn.scalar(
            select(func.count()).select_from(decisions).where(decisions.c.decided_by != "rules")
        )
    assert by_person == len(held)


# --- the access log ---------------------------------------------------------------------------


async def test_every_read_of_a_claim_by_a_person_is_logged_and_an_admin_reads_it_per_insured_person(
    world: World,
) -> None:
    mine = await world.decided(await world.submit(**gli_line("L-1")))
    other = await world.decided(await world.submit(**gli_line("L-2", bsn="123456782")))
    async with world.runtime.engine.connect() as conn:  # the test's own polling above was logged too
        before = int(await conn.scalar(select(func.count()).select_from(access_log)) or 0)
    staff = world.token("claims:read", subject="medewerker-12")
    portal = world.token("portal", agb=COACH, subject="account-7")
    assert (await world.client.get(f"/claims/{mine['id']}", headers=staff)).status_code == 200
    assert (await world.client.get(f"/claims/{mine['id']}/decisions", headers=staff)).status_code == 200
    assert (await world.client.get("/claims?page_size=10", headers=portal)).json()["total"] == 2
    admin = world.token("admin", subject="functionaris")
    response = await world.client.get("/access-log", params={"bsn": "111222333"}, headers=admin)
    assert response.status_code == 200, response.text
    seen = [(e["actor"], e["actor_kind"], e["via"], e["claim_id"]) for e in response.json()["items"]]
    assert ("medewerker-12", "staff", "claim", mine["id"]) in seen
    assert ("medewerker-12", "staff", "decisions", mine["id"]) in seen
    assert ("account-7", "portal", "list", mine["id"]) in seen
    assert all(e["bsn"] == "111222333" for e in response.json()["items"])
    theirs = (await world.client.get("/access-log", params={"bsn": "123456782", "agb": COACH}, headers=admin)).json()
    assert {e["claim_id"] for e in theirs["items"]} == {other["id"]}
    async with world.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(access_log)) == before + 4
    future = (
        await world.client.get("/access-log", params={"since": "2999-01-01T00:00:00+00:00"}, headers=admin)
    ).json()
    assert future["total"] == 0
    assert (await world.client.get("/access-log", headers=staff)).status_code == 403  # admin only
    bad = await world.client.get("/access-log", params={"bsn": "123456789"}, headers=admin)
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["bsn"]
    # A moment is ISO text: not seconds since 1970 (schemathesis found 0.5 taken as a moment).
    number = await world.client.get("/access-log", params={"since": "0.5"}, headers=admin)
    assert number.status_code == 422 and [e["field"] for e in number.json()["errors"]] == ["since"]


async def test_the_database_refuses_to_change_or_delete_the_access_log(world: World) -> None:
    await world.decided(await world.submit(**gli_line("E-1")))  # reading it writes a line
    engine = world.runtime.engine
    for statement in (update(access_log).values(actor="someone else"), delete(access_log), text("TRUNCATE access_log")):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(statement)
    async with engine.connect() as conn:
        assert int(await conn.scalar(select(func.count()).select_from(access_log)) or 0) >= 1
