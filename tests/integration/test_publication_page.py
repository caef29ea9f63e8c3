"""The public page served by the running service, on the embedded defaults of `make run` (SQLite and the
bundled broker): searching by name, city, sector and year, the embargo notice, caching, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Kafka
from tests.unit.publication.builders import provider, signed, terminated
from tests.unit.publication.harness import publication, publication_settings

pytestmark = pytest.mark.integration


async def test_the_page_searches_the_listing_on_sqlite(
    tmp_path: Path, kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-11-20")
    settings = publication_settings(f"sqlite:///{tmp_path}/publication.db", kafka.bootstrap, topic_prefix)
    async with publication(settings) as pub:
        await pub.send(
            provider("50000001", "Leefstijlpraktijk Utrecht", city="Utrecht", care_forms=("in_person", "hybrid")),
            signed("50000001", sector="GLI", years=(2023,)),
            provider("50000002", "Psychologenpraktijk Zwolle", city="Zwolle", postcode="8011 CW"),
            signed("50000002", sector="GGZ", years=(2021, 2022)),
            provider("50000003", "Gestopte Praktijk", city="Utrecht"),
            signed("50000003", sector="GLI", years=(2023,)),
            terminated("50000003", sector="GLI"),
        )
        await pub.settle("50000001", "50000002", "50000003")

        found = await pub.client.get("/", params={"q": "leefstijl", "city": "utrecht", "sector": "GLI", "year": "2023"})
        assert found.status_code == 200 and found.headers["content-type"].startswith("text/html")
        assert "Leefstijlpraktijk Utrecht" in found.text and "op locatie, hybride" in found.text
        assert "1 gecontracteerde zorgaanbieder gevonden" in found.text
        assert "Gestopte Praktijk" not in (await pub.client.get("/", params={"year": "2023"})).text

        ggz = await pub.client.get("/", params={"sector": "GGZ", "year": "2021"})
        assert "Psychologenpraktijk Zwolle" in ggz.text and "2021, 2022" in ggz.text
        second_year = await pub.client.get("/", params={"sector": "GGZ", "year": "2022"})
        assert "Psychologenpraktijk Zwolle" not in second_year.text  # GGZ 2022: no policy of its own
        assert "Geen gecontracteerde zorgaanbieders gevonden" in (await pub.client.get("/", params={"q": "xyz"})).text

        again = await pub.client.get("/", params={"year": "2023"}, headers={"If-None-Match": found.headers["etag"]})
        assert again.status_code == 200  # another query, another tag
        same = await pub.client.get(
            "/",
            params={"q": "leefstijl", "city": "utrecht", "sector": "GLI", "year": "2023"},
            headers={"If-None-Match": found.headers["etag"]},
        )
        assert same.status_code == 304

        monkeypatch.setenv("ZORG_TODAY", "2022-11-11")
        embargo = await pub.client.get("/", params={"year": "2023", "sector": "GLI"})
        assert "Nog niet gepubliceerd." in embargo.text and "12 november 2022" in embargo.text
        assert "Leefstijlpraktijk Utrecht" not in embargo.text

        bad = await pub.client.get("/", params={"year": "2023x", "sector": "ZZZ"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
        assert "Kies een contractjaar uit de lijst." in bad.text and "Kies een sector uit de lijst." in bad.text


async def test_the_page_tells_the_browser_to_run_nothing_but_its_own_style(
    tmp_path: Path, kafka: Kafka, topic_prefix: str
) -> None:
    """CSP (with frame-ancestors 'none'), nosniff and Referrer-Policy on every answer of the page; the
    policy's style hash is the hash of the style the page carries, so the page still looks as it should."""
    import base64
    import hashlib
    import re

    settings = publication_settings(f"sqlite:///{tmp_path}/publication.db", kafka.bootstrap, topic_prefix)
    async with publication(settings) as pub:
        found = await pub.client.get("/")
        not_modified = await pub.client.get("/", headers={"If-None-Match": found.headers["etag"]})
        bad = await pub.client.get("/", params={"page": "0"})
        assert (found.status_code, not_modified.status_code, bad.status_code) == (200, 304, 422)
        for response in (found, not_modified, bad):
            policy = response.headers["content-security-policy"]
            directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
            assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
            assert "'unsafe-inline'" not in policy and "script-src" not in directives
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        (style,) = re.findall(r"<style>(.*?)</style>", found.text, flags=re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert directives["style-src"] == f"'sha256-{digest}'"
        assert 'style="' not in found.text, "an inline style attribute would be blocked by the policy"
