"""The embargo: when a contract year's listing of a sector becomes public, read from the policy data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import get_args

from zorg_common.events import Sector
from zorg_common.policy import Policy, policies

SECTORS: tuple[str, ...] = get_args(Sector)


@dataclass(frozen=True)
class SectorPublication:
    """Whether one sector's listing for one contract year is public on a given day, and from when."""

    sector: str
    year: int
    publication_date: dt.date | None  # None: no policy of its own for this sector and year, never published
    published: bool


def publication_date(sector: str, year: int, available: dict[str, Policy] | None = None) -> dt.date | None:
    """The publication date of the sector's own policy for ``year``; None without one.

    DOMAIN.md (Publication): a year without its own policy is not published; an earlier policy's
    date does not carry over.
    """
    policy = (available if available is not None else policies()).get(f"{sector}-{year}")
    return policy.calendar.publication if policy is not None else None


def sector_publication(
    sector: str, year: int, today: dt.date, available: dict[str, Policy] | None = None
) -> SectorPublication:
    date = publication_date(sector, year, available)
    # From the first moment of the publication date, not a second earlier.
    return SectorPublication(sector, year, date, date is not None and today >= date)


def is_published(sector: str, year: int, today: dt.date, available: dict[str, Policy] | None = None) -> bool:
    return sector_publication(sector, year, today, available).published


def year_publications(
    year: int, today: dt.date, sectors: tuple[str, ...] = SECTORS, available: dict[str, Policy] | None = None
) -> list[SectorPublication]:
    return [sector_publication(s, year, today, available) for s in sectors]


def default_year(today: dt.date, available: dict[str, Policy] | None = None) -> int:
    """The next contract year once any sector has published it, else the current year.

    From 12 November a visitor sees next year's contracted providers; before that, this year's
    (a page that says "not yet published" for most of the year would help nobody).
    """
    upcoming = today.year + 1
    if any(p.published for p in year_publications(upcoming, today, available=available)):
        return upcoming
    return today.year


def selectable_years(today: dt.date, available: dict[str, Policy] | None = None) -> list[int]:
    """The contract years a visitor can choose: from the first policy's year to next year."""
    known = [p.contract_year for p in (available if available is not None else policies()).values()]
    first = min(known, default=today.year)
    return list(range(min(first, today.year), max(today.year + 1, *known, first) + 1))
