"""Facts, evaluations and bank accounts travel on zorg.providers.private, which publication never reads."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from zorg_claims.entrypoints.consumers import read_model_consumer
from zorg_common.cli import services
from zorg_common.events import (
    EVENT_TYPES,
    TOPIC_PROVIDERS,
    TOPIC_PROVIDERS_PRIVATE,
    TOPICS,
    BankAccountChanged,
    EligibilityDetermined,
    ProviderRegistered,
    ProviderUpdated,
)
from zorg_eligibility.domain.provider import Facts
from zorg_publication.service import SPEC as PUBLICATION
from zorg_publication.service_layer import rebuild

#: Field names that carry a fact, an evaluation or a bank account (values, not names of changed fields).
PRIVATE_FIELDS = {"facts", "criteria", "verdict", "eligible", "iban", "holder", *Facts.model_fields}


def field_names(model: type[BaseModel]) -> set[str]:
    """The field names of a model and of every model nested in its fields (lists, optionals)."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        pending: list[object] = [info.annotation]
        while pending:
            annotation = pending.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names |= field_names(annotation)
            pending.extend(typing.get_args(annotation))
    return names


def carries_private_data(event_type: str) -> bool:
    return bool(field_names(EVENT_TYPES[event_type]) & PRIVATE_FIELDS)


def test_every_event_with_facts_evaluations_or_bank_accounts_is_on_the_private_topic() -> None:
    private = {name for name in EVENT_TYPES if carries_private_data(name)}
    assert private == {"BankAccountChanged", "EligibilityDetermined"}
    assert {name for name, model in EVENT_TYPES.items() if model.TOPIC == TOPIC_PROVIDERS_PRIVATE} == private
    assert TOPIC_PROVIDERS_PRIVATE in TOPICS  # created by default, like the others


def test_the_field_walk_sees_nested_models() -> None:
    # EligibilityDetermined's verdicts sit in a list of CriterionVerdict: the walk must reach them.
    assert {"criteria", "code", "verdict", "blocking"} <= field_names(EligibilityDetermined)
    assert not carries_private_data("ProviderUpdated")  # changed_fields names facts, never their values


def test_publication_never_reads_the_private_topic() -> None:
    read = {*PUBLICATION.topics, *rebuild.TOPICS, *(t for spec in PUBLICATION.consumers for t in spec.topics)}
    assert TOPIC_PROVIDERS_PRIVATE not in read
    assert not {name for name, model in EVENT_TYPES.items() if model.TOPIC in read and carries_private_data(name)}


def test_every_handled_event_type_arrives_on_a_topic_its_consumer_reads_and_the_service_creates() -> None:
    for service in services().values():
        for spec in service.consumers:
            handled = {*spec.handlers, *spec.batch_handlers}
            missing = {name: EVENT_TYPES[name].TOPIC for name in handled if EVENT_TYPES[name].TOPIC not in spec.topics}
            assert not missing, (spec.group, missing)
            assert set(spec.topics) <= set(service.topics), (service.name, spec.group)


def test_claims_reads_the_private_topic_and_eligibility_creates_it() -> None:
    consumer = read_model_consumer()
    assert TOPIC_PROVIDERS_PRIVATE in consumer.topics
    assert consumer.handles(BankAccountChanged.TYPE) and consumer.handles(EligibilityDetermined.TYPE)
    produced = (ProviderRegistered, ProviderUpdated, BankAccountChanged, EligibilityDetermined)
    assert {event.TOPIC for event in produced} == {TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE}
    assert {event.TOPIC for event in produced} <= set(services()["eligibility"].topics)


def test_no_event_publication_reads_names_a_person() -> None:
    """Who changed a provider or signed a contract stays with the owning service (its change log, the
    contract); the topics publication reads carry organisations, never the people behind them."""
    read = {t for spec in PUBLICATION.consumers for t in spec.topics}
    for model in EVENT_TYPES.values():
        if model.TOPIC in read:
            assert not field_names(model) & {"changed_by", "signatory", "bsn", "diagnosis_code"}, model.TYPE
