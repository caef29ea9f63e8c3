"""The public listing's rules: which public fields exist, how events change the state, and the entries.

Privacy by construction: a provider or contract event is reduced to the few public fields right
here, before anything is stored; tariffs, ceilings, KPIs, signatories, KvK numbers, streets,
facts and bank accounts never get further than the event that carried them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
    """What publication keeps of a contract: whose, which sector and years, its version, terminated or not.

    A terminated contract stays listed until ``ends_on`` (the termination's ``effective_on``) and
    leaves the listing on that day (DOMAIN.md); ``None`` there means it has ended already.
    """

    contract_id: str
    agb: str
    sector: str
    contract_years: tuple[int, ...]
    version: int
    terminated: bool = False
    ends_on: dt.date | None = None

    def listed_on(self, today: dt.date) -> bool:
        if not self.terminated:
            return True
        return self.ends_on is not None and today < self.ends_on

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
        # A tombstone: a ContractSigned of this contract that arrives later must not bring it back
        # past its end; until then it gives the years (a termination names none).
        return cls(event.contract_id, event.agb, event.sector, (), event.version, True, event.effective_on)


def merge_provider(current: ProviderCard | None, incoming: ProviderCard) -> ProviderCard:
    """The newer version wins; a duplicate or an older version (late delivery) changes nothing."""
    if current is None or incoming.version > current.version:
        return incoming
    return current


def merge_contract(current: ContractState | None, incoming: ContractState) -> ContractState:
    """Termination is final (with its end date); otherwise the higher version (an amendment) wins.

    Order-independent (a semilattice), so duplicates, late deliveries and a rebuild from the
    topics all end in the same state. A terminated contract takes its years from a signature,
    whichever arrives first (no contract is amended after its termination).
    """
    if current is None:
        return incoming
    if not current.terminated and not incoming.terminated:
        return incoming if incoming.version > current.version else current
    ended, other = (current, incoming) if current.terminated else (incoming, current)
    ends = [s.ends_on for s in (current, incoming) if s.terminated and s.ends_on is not None]
    return dataclasses.replace(
        ended,
        contract_years=ended.contract_years or other.contract_years,
        version=max(current.version, incoming.version),
        ends_on=min(ends) if ends else None,
    )


def entries_for(
    provider: ProviderCard | None, contracts: Iterable[ContractState], today: dt.date
) -> dict[EntryKey, ListingItem]:
    """The provider's entries on ``today``: one per sector and contract year that a signed contract covers.

    An entry needs both the provider (its name) and a contract that is listed today (not
    terminated, or terminated with an end date still to come); ``contract_years`` are the years
    of the contracts that cover the entry's year.
    """
    if provider is None:
        return {}
    covered: dict[tuple[str, int], set[int]] = {}
    for contract in contracts:
        if not contract.listed_on(today) or contract.agb != provider.agb:
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
