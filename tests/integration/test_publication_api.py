"""The publication service over HTTP, fed through the broker, on PostgreSQL: embargo, sign, amend,
terminate, provider changes, ETag/304, filters and order, bad input, the staff preview."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Kafka, eventually
from tests.unit.publication.builders import provider, signed, terminated
from tests.unit.publication.harness import Publication, publication, publication_settings
from zorg_common.auth import issue_token
from zorg_publication.service_layer.projector import apply_due_ends
from zorg_publication.settings import PublicationSettings

pytestmark = pytest.mark.integration

AGB = "12345678"


@pytest.fixture
def settings(pg_url: str, kafka: Kafka, topic_prefix: str) -> PublicationSettings:
    return publication_settings(pg_url, kafka.bootstrap, topic_prefix)


@pytest.fixture
async def pub(settings: PublicationSettings) -> AsyncIterator[Publication]:
    async with publication(settings) as service:
        yield service


def names(body: dict[str, Any]) -> list[str]:
    return [item["name"] for item in body["items"]]


async def test_embargo_on_both_sides_of_the_publication_date(pub: Publication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-11-11")
    await pub.send(provider(AGB, "Zorggroep Noord"), signed(AGB, years=(2023,)))
    await pub.settle(AGB)
    assert len((await pub.preview(year=2023))["items"]) == 1  # it is there, under embargo

    before = await pub.listing(year=2023, sector="GLI")
    assert before["published"] is False and before["items"] == [] and before["total"] == 0
    assert before["sectors"] == [{"sector": "GLI", "publication_date": "2022-11-12", "published": False}]
    early_changes, cursor = await pub.changes()
    assert early_changes == []
    page = (await pub.client.get("/", params={"year": 2023, "sector": "GLI"})).text
    assert "Nog niet gepubliceerd." in page and "12 november 2022" in page and "Zorggroep Noord" not in page

    monkeypatch.setenv("ZORG_TODAY", "2022-11-12")
    after = await pub.listing(year=2023, sector="GLI")
    assert after["published"] is True and names(after) == ["Zorggroep Noord"]
    released, _ = await pub.changes(since=cursor)  # a website that synced during the embargo misses nothing
    assert [(c["op"], c["year"], c["item"]["agb"]) for c in released] == [("upsert", 2023, AGB)]
    assert "Zorggroep Noord" in (await pub.client.get("/", params={"year": 2023})).text


async def test_a_contract_signed_after_the_date_shows_at_once_and_in_the_changes(
    pub: Publication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-03-01")
    await pub.send(provider(AGB))
    _, cursor = await pub.changes()
    await pub.send(signed(AGB, years=(2023,)))
    body = await eventually(lambda: _listed(pub, 2023), timeout=30)
    assert names(body) == ["Zorggroep Noord"]
    changes, _ = await pub.changes(since=cursor)
    assert [(c["op"], c["year"]) for c in changes] == [("upsert", 2023)]


async def _listed(pub: Publication, year: int) -> dict[str, Any] | None:
    body = await pub.listing(year=year)
    return body if body["items"] else None


async def test_sign_amend_terminate_and_their_effect_on_listing_and_changes(
    pub: Publication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    await pub.send(provider(AGB), signed(AGB, "C1", years=(2023,), version=1))
    await pub.settle(AGB)
    assert (await pub.listing(year=2023))["items"][0]["contract_years"] == [2023]
    assert (await pub.listing(year=2024))["items"] == []

    await pub.send(signed(AGB, "C1", years=(2023, 2024), version=2))  # an amendment adds 2024
    await pub.settle(AGB)
    assert (await pub.listing(year=2023))["items"][0]["contract_years"] == [2023, 2024]
    # GLI 2024 has no policy of its own: the entry is kept (the preview), not published (DOMAIN.md).
    assert (await pub.preview(year=2024))["items"][0]["contract_years"] == [2023, 2024]
    assert (await pub.listing(year=2024))["items"] == []

    await pub.send(terminated(AGB, "C1", version=2))
    await pub.settle(AGB)
    assert (await pub.listing(year=2023))["items"] == [] and (await pub.preview(year=2024))["items"] == []

    changes, _ = await pub.changes()
    assert [(c["op"], c["year"], c["item"]["contract_years"]) for c in changes] == [
        ("upsert", 2023, [2023]),
        ("upsert", 2023, [2023, 2024]),
        ("remove", 2023, [2023, 2024]),
    ]
    cursors = [c["cursor"] for c in changes]
    assert cursors == sorted(set(cursors))


async def test_provider_changes_show_as_they_happen_and_private_only_changes_do_not(
    pub: Publication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    await pub.send(
        provider(AGB, "Zorggroep Noord"), signed(AGB, sector="GLI"), signed(AGB, sector="GGZ", years=(2023,))
    )
    await pub.settle(AGB)
    _, cursor = await pub.changes()
    await pub.send(
        provider(
            AGB, "Zorggroep Noord-Oost", version=2, city="Assen", postcode="9401 AB", care_forms=("digital", "hybrid")
        )
    )
    await pub.settle(AGB)
    body = await pub.preview(year=2023)  # GGZ 2023 has no policy of its own: in the preview only
    assert {(i["sector"], i["name"], i["city"], i["postcode"], tuple(i["care_forms"])) for i in body["items"]} == {
        (s, "Zorggroep Noord-Oost", "Assen", "9401 AB", ("digital", "hybrid")) for s in ("GGZ", "GLI")
    }
    assert [i["sector"] for i in (await pub.listing(year=2023))["items"]] == ["GLI"]
    changes, cursor = await pub.changes(since=cursor)
    assert sorted((c["op"], c["item"]["sector"]) for c in changes) == [("upsert", "GLI")]

    # A new version that changes only private facts (here: nothing public) writes no change.
    await pub.send(
        provider(
            AGB, "Zorggroep Noord-Oost", version=3, city="Assen", postcode="9401 AB", care_forms=("hybrid", "digital")
        )
    )
    await pub.settle(AGB)
    assert (await pub.changes(since=cursor)) == ([], cursor)


async def test_etag_cache_control_and_304(pub: Publication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    await pub.send(provider(AGB), signed(AGB))
    await pub.settle(AGB)
    first = await pub.client.get("/listings", params={"year": 2023})
    etag = first.headers["etag"]
    assert etag.startswith('"') and "must-revalidate" in first.headers["cache-control"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await pub.client.get("/listings", params={"year": 2023}, headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other_query = await pub.client.get("/listings", params={"year": 2023, "q": "noord"})
    assert other_query.headers["etag"] != etag
    stale = await pub.client.get("/listings", params={"year": 2024}, headers={"If-None-Match": etag})
    assert stale.status_code == 200

    await pub.send(provider("87654321", "Aanbieder Zuid"), signed("87654321"))
    await pub.settle("87654321")
    changed = await pub.client.get("/listings", params={"year": 2023}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and len(changed.json()["items"]) == 2

    gli = await pub.client.get("/listings", params={"year": 2023, "sector": "GLI"})
    monkeypatch.setenv("ZORG_TODAY", "2022-11-11")  # the embargo is part of the tag too
    embargoed = await pub.client.get(
        "/listings", params={"year": 2023, "sector": "GLI"}, headers={"If-None-Match": gli.headers["etag"]}
    )
    assert embargoed.status_code == 200 and embargoed.json()["published"] is False


async def test_the_change_feed_pages_by_cursor_with_changes_arriving_in_between(
    pub: Publication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    first = [f"1000000{n}" for n in range(5)]
    for agb in first:
        await pub.send(provider(agb, f"Aanbieder {agb}"), signed(agb))
    await pub.settle(*first)
    seen: list[dict[str, Any]] = []
    response = await pub.client.get("/listings/changes", params={"since": 0, "limit": 2})
    body = response.json()
    seen += body["changes"]
    assert len(body["changes"]) == 2 and body["has_more"] is True
    assert response.headers["content-type"].startswith("application/json")

    later = [f"2000000{n}" for n in range(4)]
    for agb in later:
        await pub.send(provider(agb, f"Later {agb}"), signed(agb))
    await pub.send(terminated(first[0]))
    await pub.settle(*later, first[0])
    since = body["next_cursor"]
    while True:
        body = (await pub.client.get("/listings/changes", params={"since": since, "limit": 2})).json()
        seen += body["changes"]
        since = body["next_cursor"]
        if not body["has_more"]:
            break
    cursors = [c["cursor"] for c in seen]
    assert cursors == sorted(set(cursors)), "every change once, in order"
    assert sorted(c["item"]["agb"] for c in seen if c["op"] == "upsert") == sorted(first + later)
    assert [c["item"]["agb"] for c in seen if c["op"] == "remove"] == [first[0]]
    assert (await pub.changes(since=since)) == ([], since)


async def test_duplicate_and_out_of_order_delivery(pub: Publication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    registered = (await pub.send(provider(AGB, "Naam v1")))[0]
    await pub.settle(AGB)
    amended, original = signed(AGB, "C1", years=(2023, 2024), version=2), signed(AGB, "C1", years=(2023,), version=1)
    sent = await pub.send(amended, original)  # the older version arrives after the newer one
    await pub.settle(AGB)
    changes, cursor = await pub.changes()  # (GLI 2024, without a policy of its own, is not in the feed)
    assert [(c["op"], c["year"], c["item"]["contract_years"]) for c in changes] == [("upsert", 2023, [2023, 2024])]

    await pub.send(sent[0], sent[0], registered)  # true duplicates (the same event ids)
    await pub.send(signed(AGB, "C1", years=(2023, 2024), version=2))  # a resend under a new id
    await pub.settle(AGB)
    assert await pub.changes(since=cursor) == ([], cursor)

    await pub.send(provider(AGB, "Naam v3", version=3), provider(AGB, "Naam v2", version=2))
    await pub.send(terminated(AGB, "C2", sector="GGZ"), signed(AGB, "C2", sector="GGZ", years=(2023,)))
    await pub.settle(AGB)
    changes, _ = await pub.changes(since=cursor)
    assert [(c["op"], c["year"], c["item"]["name"]) for c in changes] == [("upsert", 2023, "Naam v3")]
    body = await pub.listing(year=2023)
    assert [(i["sector"], i["name"], i["contract_years"]) for i in body["items"]] == [("GLI", "Naam v3", [2023, 2024])]


async def test_a_contract_before_its_provider_shows_once_the_provider_arrives(
    pub: Publication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    await pub.send(signed(AGB))
    await pub.settle(AGB)
    assert (await pub.listing(year=2023))["items"] == []
    await pub.send(provider(AGB, "Eindelijk Bekend"))
    await pub.settle(AGB)
    assert names(await pub.listing(year=2023)) == ["Eindelijk Bekend"]


async def test_filters_paging_and_a_stable_order(pub: Publication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    people = [
        ("30000001", "Zorggroep Één", "Utrecht", "GLI"),
        ("30000002", "zorggroep een", "Utrecht", "GGZ"),
        ("30000003", "Apotheek Amsterdam", "Amsterdam", "GLI"),
        ("30000004", "Beweegpraktijk", "Den Haag", "GLI"),
        ("30000000", "Beweegpraktijk", "Utrecht", "GGZ"),
        ("30000005", "Leefstijl 100%_", "Zwolle", "GLI"),
    ]
    for agb, name, city, sector in people:
        await pub.send(provider(agb, name, city=city), signed(agb, sector=sector, years=(2023,)))
    await pub.settle(*(p[0] for p in people))
    # GGZ 2023 has no policy of its own (not published): the staff preview filters and pages the same way.

    everyone = await pub.preview(year=2023, page_size=200)
    order = [(i["name"], i["agb"]) for i in everyone["items"]]
    assert order == [
        ("Apotheek Amsterdam", "30000003"),
        ("Beweegpraktijk", "30000000"),
        ("Beweegpraktijk", "30000004"),
        ("Leefstijl 100%_", "30000005"),
        ("Zorggroep Één", "30000001"),
        ("zorggroep een", "30000002"),
    ]
    paged = []
    for page in (1, 2, 3):
        body = await pub.preview(year=2023, page=page, page_size=2)
        assert body["total"] == 6 and body["page"] == page
        paged += [(i["name"], i["agb"]) for i in body["items"]]
    assert paged == order
    assert [i["agb"] for i in (await pub.preview(year=2023, q="EEN"))["items"]] == ["30000001", "30000002"]
    assert [i["agb"] for i in (await pub.preview(year=2023, q="100%"))["items"]] == ["30000005"]
    assert (await pub.preview(year=2023, q="%"))["total"] == 1  # a wildcard is searched as itself
    assert [i["agb"] for i in (await pub.preview(year=2023, city="utrecht", sector="GGZ"))["items"]] == [
        "30000000",
        "30000002",
    ]
    assert (await pub.preview(year=2023, city="den haag"))["total"] == 1


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/listings", {"sector": "XYZ"}, "sector"),
        ("/listings", {"year": "twenty"}, "year"),
        ("/listings", {"year": "1999"}, "year"),
        ("/listings", {"page": "0"}, "page"),
        ("/listings", {"page_size": "100000"}, "page_size"),
        ("/listings", {"q": "x" * 101}, "q"),
        ("/listings/changes", {"since": "abc"}, "since"),
        ("/listings/changes", {"since": "-1"}, "since"),
        ("/listings/changes", {"since": "99999"}, "since"),
        ("/listings/changes", {"limit": "0"}, "limit"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    settings: PublicationSettings, path: str, params: dict[str, str], field: str
) -> None:
    async with publication(settings, workers=False) as pub:
        response = await pub.client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and [e["field"] for e in problem["errors"]] == [field]


async def test_the_preview_needs_a_staff_token_and_ignores_the_date(
    pub: Publication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-06-01")
    await pub.send(provider(AGB, "Nog Geheim"), signed(AGB, years=(2023,)))
    await pub.settle(AGB)
    assert (await pub.client.get("/listings/preview", params={"year": 2023})).status_code == 401
    portal = issue_token(pub.settings, ["providers:read"], subject="x")
    refused = await pub.client.get("/listings/preview", headers={"Authorization": f"Bearer {portal}"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    staff = issue_token(pub.settings, ["contracts:read"], subject="staff")
    shown = await pub.client.get(
        "/listings/preview", params={"year": 2023, "sector": "GLI"}, headers={"Authorization": f"Bearer {staff}"}
    )
    assert shown.status_code == 200 and shown.headers["cache-control"] == "private, no-store"
    assert shown.json()["published"] is False and names(shown.json()) == ["Nog Geheim"]
    assert (await pub.listing(year=2023))["items"] == []


async def test_a_terminated_contract_leaves_the_listing_on_its_end_date_not_before(
    settings: PublicationSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOMAIN.md: a contract that ends leaves the public listing on its end date; no event arrives that day."""
    settings.LISTING_ENDS_INTERVAL_S = 0.2  # the worker looks often (its default is every minute)
    monkeypatch.setenv("ZORG_TODAY", "2023-03-01")
    async with publication(settings) as pub:
        await pub.send(provider(AGB, "Stopt Per Juli"), signed(AGB, "C1", years=(2023,)))
        await pub.settle(AGB)
        _, cursor = await pub.changes()
        await pub.send(terminated(AGB, "C1", version=2, effective_on=dt.date(2023, 7, 1)))
        await pub.settle(AGB)
        assert names(await pub.listing(year=2023)) == ["Stopt Per Juli"]  # terminated, still listed
        assert await pub.changes(since=cursor) == ([], cursor)
        sessions = pub.client.app.state.runtime.sessions  # type: ignore[attr-defined]
        async with sessions() as session, session.begin():
            assert await apply_due_ends(session, dt.date(2023, 6, 30)) == 0  # the last day it is listed
        monkeypatch.setenv("ZORG_TODAY", "2023-07-01")  # the worker finds the end date has come

        async def gone() -> list[dict[str, Any]] | None:
            changes, _ = await pub.changes(since=cursor)
            return changes or None

        changes = await eventually(gone, timeout=30)
        assert [(c["op"], c["year"], c["item"]["agb"]) for c in changes] == [("remove", 2023, AGB)]
        assert (await pub.listing(year=2023))["items"] == []
