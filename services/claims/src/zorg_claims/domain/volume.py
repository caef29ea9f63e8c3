"""What a decided claim adds to its provider's volume of the year: the care delivered, and what was paid.

**Decision** (volumes, issue 15): a claim counts in the contract year it is judged in (a DBC's opening
year, else its service year), under its provider and prestation code.
- *Delivered* (``lines``, ``quantity``, ``claimed_cents``): every decided line, paid or refused by the
  rules, because a refused line was care given all the same (a prestation the contract left out, a
  claim sent too late); except a ``DUPLICATE`` (the same care claimed again) and a line a person
  rejected (``REVIEW_REJECTED``: not shown to have been delivered).
- *Paid* (``paid_lines``, ``paid_quantity``, ``allowed_cents``): approved and partly approved lines; the
  allowed amounts are what the year actually cost.
- A pending line (held for a contract or for a person) counts nowhere until it is decided.

A new decision on a claim moves its contribution: what its previous decision counted goes, what the new
one counts comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .claim import Dated, contract_year

PAYING = frozenset({"approved", "partially_approved"})
#: Refusals that say the line is no care of its own: counted neither as delivered nor as paid.
NOT_DELIVERED = frozenset({"DUPLICATE", "REVIEW_REJECTED"})


@dataclass(frozen=True, slots=True, order=True)
class VolumeKey:
    """Where a claim counts: contract year, provider, prestation code (and its sector)."""

    year: int
    agb: str
    prestation_code: str
    sector: str


def volume_key(agb: str, line: Dated) -> VolumeKey:
    """Where a claim counts: the contract year it is judged in, its provider and prestation."""
    return VolumeKey(contract_year(line), agb, line.prestation_code, line.sector)


@dataclass(frozen=True, slots=True)
class Contribution:
    lines: int = 0
    quantity: int = 0
    claimed_cents: int = 0
    paid_lines: int = 0
    paid_quantity: int = 0
    allowed_cents: int = 0

    def __add__(self, other: Contribution) -> Contribution:
        return Contribution(
            self.lines + other.lines,
            self.quantity + other.quantity,
            self.claimed_cents + other.claimed_cents,
            self.paid_lines + other.paid_lines,
            self.paid_quantity + other.paid_quantity,
            self.allowed_cents + other.allowed_cents,
        )

    def __neg__(self) -> Contribution:
        return Contribution(
            -self.lines,
            -self.quantity,
            -self.claimed_cents,
            -self.paid_lines,
            -self.paid_quantity,
            -self.allowed_cents,
        )

    def __bool__(self) -> bool:
        return any(
            (self.lines, self.quantity, self.claimed_cents, self.paid_lines, self.paid_quantity, self.allowed_cents)
        )


NOTHING = Contribution()


def contribution(
    status: str, reasons: Iterable[str], quantity: int, claimed_cents: int, allowed_cents: int | None
) -> Contribution:
    """What a claim in this state counts (the module's decision); nothing while it is received or pending."""
    if status in PAYING:
        allowed = allowed_cents or 0
        return Contribution(1, quantity, claimed_cents, 1, quantity, allowed)
    if status == "rejected" and not NOT_DELIVERED.intersection(reasons):
        return Contribution(1, quantity, claimed_cents)
    return NOTHING


def tally(moves: Iterable[tuple[VolumeKey, Contribution, Contribution]]) -> dict[VolumeKey, Contribution]:
    """The change per key of a batch of decisions, each (key, what it counted before, what it counts now);
    keys whose change is nothing are left out."""
    found: dict[VolumeKey, Contribution] = {}
    for key, before, after in moves:
        if before == after:
            continue
        found[key] = found.get(key, NOTHING) + after + -before
    return {key: change for key, change in found.items() if change}
