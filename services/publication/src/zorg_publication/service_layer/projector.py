"""The use cases that keep the listing: apply provider or contract changes, then redo those providers' entries.

They take many events at once (a consumer's batch: a few statements for hundreds of events) and
run in the caller's transaction, starting with the feed's counter lock, so that what they read
cannot change under them before they commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common import clock
from zorg_common.events import (
    CloudEvent,
    ContractSigned,
    ContractTerminated,
    Event,
    ProviderRegistered,
    ProviderUpdated,
)
from zorg_common.uow import UnitOfWork

from ..adapters import repository as repo
from ..domain.listing import ContractState, ProviderCard, diff, entries_for, merge_contract, merge_provider
from .feed import FeedWriter

log = logging.getLogger(__name__)


async def apply_providers(session: AsyncSession, incoming: Sequence[ProviderCard]) -> int:
    """Keep the newest version of each provider's public face; returns how many providers changed."""
    writer = await FeedWriter.acquire(session)
    current = await repo.providers_by_agb(session, {card.agb for card in incoming})
    merged = dict(current)
    for card in incoming:
        merged[card.agb] = merge_provider(merged.get(card.agb), card)
    changed = [card for agb, card in merged.items() if card != current.get(agb)]
    if not changed:
        return 0
    await repo.save_providers(session, changed, writer.write_seq)
    # A new version that changes only private facts changes no entry: no need to look.
    shown = {c.agb: c for c in changed if c.agb not in current or _public(current[c.agb]) != _public(c)}
    await refresh_entries(session, writer, set(shown), providers=shown)
    return len(changed)


async def apply_contracts(session: AsyncSession, incoming: Sequence[ContractState]) -> int:
    """Merge signed, amended and terminated contracts; returns how many contracts changed."""
    writer = await FeedWriter.acquire(session)
    agbs = {state.agb for state in incoming}
    held = await repo.contracts_by_id(session, agbs, {state.contract_id for state in incoming})
    merged = dict(held)
    for state in incoming:
        merged[state.contract_id] = merge_contract(merged.get(state.contract_id), state)
    changed = [state for contract_id, state in merged.items() if state != held.get(contract_id)]
    if not changed:
        return 0
    await repo.save_contracts(session, changed, writer.write_seq, clock.today())
    by_agb: dict[str, list[ContractState]] = {agb: [] for agb in agbs}
    for state in merged.values():
        if state.agb in by_agb:
            by_agb[state.agb].append(state)
    moved = {held[c.contract_id].agb for c in changed if c.contract_id in held} - agbs  # not expected
    await refresh_entries(session, writer, {c.agb for c in changed} | moved, contracts=by_agb)
    return len(changed)


async def refresh_entries(
    session: AsyncSession,
    writer: FeedWriter,
    agbs: Collection[str],
    *,
    providers: Mapping[str, ProviderCard] | None = None,
    contracts: Mapping[str, list[ContractState]] | None = None,
) -> int:
    """Recompute these providers' entries from their state (what the caller has at hand, the rest
    read); write and publish the differences. Returns the number of changes."""
    if not agbs:
        return 0
    known_providers = dict(providers or {})
    known_providers.update(await repo.providers_by_agb(session, set(agbs) - set(known_providers)))
    known_contracts = {a: list(c) for a, c in (contracts or {}).items() if a in agbs}
    missing = set(agbs) - set(known_contracts)
    if missing:
        for state in (await repo.contracts_by_id(session, missing, set())).values():
            known_contracts.setdefault(state.agb, []).append(state)
    desired = {}
    today = clock.today()
    for agb in agbs:
        desired.update(entries_for(known_providers.get(agb), known_contracts.get(agb, []), today))
    changes = diff(await repo.entries_of(session, agbs), desired)
    await repo.apply_entry_changes(session, changes)
    await writer.append(changes)
    return len(changes)


async def apply_due_ends(session: AsyncSession, today: dt.date) -> int:
    """Terminated contracts whose end date has come leave the listing (removals in the feed); returns
    how many providers' entries were redone. Nothing to do costs one query and no lock."""
    due = await repo.providers_with_ends_due(session, today)
    if not due:
        return 0
    writer = await FeedWriter.acquire(session)
    due = await repo.providers_with_ends_due(session, today)  # again, under the lock
    await refresh_entries(session, writer, due)
    await repo.mark_ended(session, due, today)
    return len(due)


def _public(card: ProviderCard) -> tuple[object, ...]:
    return (card.name, card.city, card.postcode, card.care_forms)


async def apply_provider(session: AsyncSession, incoming: ProviderCard) -> bool:
    return await apply_providers(session, [incoming]) > 0


async def apply_contract(session: AsyncSession, incoming: ContractState) -> bool:
    return await apply_contracts(session, [incoming]) > 0


# --- consumer batch handlers: (uow, [(envelope, event), ...]), registered in entrypoints/consumers.py


async def on_providers(uow: UnitOfWork, items: Sequence[tuple[CloudEvent, Event]]) -> None:
    cards = [ProviderCard.from_event(e) for _, e in items if isinstance(e, ProviderRegistered | ProviderUpdated)]
    await apply_providers(uow.session, cards)


async def on_contracts(uow: UnitOfWork, items: Sequence[tuple[CloudEvent, Event]]) -> None:
    states = []
    for _, event in items:
        if isinstance(event, ContractSigned):
            states.append(ContractState.signed(event))
        elif isinstance(event, ContractTerminated):
            states.append(ContractState.terminated_by(event))
    await apply_contracts(uow.session, states)
