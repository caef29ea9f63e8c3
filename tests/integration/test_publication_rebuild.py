"""`zorg publication rebuild`: the topics replayed from the start into a fresh read model give the same
listing; a damaged read model is repaired with changes for the repairs only; live events are kept."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from tests.conftest import Kafka
from tests.unit.publication.builders import provider, signed, terminated
from tests.unit.publication.harness import Publication, publication, publication_settings
from zorg_common.events import Address, ProviderUpdated
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.adapters.orm import feed_state, listing_entries, providers
from zorg_publication.adapters.replay import replay
from zorg_publication.service_layer import rebuild as rebuild_module

pytestmark = pytest.mark.integration

AGBS = [f"4000000{n}" for n in range(6)]


async def history(pub: Publication, eligibility: Runtime) -> None:
    """Providers through eligibility's outbox and relay; contracts straight onto the topic, with
    amendments, terminations, doubles and late arrivals."""
    async with eligibility.uow() as uow:
        for agb in AGBS:
            uow.emit(provider(agb, f"Aanbieder {agb}"))
        uow.emit(
            ProviderUpdated(
                agb=AGBS[0],
                name="Aanbieder Hernoemd",
                kind="care_group",
                sectors=["GLI"],
                address=Address(city="Assen", postcode="9401 AB"),
                version=2,
            )
        )
        await uow.commit()
    v2 = signed(AGBS[1], "K1", years=(2023, 2024), version=2)
    sent = await pub.send(
        signed(AGBS[0], years=(2023,)),
        v2,
        signed(AGBS[1], "K1", years=(2023,), version=1),  # older, after the newer
        signed(AGBS[2], sector="GGZ", years=(2021, 2022)),
        signed(AGBS[3]),
        terminated(AGBS[3]),
        terminated(AGBS[4]),
        signed(AGBS[4]),  # after its termination
        signed(AGBS[5], years=(2023,)),
    )
    await pub.send(sent[1], sent[1])  # doubles
    await pub.settle(*AGBS)


@pytest.fixture
async def eligibility(make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str) -> AsyncIterator[Runtime]:
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = EligibilitySettings(
        _env_file=None,
        DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=topic_prefix,
        KAFKA_TOPIC_PARTITIONS=2,
        RELAY_POLL_INTERVAL_S=0.2,
    )
    async with Runtime(ELIGIBILITY, settings).running(relay=True, consumers=False) as runtime:
        yield runtime


async def last_cursor(pub: Publication) -> int:
    async with pub.engine.connect() as conn:
        return int((await conn.execute(select(feed_state.c.last_cursor))).scalar_one())


async def run_cli(database_url: str, kafka: Kafka, prefix: str) -> tuple[int, str]:
    env = dict(
        os.environ,
        PUBLICATION_DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
        KAFKA_TOPIC_PARTITIONS="2",
        LOG_LEVEL="WARNING",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zorg_common.cli",
        "publication",
        "rebuild",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_rebuild_replays_the_topics_and_ends_with_the_same_listing(
    pg_url: str, make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, eligibility: Runtime
) -> None:
    settings = publication_settings(pg_url, kafka.bootstrap, topic_prefix)
    async with publication(settings) as pub:
        await history(pub, eligibility)
        before = await pub.everything()
        assert len(before) == 6  # GLI 2023 x3, GLI 2024 (an amendment), GGZ 2021 and 2022 (one contract)
        cursor = await last_cursor(pub)

        code, output = await run_cli(settings.database_url, kafka, topic_prefix)  # the service keeps running
        assert code == 0, output
        assert "0 change(s) written (the listing is unchanged)" in output
        assert await pub.everything() == before
        assert await last_cursor(pub) == cursor

    fresh_url = make_pg_url()  # an empty read model: the replay alone must give the same listing
    fresh = publication_settings(fresh_url, kafka.bootstrap, topic_prefix)
    code, output = await run_cli(fresh_url, kafka, topic_prefix)
    assert code == 0, output
    async with publication(fresh, workers=False) as rebuilt:
        assert await rebuilt.everything() == before


async def test_rebuild_repairs_a_damaged_read_model_with_changes_for_the_repairs_only(
    pg_url: str, kafka: Kafka, topic_prefix: str, eligibility: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    settings = publication_settings(pg_url, kafka.bootstrap, topic_prefix)
    async with publication(settings) as pub:
        await history(pub, eligibility)
        before = await pub.everything()
        website: dict[tuple[int, str, str], dict[str, Any]] = {}
        changes, cursor = await pub.changes()
        apply(website, changes)
        async with pub.engine.begin() as conn:  # a bug, or a hand in the database
            await conn.execute(delete(listing_entries).where(listing_entries.c.agb == AGBS[5]))
            await conn.execute(update(providers).where(providers.c.agb == AGBS[0]).values(name="Kapot"))
            await conn.execute(
                update(listing_entries).where(listing_entries.c.agb == AGBS[0]).values(name="Kapot", name_key="kapot")
            )
            bogus = {"year": 2023, "sector": "GLI", "agb": "49999999", "name": "Spook", "city": None}
            await conn.execute(
                insert(listing_entries).values(
                    **bogus, postcode=None, care_forms=[], contract_years=[2023], name_key="spook", city_key=""
                )
            )
        assert await pub.everything() != before

        report = await rebuild_module.rebuild(settings, pub.client.app.state.runtime.sessions)  # type: ignore[attr-defined]
        assert report.changes == 3  # the lost entry back, the right name again, the bogus one gone
        assert await pub.everything() == before
        repairs, _ = await pub.changes(since=cursor)
        assert sorted((c["op"], c["item"]["agb"]) for c in repairs) == [
            ("remove", "49999999"),
            ("upsert", AGBS[0]),
            ("upsert", AGBS[5]),
        ]
        apply(website, repairs)
        # The website, following the feed, has the true public listing again (GLI 2024 and GGZ 2022 have
        # no policy of their own: kept, not published).
        assert website == {k: v for k, v in before.items() if (k[0], k[1]) in {(2023, "GLI"), (2021, "GGZ")}}


def apply(website: dict[tuple[int, str, str], dict[str, Any]], changes: list[dict[str, Any]]) -> None:
    """What the website does with the feed."""
    for change in changes:
        key = (change["year"], change["item"]["sector"], change["item"]["agb"])
        if change["op"] == "upsert":
            website[key] = change["item"]
        else:
            website.pop(key, None)


async def test_events_handled_by_the_consumers_during_the_replay_are_kept(
    pg_url: str, kafka: Kafka, topic_prefix: str, eligibility: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    settings = publication_settings(pg_url, kafka.bootstrap, topic_prefix)
    async with publication(settings) as pub:
        await history(pub, eligibility)

        async def replay_then_a_new_contract(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async for batch in replay(*args, **kwargs):
                yield batch
            # Past the marks: only the running consumer sees these, while the rebuild is busy.
            await pub.send(provider("41111111", "Tijdens Herbouw"), signed("41111111"))
            await pub.send(signed(AGBS[0], years=(2023, 2024), version=5))
            await pub.settle("41111111", AGBS[0])

        monkeypatch.setattr(rebuild_module, "replay", replay_then_a_new_contract)
        _, cursor = await pub.changes()
        report = await rebuild_module.rebuild(settings, pub.client.app.state.runtime.sessions)  # type: ignore[attr-defined]
        assert report.merged_live >= 3 and report.changes == 0
        listed = await pub.everything()
        assert listed[(2023, "GLI", "41111111")]["name"] == "Tijdens Herbouw"
        assert listed[(2024, "GLI", AGBS[0])]["contract_years"] == [2023, 2024]
        changes, _ = await pub.changes(since=cursor)
        assert sorted((c["op"], c["year"], c["item"]["agb"]) for c in changes) == [
            ("upsert", 2023, AGBS[0]),
            ("upsert", 2023, "41111111"),  # (and GLI 2024 for AGBS[0], not published: no policy of its own)
        ]
