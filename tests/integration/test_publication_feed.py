"""The change feed on PostgreSQL: cursors in commit order under concurrent writers, and the release of a
year on its publication date without a website missing or getting twice a change."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support import running_app
from tests.unit.publication.builders import provider, signed, terminated
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_publication.domain.listing import ContractState, ProviderCard
from zorg_publication.service import SPEC
from zorg_publication.service_layer.projector import apply_contract, apply_contracts, apply_provider, apply_providers
from zorg_publication.settings import PublicationSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(pg_url: str) -> PublicationSettings:
    upgrade(SPEC.migrations, pg_url)
    return PublicationSettings(_env_file=None, DATABASE_URL=pg_url, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")


@pytest.fixture
async def sessions(settings: PublicationSettings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    runtime = Runtime(SPEC, settings)
    yield runtime.sessions
    await runtime.close()


@pytest.fixture
async def client(settings: PublicationSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(SPEC, settings, workers=False) as c:
        yield c


async def sign(sessions: async_sessionmaker[AsyncSession], agb: str, *, years: tuple[int, ...] = (2023,)) -> None:
    async with sessions() as session, session.begin():
        await apply_provider(session, ProviderCard.from_event(provider(agb, f"Aanbieder {agb}")))
        await apply_contract(session, ContractState.signed(signed(agb, years=years)))


async def follow(client: httpx.AsyncClient, since: int, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    found: list[dict[str, Any]] = []
    while True:
        body = (await client.get("/listings/changes", params={"since": since, "limit": limit})).json()
        found += body["changes"]
        since = body["next_cursor"]
        if not body["has_more"]:
            return found, since


async def test_cursors_follow_commit_order_so_a_reader_never_misses_a_late_commit(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers hold their transaction open after writing (as a slow consumer would) while a website polls."""
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    writers, per_writer = 4, 12
    done = asyncio.Event()

    async def writer(w: int) -> None:
        rng = random.Random(w)
        for n in range(per_writer):
            agb = f"{w + 1}{n:07d}"
            async with sessions() as session, session.begin():
                await apply_provider(session, ProviderCard.from_event(provider(agb, f"Aanbieder {agb}")))
                await apply_contract(session, ContractState.signed(signed(agb)))
                await asyncio.sleep(rng.uniform(0, 0.02))  # committed late, after its cursors were handed out

    seen: list[dict[str, Any]] = []

    async def website() -> None:
        since = 0
        while not done.is_set():
            found, since = await follow(client, since, limit=7)
            seen.extend(found)
            await asyncio.sleep(0.003)
        found, since = await follow(client, since)
        seen.extend(found)

    reader = asyncio.create_task(website())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await reader
    cursors = [c["cursor"] for c in seen]
    assert cursors == sorted(set(cursors)), "no change twice, none out of order"
    assert len(seen) == writers * per_writer, "no change missed"
    assert seen == (await follow(client, 0))[0]


async def test_a_year_is_released_on_its_date_with_a_snapshot_a_syncing_website_cannot_miss(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-11-11")
    await sign(sessions, "11111111")
    await sign(sessions, "22222222")
    await sign(sessions, "33333333")
    async with sessions() as session, session.begin():
        await apply_provider(
            session, ProviderCard.from_event(provider("11111111", "Hernoemd", version=2))
        )  # a second change of one entry
        await apply_contract(session, ContractState.terminated_by(terminated("33333333")))  # gone before the date
    embargoed, cursor = await follow(client, 0)
    assert embargoed == [] and cursor > 0  # the website moves on past what it may not see

    monkeypatch.setenv("ZORG_TODAY", "2022-11-12")
    released, cursor = await follow(client, cursor)
    assert [(c["op"], c["item"]["agb"], c["item"]["name"]) for c in released] == [
        ("upsert", "11111111", "Hernoemd"),
        ("upsert", "22222222", "Aanbieder 22222222"),
    ]
    again, _ = await follow(client, cursor)
    assert again == []  # released once: a second read writes no second snapshot
    from_start, _ = await follow(client, 0)
    assert from_start == released  # nothing from before the release is ever shown

    await sign(sessions, "44444444")  # after the date: at once, no snapshot needed
    after, _ = await follow(client, cursor)
    assert [(c["op"], c["item"]["agb"]) for c in after] == [("upsert", "44444444")]


async def test_a_year_taken_back_by_setting_the_clock_back_is_released_afresh(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-11-12")
    await sign(sessions, "11111111")
    first, cursor = await follow(client, 0)
    assert len(first) == 1
    monkeypatch.setenv("ZORG_TODAY", "2022-11-01")  # a demo goes back in time
    await sign(sessions, "22222222")
    hidden, cursor = await follow(client, cursor)
    assert hidden == []
    monkeypatch.setenv("ZORG_TODAY", "2022-11-12")
    back, _ = await follow(client, cursor)
    assert sorted(c["item"]["agb"] for c in back) == ["11111111", "22222222"]


async def test_an_event_that_changes_nothing_writes_no_change(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    await sign(sessions, "11111111")
    _, cursor = await follow(client, 0)
    await sign(sessions, "11111111")  # the same provider and contract again
    async with sessions() as session, session.begin():
        assert not await apply_contract(session, ContractState.signed(signed("11111111", version=1)))
    assert await follow(client, cursor) == ([], cursor)


async def test_a_batch_with_several_events_per_provider_and_contract_ends_as_one_by_one_would(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a consumer's batch hands over: runs of events, doubles and late versions mixed."""
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    cards = [
        ProviderCard.from_event(provider("11111111", "Een v2", version=2)),
        ProviderCard.from_event(provider("11111111", "Een v1", version=1)),
        ProviderCard.from_event(provider("22222222", "Twee")),
        ProviderCard.from_event(provider("22222222", "Twee")),
    ]
    states = [
        ContractState.signed(signed("11111111", "A", years=(2023, 2024), version=2)),
        ContractState.signed(signed("11111111", "A", years=(2023,), version=1)),
        ContractState.signed(signed("22222222", "B")),
        ContractState.terminated_by(terminated("22222222", "B")),
        ContractState.signed(signed("22222222", "B", version=3)),
    ]
    async with sessions() as session, session.begin():
        assert await apply_providers(session, cards) == 2
        assert await apply_contracts(session, states) == 2
    changes, _ = await follow(client, 0)
    assert [(c["op"], c["year"], c["item"]["agb"], c["item"]["name"]) for c in changes] == [
        ("upsert", 2023, "11111111", "Een v2"),  # (GLI 2024, without a policy of its own, is not published)
    ]
    listed = (await client.get("/listings", params={"year": 2023})).json()["items"]
    assert [(i["agb"], i["contract_years"]) for i in listed] == [("11111111", [2023, 2024])]
