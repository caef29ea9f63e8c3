"""The rebuild: fold both topics' whole history into a fresh read model and put it in place of the old one.

1. Note the read model's write mark, then read ``zorg.providers`` and ``zorg.contracts`` from
   offset 0 to their high-water marks at the start, folding every event into a fresh model in
   memory (the rules are order-independent, so partitions may interleave freely).
2. In one transaction holding the feed's lock: take in what the running consumers wrote during
   the replay (rows touched after the mark, merged by the same rules), compute the entries,
   write the differences with the live entries as ordinary changes, and replace the state.

The website sees no churn: an unchanged listing gives no changes at all, a repaired one gives
exactly the repairs; cursors go on from where they were.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zorg_common import clock
from zorg_common.events import (
    TOPIC_CONTRACTS,
    TOPIC_PROVIDERS,
    CloudEvent,
    ContractSigned,
    ContractTerminated,
    ProviderRegistered,
    ProviderUpdated,
    topic_name,
)
from zorg_common.settings import ServiceSettings

from ..adapters import repository as repo
from ..adapters.orm import contracts, feed_state, providers
from ..adapters.replay import ReplayMarks, replay
from ..domain.listing import (
    ContractState,
    EntryKey,
    ListingItem,
    ProviderCard,
    diff,
    entries_for,
    merge_contract,
    merge_provider,
)
from .feed import FeedWriter

log = logging.getLogger(__name__)

TOPICS = (TOPIC_PROVIDERS, TOPIC_CONTRACTS)


@dataclass
class Fold:
    """A read model in memory, built by the same rules as the live one."""

    providers: dict[str, ProviderCard] = field(default_factory=dict)
    contracts: dict[str, ContractState] = field(default_factory=dict)
    applied: int = 0
    # Events of other types: procurements, and bank accounts and evaluations from before those moved
    # to zorg.providers.private (old history on zorg.providers is read and dropped, never stored).
    ignored: int = 0
    unreadable: int = 0

    def add_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = CloudEvent.from_json(record.value or b"")
            if envelope.type not in {"ProviderRegistered", "ProviderUpdated", "ContractSigned", "ContractTerminated"}:
                self.ignored += 1
                return
            event = envelope.payload()
        except (ValidationError, ValueError) as exc:
            self.unreadable += 1
            log.warning("rebuild: %s[%d]@%d cannot be read: %s", record.topic, record.partition, record.offset, exc)
            return
        if isinstance(event, ProviderRegistered | ProviderUpdated):
            self.add_provider(ProviderCard.from_event(event))
        elif isinstance(event, ContractSigned):
            self.add_contract(ContractState.signed(event))
        elif isinstance(event, ContractTerminated):
            self.add_contract(ContractState.terminated_by(event))
        self.applied += 1

    def add_provider(self, card: ProviderCard) -> None:
        self.providers[card.agb] = merge_provider(self.providers.get(card.agb), card)

    def add_contract(self, state: ContractState) -> None:
        self.contracts[state.contract_id] = merge_contract(self.contracts.get(state.contract_id), state)

    def entries(self, today: dt.date) -> dict[EntryKey, ListingItem]:
        by_agb: dict[str, list[ContractState]] = defaultdict(list)
        for contract in self.contracts.values():
            by_agb[contract.agb].append(contract)
        found: dict[EntryKey, ListingItem] = {}
        for agb, held in by_agb.items():
            found.update(entries_for(self.providers.get(agb), held, today))
        return found


@dataclass
class RebuildReport:
    marks: ReplayMarks
    fold: Fold
    merged_live: int = 0
    entries: int = 0
    changes: int = 0

    def describe(self) -> str:
        return (
            f"replayed {self.marks.records} message(s) up to {self.marks.describe()}: "
            f"{self.fold.applied} applied, {self.fold.ignored} of other types, {self.fold.unreadable} unreadable; "
            f"{self.merged_live} row(s) written by the running consumers meanwhile taken in; "
            f"{len(self.fold.providers)} provider(s), {len(self.fold.contracts)} contract(s), "
            f"{self.entries} listing entr{'y' if self.entries == 1 else 'ies'}; "
            f"{self.changes} change(s) written" + (" (the listing is unchanged)" if self.changes == 0 else "")
        )


async def rebuild(
    settings: ServiceSettings, sessions: async_sessionmaker[AsyncSession], *, timeout: float = 600.0
) -> RebuildReport:
    async with sessions() as session:
        mark = (await session.execute(select(feed_state.c.write_seq))).scalar_one()
    report = RebuildReport(ReplayMarks(), Fold())
    topics = [topic_name(settings.KAFKA_TOPIC_PREFIX, t) for t in TOPICS]
    async for batch in replay(settings, topics, report.marks, timeout=timeout):
        for record in batch:
            report.fold.add_record(record)
    async with sessions() as session, session.begin():
        writer = await FeedWriter.acquire(session)
        report.merged_live = await _take_in_live_writes(session, report.fold, mark)
        today = clock.today()
        desired = report.fold.entries(today)
        changes = diff(await repo.all_entries(session), desired)
        await repo.apply_entry_changes(session, changes)
        await writer.append(changes)
        await _replace_state(session, report.fold, writer.write_seq, today)
        report.entries, report.changes = len(desired), len(changes)
    log.info("rebuild: %s", report.describe())
    return report


async def _take_in_live_writes(session: AsyncSession, fold: Fold, mark: int) -> int:
    """Rows the consumers wrote after the replay began may hold events past the marks: keep them."""
    provider_rows = (await session.execute(select(providers).where(providers.c.touched_seq > mark))).all()
    contract_rows = (await session.execute(select(contracts).where(contracts.c.touched_seq > mark))).all()
    for row in provider_rows:
        fold.add_provider(repo.provider_of(row))
    for row in contract_rows:
        fold.add_contract(repo.contract_of(row))
    return len(provider_rows) + len(contract_rows)


async def _replace_state(session: AsyncSession, fold: Fold, seq: int, today: dt.date) -> None:
    await session.execute(delete(providers))
    await session.execute(delete(contracts))
    await _insert_chunks(session, providers, [repo.provider_row(p, seq) for p in fold.providers.values()])
    await _insert_chunks(session, contracts, [repo.contract_row(c, seq, today) for c in fold.contracts.values()])


async def _insert_chunks(session: AsyncSession, table: Table, rows: Sequence[dict[str, object]]) -> None:
    for start in range(0, len(rows), 5000):
        await session.execute(table.insert(), rows[start : start + 5000])
