"""Privacy by construction: a provider and contract full of private data, and none of it in the feed,
the changes, the page, the preview or even the read model's tables."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from tests.conftest import Kafka
from tests.unit.publication.builders import PRIVATE_MARKERS, provider, signed, wrap
from tests.unit.publication.harness import publication, publication_settings
from zorg_common.events import TOPIC_PROVIDERS, BankAccountChanged, CriterionVerdict, EligibilityDetermined, Event
from zorg_publication.adapters.orm import metadata
from zorg_publication.domain.listing import PUBLIC_FIELDS

pytestmark = pytest.mark.integration

AGB = "12345678"


async def test_no_private_data_reaches_any_public_output_or_the_read_model(
    pg_url: str, kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-01-15")
    settings = publication_settings(pg_url, kafka.bootstrap, topic_prefix)
    registered = wrap(provider(AGB, "Zorggroep Openbaar", care_forms=("in_person", "digital")))
    # A newer producer may add fields; they are dropped on reading, never stored.
    registered.data.update(
        facts={"quality_statute_ii_approved": True, "serious_misconduct_on": "2019-01-01"},
        bank_account={"iban": "NL91ABNA0417164300", "holder": "Jan Geheim"},
    )
    contract = wrap(signed(AGB, years=(2023, 2024)))
    contract.data["notes"] = "KPI-GEHEIM Wachttijd geheim"
    private: list[Event] = [
        BankAccountChanged(agb=AGB, iban="NL91ABNA0417164300", holder="Jan Geheim", changed_on=dt.date(2023, 1, 2)),
        EligibilityDetermined(
            agb=AGB,
            evaluation_id="E1",
            policy_id="GGZ-2021",
            sector="GGZ",
            contract_year=2021,
            eligible=True,
            route="digital",
            criteria=[CriterionVerdict(code="QUALITY_STATUTE_II_APPROVED", verdict="pass", blocking=True)],
            evaluated_on=dt.date(2023, 1, 2),
        ),
    ]
    async with publication(settings) as pub:
        await pub.send(
            registered,
            # On zorg.providers as written before these moved to the private topic (old history that a
            # running consumer or a rebuild still meets): read and dropped, never stored.
            *((TOPIC_PROVIDERS, wrap(event).to_json(), AGB) for event in private),
            contract,
        )
        await pub.settle(AGB)
        listing = await pub.client.get("/listings", params={"year": 2023})
        assert [i["name"] for i in listing.json()["items"]] == ["Zorggroep Openbaar"]
        outputs = {
            "listing": listing.text,
            "changes": (await pub.client.get("/listings/changes")).text,
            "page": (await pub.client.get("/", params={"year": 2023})).text,
            "preview": json.dumps(await pub.preview(year=2024)),
        }
        for item in [*listing.json()["items"], *(c["item"] for c in (await pub.changes())[0])]:
            assert tuple(item) == PUBLIC_FIELDS
        async with pub.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                outputs[f"table {table.name}"] = json.dumps([list(r) for r in rows], default=str)
    leaks = {name: [m for m in PRIVATE_MARKERS if m in text] for name, text in outputs.items()}
    assert not any(leaks.values()), leaks
    assert "Zorggroep Openbaar" in outputs["page"] and "Zorggroep Openbaar" in outputs["changes"]
