"""Reading the listing: one page of entries with filters, and the mark that says whether it changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import feed_state, listing_entries
from ..adapters.repository import item_of
from ..domain.calendar import SECTORS
from ..domain.listing import ListingItem
from ..domain.search import search_key


@dataclass(frozen=True)
class ListingQuery:
    year: int
    sectors: Sequence[str]  # the sectors to show (published ones, or all for a preview)
    q: str | None = None
    city: str | None = None
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class FeedMark:
    """Changes with every change of the listing: the read model's identity and its last cursor."""

    epoch: str
    last_cursor: int


async def feed_mark(session: AsyncSession) -> FeedMark:
    row = (await session.execute(select(feed_state.c.epoch, feed_state.c.last_cursor))).one()
    return FeedMark(row.epoch, row.last_cursor)


async def listing_page(session: AsyncSession, query: ListingQuery) -> tuple[list[ListingItem], int]:
    """The entries of one page, ordered by name (ignoring case and accents), then AGB; and the total."""
    if not query.sectors:
        return [], 0
    table = listing_entries.c
    where = [table.year == query.year]
    if set(query.sectors) != set(SECTORS):  # every sector: no filter, so the ordered index is used as it is
        where.append(table.sector.in_(list(query.sectors)))
    if query.q and search_key(query.q):
        where.append(table.name_key.contains(search_key(query.q), autoescape=True))
    if query.city and search_key(query.city):
        where.append(table.city_key.contains(search_key(query.city), autoescape=True))
    total = (await session.execute(select(func.count()).select_from(listing_entries).where(*where))).scalar_one()
    if total == 0:
        return [], 0
    rows = (
        await session.execute(
            select(listing_entries)
            .where(*where)
            .order_by(table.name_key, table.agb, table.sector)
            .offset((query.page - 1) * query.page_size)
            .limit(query.page_size)
        )
    ).all()
    return [item_of(r) for r in rows], int(total)
