"""What the feed and the page share: one page of the listing for a query, with its embargo and entity tag."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.calendar import SECTORS, SectorPublication, year_publications
from ..domain.listing import ListingItem
from ..service_layer.queries import ListingQuery, feed_mark, listing_page
from .caching import entity_tag


class SectorStatus(BaseModel):
    sector: str
    publication_date: dt.date | None
    published: bool


class ListingPage(BaseModel):
    """``published`` is true when the year is public for the sector asked (any sector, when none is asked)."""

    year: int
    published: bool
    sectors: list[SectorStatus]
    items: list[ListingItem]
    page: int
    page_size: int
    total: int


@dataclass(frozen=True)
class ListingRequest:
    year: int
    sector: str | None
    q: str | None
    city: str | None
    page: int
    page_size: int
    preview: bool = False

    def publications(self, today: dt.date) -> list[SectorPublication]:
        return year_publications(self.year, today, (self.sector,) if self.sector else SECTORS)


async def listing_tag(
    session: AsyncSession, request: ListingRequest, publications: list[SectorPublication], *extra: object
) -> str:
    """Cheap (one row): changes whenever the answer could."""
    mark = await feed_mark(session)
    embargo = [(p.sector, p.publication_date, p.published) for p in publications]
    return entity_tag(mark.epoch, mark.last_cursor, request, embargo, *extra)


async def listing(session: AsyncSession, request: ListingRequest, publications: list[SectorPublication]) -> ListingPage:
    shown = [p.sector for p in publications if p.published or request.preview]
    query = ListingQuery(request.year, shown, request.q, request.city, request.page, request.page_size)
    items, total = await listing_page(session, query)
    return ListingPage(
        year=request.year,
        published=any(p.published for p in publications),
        sectors=[
            SectorStatus(sector=p.sector, publication_date=p.publication_date, published=p.published)
            for p in publications
        ],
        items=items,
        page=request.page,
        page_size=request.page_size,
        total=total,
    )
