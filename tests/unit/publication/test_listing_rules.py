"""The listing's rules: versions, amendments, termination, late and double deliveries, the entries, privacy."""

from __future__ import annotations

import datetime as dt
import itertools
import json

from tests.unit.publication.builders import PRIVATE_MARKERS, provider, signed, terminated
from zorg_publication.domain.listing import (
    PUBLIC_FIELDS,
    Change,
    ContractState,
    EntryKey,
    ListingItem,
    ProviderCard,
    diff,
    entries_for,
    merge_contract,
    merge_provider,
)

AGB = "12345678"
TODAY = dt.date(2023, 7, 1)  # after the builders' termination (effective 2022-11-01)


def card(version: int = 1, name: str = "Zorggroep Noord") -> ProviderCard:
    event = provider(AGB, name, version=version)
    return ProviderCard.from_event(event)


def test_the_public_item_has_exactly_the_public_fields() -> None:
    assert tuple(ListingItem.model_fields) == PUBLIC_FIELDS
    assert ListingItem.model_config.get("extra") == "forbid"


def test_a_newer_provider_version_wins_and_an_older_or_double_one_changes_nothing() -> None:
    v1, v2, v3 = card(1, "Een"), card(2, "Twee"), card(3, "Drie")
    assert merge_provider(None, v1) == v1
    assert merge_provider(v1, v3) == v3
    assert merge_provider(v3, v2) == v3  # late delivery of an older version
    assert merge_provider(v3, card(3, "Drie")) == v3


def test_an_amendment_replaces_the_earlier_version_and_an_older_one_arriving_late_does_not() -> None:
    v1 = ContractState.signed(signed(AGB, "C1", years=(2023,), version=1))
    v2 = ContractState.signed(signed(AGB, "C1", years=(2023, 2024), version=2))
    assert merge_contract(v1, v2) == v2
    assert merge_contract(v2, v1) == v2
    assert merge_contract(v2, v2) == v2


def test_termination_is_final_a_later_signature_does_not_bring_the_contract_back() -> None:
    v1 = ContractState.signed(signed(AGB, "C1", version=1))
    v2 = ContractState.signed(signed(AGB, "C1", version=2))
    gone = ContractState.terminated_by(terminated(AGB, "C1", version=1))
    assert merge_contract(v1, gone).terminated
    assert merge_contract(gone, v1).terminated  # signature delivered after its termination
    assert merge_contract(gone, v2).terminated  # even a higher version


def test_a_terminated_contract_stays_listed_until_its_end_date_and_leaves_on_it() -> None:
    """DOMAIN.md: a contract that ends leaves the public listing on its end date, not before."""
    contract = ContractState.signed(signed(AGB, "C1", years=(2023,)))
    ends = ContractState.terminated_by(terminated(AGB, "C1", version=2, effective_on=dt.date(2023, 6, 30)))
    for state in (merge_contract(contract, ends), merge_contract(ends, contract)):  # in either order
        assert state.terminated and state.ends_on == dt.date(2023, 6, 30) and state.contract_years == (2023,)
        assert list(entries_for(card(), [state], dt.date(2023, 6, 29))) == [EntryKey(2023, "GLI", AGB)]
        assert entries_for(card(), [state], dt.date(2023, 6, 30)) == {}


def test_the_contract_state_is_the_same_in_any_delivery_order() -> None:
    events = [
        ContractState.signed(signed(AGB, "C1", years=(2023,), version=1)),
        ContractState.signed(signed(AGB, "C1", years=(2023, 2024), version=2)),
        ContractState.signed(signed(AGB, "C1", years=(2023, 2024, 2025), version=3)),
    ]
    outcomes = set()
    for order in itertools.permutations(events + events[:1]):  # with a double
        state = None
        for event in order:
            state = merge_contract(state, event)
        outcomes.add(state)
    assert outcomes == {events[2]}


def test_entries_one_per_sector_and_year_covered_by_a_signed_contract() -> None:
    contracts = [
        ContractState.signed(signed(AGB, "GGZ-1", sector="GGZ", years=(2021, 2022))),
        ContractState.signed(signed(AGB, "GLI-1", sector="GLI", years=(2023,))),
        ContractState.terminated_by(terminated(AGB, "GLI-OLD", sector="GLI")),
    ]
    entries = entries_for(card(), contracts, TODAY)
    assert sorted(entries) == [EntryKey(2021, "GGZ", AGB), EntryKey(2022, "GGZ", AGB), EntryKey(2023, "GLI", AGB)]
    assert entries[EntryKey(2022, "GGZ", AGB)].contract_years == [2021, 2022]
    assert entries[EntryKey(2023, "GLI", AGB)].city == "Groningen"


def test_no_entry_without_the_provider_and_none_without_a_live_contract() -> None:
    contract = ContractState.signed(signed(AGB, "C1"))
    assert entries_for(None, [contract], TODAY) == {}
    assert entries_for(card(), [], TODAY) == {}
    ended = merge_contract(contract, ContractState.terminated_by(terminated(AGB, "C1")))
    assert entries_for(card(), [ended], TODAY) == {}


def test_diff_upserts_new_and_changed_entries_removes_gone_ones_and_leaves_equal_ones() -> None:
    key_a, key_b = EntryKey(2023, "GLI", "11111111"), EntryKey(2023, "GLI", "22222222")
    key_c = EntryKey(2024, "GLI", AGB)

    def item(agb: str, name: str) -> ListingItem:
        return ListingItem(
            agb=agb, name=name, city=None, postcode=None, sector="GLI", contract_years=[2023], care_forms=[]
        )

    before = {key_a: item("11111111", "A"), key_b: item("22222222", "B")}
    after = {key_a: item("11111111", "A"), key_b: item("22222222", "B2"), key_c: item(AGB, "C")}
    assert diff(before, after) == [Change("upsert", key_b, after[key_b]), Change("upsert", key_c, after[key_c])]
    assert diff(after, before) == [Change("upsert", key_b, before[key_b]), Change("remove", key_c, after[key_c])]
    assert diff(before, before) == []


def test_an_entry_built_from_events_full_of_private_data_holds_none_of_it() -> None:
    contract = ContractState.signed(signed(AGB, "C1"))
    entries = entries_for(card(), [contract], TODAY)
    text = json.dumps([e.model_dump() for e in entries.values()]) + repr(contract) + repr(card())
    assert not [m for m in PRIVATE_MARKERS if m in text]
    assert all(set(e.model_dump()) == set(PUBLIC_FIELDS) for e in entries.values())
