"""The public listing's rules: which public fields exist, how events change the state, and the entries.

Privacy by construction: a provider or contract event is reduced to the few public fields right
here, before anything is stored; tariffs, ceilings, KPIs, signatories, KvK numbers, streets,
facts and bank accounts never get further than the event that carried them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from zorg_common.events import ContractSigned, ContractTerminated, ProviderRegistered, ProviderUpdated

CareForm = Literal["in_person", "digital", "hybrid"]
SectorCode = Literal["GLI", "GGZ"]

#: The order in which care forms are listed (the form most people look for first).
CARE_FORM_ORDER = ("in_person", "digital", "hybrid")

#: Everything the public ever sees of an entry (DOMAIN.md, Publication; CONTRACT.md, /listings).
PUBLIC_FIELDS = ("agb", "name", "city", "postcode", "sector", "contract_years", "care_forms")


class ListingItem(BaseModel):
    """One provider in one sector's listing for one contract year: the public fields and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agb: str
    name: str
    city: str | None
    postcode: str | None
    sector: SectorCode
    contract_years: list[int]
    care_forms: list[CareForm]


class EntryKey(NamedTuple):
    year: int
    sector: str
    agb: str


@dataclass(frozen=True)
class ProviderCard:
    """The public face of a provider, at one version of the register."""

    agb: str
    name: str
    city: str | None
    postcode: str | None
    care_forms: tuple[str, ...]
    version: int

    @classmethod
    def from_event(cls, event: ProviderRegistered | ProviderUpdated) -> ProviderCard:
        return cls(
            agb=event.agb,
            name=event.name,
            city=event.address.city,
            postcode=event.address.postcode,
            care_forms=tuple(f for f in CARE_FORM_ORDER if f in event.care_forms),
            version=event.version,
        )


@dataclass(frozen=True)
class ContractState:
    """What publication keeps of a contract: whose, which sector and years, its version, terminated or not."""

    contract_id: str
    agb: str
    sector: str
    contract_years: tuple[int, ...]
    version: int
    terminated: bool = False

    @classmethod
    def signed(cls, event: ContractSigned) -> ContractState:
        return cls(
            contract_id=event.contract_id,
            agb=event.agb,
            sector=event.sector,
            contract_years=tuple(sorted(set(event.contract_years))),
            version=event.version,
        )

    @classmethod
    def terminated_by(cls, event: ContractTerminated) -> ContractState:
        # A tombstone: a ContractSigned of this contract that arrives later must not bring it back.
        return cls(event.contract_id, event.agb, event.sector, (), event.version, terminated=True)


def merge_provider(current: ProviderCard | None, incoming: ProviderCard) -> ProviderCard:
    """The newer version wins; a duplicate or an older version (late delivery) changes nothing."""
    if current is None or incoming.version > current.version:
        return incoming
    return current


def merge_contract(current: ContractState | None, incoming: ContractState) -> ContractState:
    """Termination is final; otherwise the higher version (an amendment) wins.

    Order-independent (a semilattice), so duplicates, late deliveries and a rebuild from the
    topics all end in the same state.
    """
    if current is None:
        return incoming
    if current.terminated:
        return current
    if incoming.terminated:
        years = current.contract_years or incoming.contract_years
        return dataclasses.replace(incoming, contract_years=years, version=max(current.version, incoming.version))
    return incoming if incoming.version > current.version else current


def entries_for(provider: ProviderCard | None, contracts: Iterable[ContractState]) -> dict[EntryKey, ListingItem]:
    """The provider's entries: one per sector and contract year that a signed contract covers.

    An entry needs both the provider (its name) and a contract; ``contract_years`` are the years
    of the contracts that cover the entry's year.
    """
    if provider is None:
        return {}
    covered: dict[tuple[str, int], set[int]] = {}
    for contract in contracts:
        if contract.terminated or contract.agb != provider.agb:
            continue
        for year in contract.contract_years:
            covered.setdefault((contract.sector, year), set()).update(contract.contract_years)
    return {
        EntryKey(year, sector, provider.agb): ListingItem(
            agb=provider.agb,
            name=provider.name,
            city=provider.city,
            postcode=provider.postcode,
            sector=sector,  # type: ignore[arg-type]
            contract_years=sorted(years),
            care_forms=list(provider.care_forms),  # type: ignore[arg-type]
        )
        for (sector, year), years in sorted(covered.items())
    }


@dataclass(frozen=True)
class Change:
    """One change to the listing: an entry appears or changes (``upsert``) or disappears (``remove``)."""

    op: Literal["upsert", "remove"]
    key: EntryKey
    item: ListingItem  # for a removal: the entry as it was


def diff(current: Mapping[EntryKey, ListingItem], desired: Mapping[EntryKey, ListingItem]) -> list[Change]:
    """The changes that turn ``current`` into ``desired``, in key order; nothing for an unchanged entry."""
    changes = []
    for key in sorted(set(current) | set(desired)):
        before, after = current.get(key), desired.get(key)
        if after is None:
            assert before is not None
            changes.append(Change("remove", key, before))
        elif before != after:
            changes.append(Change("upsert", key, after))
    return changes
