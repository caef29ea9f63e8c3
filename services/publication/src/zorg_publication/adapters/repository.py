"""Reading and writing the read model's rows: providers, contracts and listing entries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common.db import upsert

from ..domain.listing import Change, ContractState, EntryKey, ListingItem, ProviderCard
from ..domain.search import search_key
from .orm import contracts, listing_entries, providers


def provider_of(row: Any) -> ProviderCard:
    return ProviderCard(
        agb=row.agb,
        name=row.name,
        city=row.city,
        postcode=row.postcode,
        care_forms=tuple(row.care_forms),
        version=row.version,
    )


def provider_row(card: ProviderCard, touched_seq: int) -> dict[str, Any]:
    return {
        "agb": card.agb,
        "name": card.name,
        "city": card.city,
        "postcode": card.postcode,
        "care_forms": list(card.care_forms),
        "version": card.version,
        "touched_seq": touched_seq,
    }


def contract_of(row: Any) -> ContractState:
    return ContractState(
        contract_id=row.contract_id,
        agb=row.agb,
        sector=row.sector,
        contract_years=tuple(row.contract_years),
        version=row.version,
        terminated=row.terminated,
        ends_on=row.ends_on,
    )


def contract_row(state: ContractState, touched_seq: int, today: dt.date) -> dict[str, Any]:
    return {
        "contract_id": state.contract_id,
        "agb": state.agb,
        "sector": state.sector,
        "contract_years": list(state.contract_years),
        "version": state.version,
        "terminated": state.terminated,
        "ends_on": state.ends_on,
        "ended": not state.listed_on(today) if state.terminated else False,
        "touched_seq": touched_seq,
    }


def item_of(row: Any) -> ListingItem:
    return ListingItem(
        agb=row.agb,
        name=row.name,
        city=row.city,
        postcode=row.postcode,
        sector=row.sector,
        contract_years=list(row.contract_years),
        care_forms=list(row.care_forms),
    )


def entry_row(key: EntryKey, item: ListingItem) -> dict[str, Any]:
    return {
        "year": key.year,
        "sector": key.sector,
        "agb": key.agb,
        "name": item.name,
        "city": item.city,
        "postcode": item.postcode,
        "care_forms": list(item.care_forms),
        "contract_years": list(item.contract_years),
        "name_key": search_key(item.name),
        "city_key": search_key(item.city),
    }


def _chunks(values: Iterable[str], size: int = 1000) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


async def providers_by_agb(session: AsyncSession, agbs: Iterable[str]) -> dict[str, ProviderCard]:
    found: dict[str, ProviderCard] = {}
    for chunk in _chunks(agbs):
        rows = (await session.execute(select(providers).where(providers.c.agb.in_(chunk)))).all()
        found.update((r.agb, provider_of(r)) for r in rows)
    return found


async def save_providers(session: AsyncSession, cards: Sequence[ProviderCard], touched_seq: int) -> None:
    await upsert(session, providers, [provider_row(c, touched_seq) for c in cards], ["agb"])


async def contracts_by_id(session: AsyncSession, agbs: Iterable[str], ids: Iterable[str]) -> dict[str, ContractState]:
    """Every contract (tombstones included) of these providers, and these contracts whoever holds them."""
    found: dict[str, ContractState] = {}
    for column, values in ((contracts.c.agb, agbs), (contracts.c.contract_id, ids)):
        for chunk in _chunks(values):
            rows = (await session.execute(select(contracts).where(column.in_(chunk)))).all()
            found.update((r.contract_id, contract_of(r)) for r in rows)
    return found


async def save_contracts(
    session: AsyncSession, states: Sequence[ContractState], touched_seq: int, today: dt.date
) -> None:
    await upsert(session, contracts, [contract_row(s, touched_seq, today) for s in states], ["contract_id"])


async def providers_with_ends_due(session: AsyncSession, today: dt.date) -> set[str]:
    """Providers with a terminated contract whose end date has come and is not applied to the listing yet."""
    rows = await session.execute(
        select(contracts.c.agb).where(contracts.c.ended.is_(False), contracts.c.ends_on <= today).distinct()
    )
    return {r.agb for r in rows}


async def mark_ended(session: AsyncSession, agbs: Iterable[str], today: dt.date) -> None:
    for chunk in _chunks(agbs):
        await session.execute(
            update(contracts)
            .where(contracts.c.agb.in_(chunk), contracts.c.ended.is_(False), contracts.c.ends_on <= today)
            .values(ended=True)
        )


async def entries_of(session: AsyncSession, agbs: Iterable[str]) -> dict[EntryKey, ListingItem]:
    found: dict[EntryKey, ListingItem] = {}
    for chunk in _chunks(agbs):
        rows = (await session.execute(select(listing_entries).where(listing_entries.c.agb.in_(chunk)))).all()
        found.update((EntryKey(r.year, r.sector, r.agb), item_of(r)) for r in rows)
    return found


async def all_entries(session: AsyncSession) -> dict[EntryKey, ListingItem]:
    rows = (await session.execute(select(listing_entries))).all()
    return {EntryKey(r.year, r.sector, r.agb): item_of(r) for r in rows}


async def apply_entry_changes(session: AsyncSession, changes: Iterable[Change]) -> None:
    """Make the entries table say what the changes say (upserts replace, removals delete)."""
    changes = list(changes)
    if not changes:
        return
    keys = [tuple(c.key) for c in changes]
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        table = listing_entries.c
        await session.execute(delete(listing_entries).where(tuple_(table.year, table.sector, table.agb).in_(chunk)))
    rows = [entry_row(c.key, c.item) for c in changes if c.op == "upsert"]
    if rows:
        await session.execute(listing_entries.insert(), rows)
