"""The change feed: cursors handed out in commit order, the embargo on reading, and releases.

Every transaction that changes the read model first updates the one ``feed_state`` row, which
locks it until commit; so a transaction that holds cursor N committed before any that holds a
cursor above N, and a reader that sees cursor N committed has seen every change up to N.

Changes of a sector and contract year are public once its publication date has passed, and only
from its *release*: the first read of the feed on or after that date writes a snapshot (an
``upsert`` of every entry it has) and shows changes from there. What a website skipped while a
year was under embargo is thus never missed: the snapshot brings it, at cursors above every
cursor it was handed before.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zorg_common import clock

from ..adapters.orm import feed_state, listing_changes, listing_entries, listing_releases
from ..adapters.repository import item_of
from ..domain.calendar import is_published
from ..domain.listing import Change, EntryKey

_WRITER = "zorg_publication.feed_writer"


class FeedWriter:
    """The read model's writer for one transaction: it holds the counter row and hands out cursors."""

    def __init__(self, session: AsyncSession, last_cursor: int, write_seq: int, combos: set[tuple[str, int]]) -> None:
        self.session = session
        self.last_cursor = last_cursor
        self.write_seq = write_seq
        self.combos = combos  # (sector, year) pairs that have a release row

    @classmethod
    async def acquire(cls, session: AsyncSession) -> FeedWriter:
        """Lock the counter (once per transaction) before reading anything the change depends on."""
        transaction = session.sync_session.get_transaction()
        held = session.info.get(_WRITER)
        if held is not None and transaction is not None and held[0] is transaction:
            writer: FeedWriter = held[1]
            return writer
        # An UPDATE rather than SELECT ... FOR UPDATE: on SQLite it takes the write lock at once.
        row = (
            await session.execute(
                update(feed_state)
                .where(feed_state.c.id == 1)
                .values(write_seq=feed_state.c.write_seq + 1)
                .returning(feed_state.c.last_cursor, feed_state.c.write_seq)
            )
        ).one()
        combos = {(r.sector, r.year) for r in (await session.execute(select(listing_releases))).all()}
        writer = cls(session, row.last_cursor, row.write_seq, combos)
        session.info[_WRITER] = (session.sync_session.get_transaction(), writer)
        return writer

    async def append(self, changes: list[Change], today: dt.date | None = None) -> None:
        """Give the changes the next cursors and record them (the entries are the caller's)."""
        if not changes:
            return
        today = today or clock.today()
        new = sorted({(c.key.sector, c.key.year) for c in changes} - self.combos)
        if new:
            # A year that is public already is released from here: no earlier change of it exists.
            releases = [
                {"sector": s, "year": y, "released_cursor": self.last_cursor if is_published(s, y, today) else None}
                for s, y in new
            ]
            insert_new = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
            await self.session.execute(insert_new(listing_releases).on_conflict_do_nothing(), releases)
            self.combos.update(new)
        now = clock.utcnow()
        rows = [
            {
                "cursor": self.last_cursor + n,
                "year": c.key.year,
                "sector": c.key.sector,
                "agb": c.key.agb,
                "op": c.op,
                "item": c.item.model_dump_json(),
                "changed_at": now,
            }
            for n, c in enumerate(changes, start=1)
        ]
        await self.session.execute(listing_changes.insert(), rows)
        self.last_cursor += len(changes)
        await self.session.execute(update(feed_state).where(feed_state.c.id == 1).values(last_cursor=self.last_cursor))


async def ensure_releases(sessions: async_sessionmaker[AsyncSession], today: dt.date) -> int:
    """Release every sector and year whose publication date has come (a snapshot); returns how many.

    A year that is no longer published (only when the clock is set back, as in a demo) is
    withdrawn, so that it is released afresh when its date comes again.
    """
    async with sessions() as session:
        rows = (await session.execute(select(listing_releases))).all()
    if not any(is_published(r.sector, r.year, today) != (r.released_cursor is not None) for r in rows):
        return 0
    released = 0
    async with sessions() as session, session.begin():
        writer = await FeedWriter.acquire(session)
        for row in (await session.execute(select(listing_releases).order_by("sector", "year"))).all():
            published = is_published(row.sector, row.year, today)
            if published and row.released_cursor is None:
                released_at = writer.last_cursor
                entries = (
                    await session.execute(
                        select(listing_entries)
                        .where(listing_entries.c.sector == row.sector, listing_entries.c.year == row.year)
                        .order_by(listing_entries.c.agb)
                    )
                ).all()
                await writer.append(
                    [Change("upsert", EntryKey(e.year, e.sector, e.agb), item_of(e)) for e in entries], today
                )
                await _set_release(session, row.sector, row.year, released_at)
                released += 1
            elif not published and row.released_cursor is not None:
                await _set_release(session, row.sector, row.year, None)
    return released


async def _set_release(session: AsyncSession, sector: str, year: int, cursor: int | None) -> None:
    await session.execute(
        update(listing_releases)
        .where(listing_releases.c.sector == sector, listing_releases.c.year == year)
        .values(released_cursor=cursor)
    )


class CursorAhead(ValueError):
    """The cursor is beyond the last change: it comes from another read model (or was made up)."""

    def __init__(self, last_cursor: int) -> None:
        super().__init__(f"beyond the last change ({last_cursor})")
        self.last_cursor = last_cursor


@dataclass(frozen=True)
class FeedPage:
    changes: list[Any]  # rows: cursor, op, year, item (JSON text)
    next_cursor: int
    has_more: bool


async def read_changes(session: AsyncSession, since: int, limit: int, today: dt.date) -> FeedPage:
    """The public changes after ``since``, at most ``limit``, in cursor order.

    The last cursor is read first: every change up to it is committed (commit order), so a page
    that ends below ``limit`` may advance the client to it without skipping anything it may see.
    """
    last_cursor = (await session.execute(select(feed_state.c.last_cursor).where(feed_state.c.id == 1))).scalar_one()
    if since > last_cursor:
        raise CursorAhead(last_cursor)
    releases = (await session.execute(select(listing_releases))).all()
    visible = [
        and_(
            listing_changes.c.sector == r.sector,
            listing_changes.c.year == r.year,
            listing_changes.c.cursor > r.released_cursor,
        )
        for r in releases
        if r.released_cursor is not None and is_published(r.sector, r.year, today)
    ]
    if not visible:
        return FeedPage([], last_cursor, False)
    rows = (
        await session.execute(
            select(listing_changes.c.cursor, listing_changes.c.op, listing_changes.c.year, listing_changes.c.item)
            .where(listing_changes.c.cursor > since, listing_changes.c.cursor <= last_cursor, or_(*visible))
            .order_by(listing_changes.c.cursor)
            .limit(limit + 1)
        )
    ).all()
    if len(rows) > limit:
        rows = rows[:limit]
        return FeedPage(list(rows), rows[-1].cursor, True)
    return FeedPage(list(rows), last_cursor, False)


def changes_json(page: FeedPage) -> bytes:
    """The response body, with each stored item inserted as written (no parse and re-dump)."""
    parts = [
        f'{{"cursor":{r.cursor},"op":{json.dumps(r.op)},"year":{int(r.year)},"item":{r.item}}}' for r in page.changes
    ]
    has_more = "true" if page.has_more else "false"
    return f'{{"changes":[{",".join(parts)}],"next_cursor":{page.next_cursor},"has_more":{has_more}}}'.encode()
