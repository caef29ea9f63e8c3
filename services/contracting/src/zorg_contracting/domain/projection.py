"""The cost of an offer (issue 15): the provider's volumes of last year per prestation, priced at the offered
tariffs, against the ceiling and against what last year actually cost.

**Decision** (what is priced): the care the provider *delivered* last year (every decided claim line but
a duplicate and one a person rejected; the claims service's totals), because a contract pays for care
given, including care the year before left unpaid (a prestation without a tariff, no contract at
all). What last year *actually cost* is the allowed amounts of the lines that were paid. Last year is
the calendar year before the day the offer is priced (a round: the day it was made).

A prestation with volume but no tariff in the offer is shown with its volume and priced at nothing
(a contract without it would not pay it). Pure: no I/O here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from .negotiation import needs_renegotiation


@dataclass(frozen=True, slots=True)
class Volume:
    """One prestation of last year, as the claims service counts it."""

    prestation_code: str
    quantity: int  # delivered
    claimed_cents: int
    paid_quantity: int
    allowed_cents: int  # what it cost


@dataclass(frozen=True, slots=True)
class ProjectedLine:
    prestation_code: str
    tariff_cents: int | None  # None: the offer has no tariff for it
    quantity: int
    projected_cents: int
    last_year_claimed_cents: int
    last_year_allowed_cents: int


@dataclass(frozen=True, slots=True)
class Projection:
    volume_year: int
    lines: tuple[ProjectedLine, ...]
    ceiling_cents: int | None

    @property
    def projected_cents(self) -> int:
        return sum(line.projected_cents for line in self.lines)

    @property
    def last_year_allowed_cents(self) -> int:
        return sum(line.last_year_allowed_cents for line in self.lines)

    @property
    def last_year_claimed_cents(self) -> int:
        return sum(line.last_year_claimed_cents for line in self.lines)

    @property
    def unpriced_quantity(self) -> int:
        """Last year's volume of prestations the offer has no tariff for."""
        return sum(line.quantity for line in self.lines if line.tariff_cents is None)

    @property
    def ceiling_headroom_cents(self) -> int | None:
        """The ceiling less the projection: negative when the projection is above the ceiling."""
        return None if self.ceiling_cents is None else self.ceiling_cents - self.projected_cents

    @property
    def change_vs_last_year_pct(self) -> float | None:
        """How much more (or less) than last year actually cost, in percent; None when it cost nothing."""
        cost = self.last_year_allowed_cents
        return None if cost == 0 else round((self.projected_cents - cost) * 100 / cost, 1)


def volume_year(priced_on: dt.date) -> int:
    """Last year of a projection: the calendar year before the day it is priced."""
    return priced_on.year - 1


def project(
    tariffs: Sequence[tuple[str, int]], ceiling_cents: int | None, volumes: Sequence[Volume], year: int
) -> Projection:
    """Every prestation of the offer (in its order, volume or not), then those with volume it has no tariff
    for: quantity delivered x tariff, beside what last year claimed and cost."""
    by_code = {v.prestation_code: v for v in volumes}
    offered = dict(tariffs)
    codes = [code for code, _ in tariffs] + sorted(code for code in by_code if code not in offered)
    nothing = Volume("", 0, 0, 0, 0)
    lines = []
    for code in codes:
        volume, tariff = by_code.get(code, nothing), offered.get(code)
        lines.append(
            ProjectedLine(
                code,
                tariff,
                volume.quantity,
                volume.quantity * tariff if tariff is not None else 0,
                volume.claimed_cents,
                volume.allowed_cents,
            )
        )
    return Projection(year, tuple(lines), ceiling_cents)


def prognosis_above_projection(amount_cents: int, projected_cents: int | None) -> bool | None:
    """A prognosis more than 10% above the agreed round's projection is flagged, as one above the ceiling
    is; None when there is no projection to compare with (or it priced nothing)."""
    if not projected_cents:
        return None
    return needs_renegotiation(amount_cents, projected_cents)
