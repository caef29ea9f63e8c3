"""CloudEvents envelopes and the registry of event types."""

import datetime as dt

import pytest
from pydantic import ValidationError

from zorg_common.events import (
    EVENT_TYPES,
    TOPIC_CONTRACTS,
    CloudEvent,
    ContractSigned,
    ProviderRegistered,
    UnknownEventType,
    envelope,
)

CONTRACT_EVENT_TYPES = {
    "ProviderRegistered",
    "ProviderUpdated",
    "BankAccountChanged",
    "EligibilityDetermined",
    "ProcurementStarted",
    "ContractSigned",
    "ContractTerminated",
    "ProcurementClosed",
    "ClaimSubmitted",
    "ClaimAdjudicated",
}


def test_every_event_type_of_the_contract_has_a_model() -> None:
    assert set(EVENT_TYPES) == CONTRACT_EVENT_TYPES


def test_envelope_is_cloudevents_1_0_keyed_by_agb() -> None:
    event = ContractSigned(
        agb="12345678",
        contract_id="c1",
        policy_id="GLI-2023",
        sector="GLI",
        route="follow",
        start_date=dt.date(2023, 1, 1),
        end_date=dt.date(2023, 12, 31),
        contract_years=[2023],
        tariffs=[{"prestation_code": "GLI-INTAKE", "amount_cents": 8193}],
        signed_on=dt.date(2022, 10, 1),
    )
    ce = envelope(event, "/zorg/contracting")
    assert ce.specversion == "1.0" and ce.type == "ContractSigned" and ce.subject == "12345678"
    assert ce.dataversion == ContractSigned.DATAVERSION == "2" and ce.datacontenttype == "application/json"
    assert event.TOPIC == TOPIC_CONTRACTS
    back = CloudEvent.from_json(ce.to_json())
    assert back.id == ce.id
    assert back.payload() == event


def test_consumers_ignore_fields_added_by_newer_producers() -> None:
    ce = envelope(ProviderRegistered(agb="12345678", name="A", kind="individual", sectors=["GLI"]), "/t")
    data = dict(ce.data, added_later="x")
    assert CloudEvent(**{**ce.model_dump(), "data": data}).payload().agb == "12345678"


def test_unknown_type_and_bad_data_are_refused() -> None:
    ce = envelope(ProviderRegistered(agb="12345678", name="A", kind="individual", sectors=["GLI"]), "/t")
    with pytest.raises(UnknownEventType):
        CloudEvent(**{**ce.model_dump(), "type": "Nope"}).payload()
    with pytest.raises(ValidationError):
        CloudEvent(**{**ce.model_dump(), "data": {"agb": "123"}}).payload()


def test_new_id_is_a_time_ordered_version_7_uuid() -> None:
    import time
    import uuid

    from zorg_common.events import new_id

    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(5_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
        assert before <= parsed.int >> 80 <= after  # the first 48 bits: Unix time in milliseconds
    millis = [uuid.UUID(text).int >> 80 for text in ids]
    assert millis == sorted(millis)  # later ids sort later (to the millisecond)
