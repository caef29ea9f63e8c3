"""Events for the publication tests, full of private data that must never be published, and a producer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from zorg_common.events import (
    EVENT_TYPES,
    Address,
    CloudEvent,
    ContractSigned,
    ContractTerminated,
    Event,
    Kpi,
    ProviderRegistered,
    ProviderUpdated,
    Tariff,
    envelope,
)

#: Strings that appear only in private fields of the events below; none may reach the public.
PRIVATE_MARKERS = (
    "69599084",  # KvK number
    "Geheimstraat",  # street
    "Jan Geheim",  # signatory
    "geheim-medewerker",  # changed_by
    "PROC-GEHEIM",  # procurement id
    "CO0042",  # a tariff's prestation code
    "707071",  # tariff amount in cents
    "8080808",  # ceiling in cents
    "KPI-GEHEIM",
    "Wachttijd geheim",
    "NL91ABNA0417164300",  # IBAN
    "QUALITY_STATUTE_II_APPROVED",  # a criterion
    "follow",  # the route
    "GLI-2023",  # the policy id
)


def provider(
    agb: str,
    name: str = "Zorggroep Noord",
    *,
    version: int = 1,
    city: str | None = "Groningen",
    postcode: str | None = "9711 LV",
    care_forms: Sequence[str] = ("in_person",),
    sectors: Sequence[str] = ("GLI", "GGZ"),
) -> ProviderRegistered | ProviderUpdated:
    cls = ProviderRegistered if version == 1 else ProviderUpdated
    return cls(
        agb=agb,
        kvk="69599084",
        name=name,
        kind="care_group",
        sectors=list(sectors),  # type: ignore[arg-type]
        address=Address(street="Geheimstraat 1", postcode=postcode, city=city),
        care_forms=list(care_forms),  # type: ignore[arg-type]
        version=version,
        changed_by="geheim-medewerker",
    )


def signed(
    agb: str,
    contract_id: str | None = None,
    *,
    sector: str = "GLI",
    years: Sequence[int] = (2023,),
    version: int = 1,
) -> ContractSigned:
    return ContractSigned(
        agb=agb,
        contract_id=contract_id or f"C-{agb}-{sector}",
        procurement_id="PROC-GEHEIM",
        policy_id="GLI-2023" if sector == "GLI" else "GGZ-2021",
        sector=sector,  # type: ignore[arg-type]
        route="follow" if sector == "GLI" else "digital",
        start_date=dt.date(min(years), 1, 1),
        end_date=dt.date(max(years), 12, 31),
        contract_years=list(years),
        tariffs=[Tariff(prestation_code="CO0042", amount_cents=707071)],
        ceiling_cents=8080808,
        kpis=[Kpi(code="KPI-GEHEIM", description="Wachttijd geheim", incentive_pct=2.5)],
        version=version,
        signed_on=dt.date(min(years) - 1, 10, 1),
        signatory="Jan Geheim",
    )


def terminated(
    agb: str,
    contract_id: str | None = None,
    *,
    sector: str = "GLI",
    version: int = 1,
    effective_on: dt.date = dt.date(2022, 11, 1),  # before every date these tests set: off the listing at once
) -> ContractTerminated:
    return ContractTerminated(
        agb=agb,
        contract_id=contract_id or f"C-{agb}-{sector}",
        sector=sector,  # type: ignore[arg-type]
        reason="Jan Geheim stopt",
        effective_on=effective_on,
        version=version,
    )


def wrap(event: Event) -> CloudEvent:
    return envelope(event, "/zorg/test")


async def produce(bootstrap: str, prefix: str, *items: Event | CloudEvent | tuple[str, bytes, str]) -> list[CloudEvent]:
    """Send events (wrapped here), envelopes (sent as they are, so twice means a true duplicate) or
    raw ``(topic, value, key)`` messages, one after another, keyed by AGB code as the relay does."""
    sent: list[CloudEvent] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in items:
            if isinstance(item, tuple):
                topic, value, key = item
                await producer.send_and_wait(prefix + topic, value, key=key.encode())
                continue
            ce = item if isinstance(item, CloudEvent) else wrap(item)
            topic = prefix + EVENT_TYPES[ce.type].TOPIC
            await producer.send_and_wait(topic, ce.to_json(), key=(ce.subject or "").encode())
            sent.append(ce)
    finally:
        await producer.stop()
    return sent


def settings_values(url: str, bootstrap: str, prefix: str, **extra: Any) -> dict[str, Any]:
    """PublicationSettings arguments for a test: its database, the broker, its own topics."""
    return {
        "_env_file": None,
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": 2,
        "KAFKA_SESSION_TIMEOUT_MS": 6000,
        "RELAY_POLL_INTERVAL_S": 0.2,
        "CONSUMER_RETRY_BACKOFF_S": 0.01,
        "CONSUMER_MAX_ATTEMPTS": 3,
        **extra,
    }
