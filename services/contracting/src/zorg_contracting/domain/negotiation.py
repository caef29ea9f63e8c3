"""Offer negotiation (*offerteprocedure*): rounds of offers, accepting the other side's latest, the deadline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from zorg_common.policy import Policy

from .follow_format import Problem, tariff_ceiling_cents
from .notation import euros

Party = Literal["insurer", "provider"]
State = Literal["open", "agreed", "signed", "closed"]


class Refused(Exception):
    """A transition the rules do not allow (answered 409)."""


@dataclass(frozen=True)
class Kpi:
    code: str
    description: str
    incentive_pct: float


@dataclass(frozen=True)
class Offer:
    party: Party
    tariffs: tuple[tuple[str, int], ...]  # prestation code, amount in cents
    ceiling_cents: int | None = None
    kpis: tuple[Kpi, ...] = ()
    by: str = ""  # who made (or recorded) it: the token's subject


@dataclass
class Negotiation:
    state: State
    rounds: list[Offer] = field(default_factory=list)
    deadline_extended_until: dt.date | None = None

    def offer(self, offer: Offer) -> int:
        """Add a round; returns its number. Refused once agreed, signed or closed."""
        if self.state != "open":
            raise Refused(f"the negotiation is {self.state}: no more offers")
        self.rounds.append(offer)
        return len(self.rounds)

    def accept(self, party: Party, by: str) -> Offer:
        """Accept the other side's latest offer: the negotiation is agreed on it.

        Nobody accepts an offer they made (or recorded) themselves, whichever side they act for.
        """
        if self.state != "open":
            raise Refused(f"the negotiation is {self.state}: nothing left to accept")
        if not self.rounds:
            raise Refused("there is no offer to accept yet")
        latest = self.rounds[-1]
        if latest.party == party:
            raise Refused("the latest offer is your own: only the other side can accept it")
        if latest.by and latest.by == by:
            raise Refused("you made (or recorded) the latest offer yourself: someone else accepts it")
        self.state = "agreed"
        return latest

    def extend(self, until: dt.date, policy: Policy) -> None:
        if self.state in ("signed", "closed"):
            raise Refused(f"the negotiation is {self.state}: the deadline no longer matters")
        if until <= policy.calendar.contracting_deadline:
            raise ValueError(
                f"must be after the contracting deadline {policy.calendar.contracting_deadline.isoformat()}"
            )
        self.deadline_extended_until = until


def check_offer(offer: Offer, policy: Policy) -> list[Problem]:
    """Tariffs known to the policy and within its maximum, a positive ceiling, sensible KPIs."""
    problems: list[Problem] = []
    if not offer.tariffs:
        problems.append(Problem("tariffs", "an offer holds at least one tariff"))
    seen: set[str] = set()
    for i, (code, cents) in enumerate(offer.tariffs):
        where = f"tariffs[{i}]"
        prestation = policy.prestation(code)
        if code in seen:
            problems.append(Problem(f"{where}.prestation_code", f"{code} is listed twice"))
        seen.add(code)
        if prestation is None:
            problems.append(Problem(f"{where}.prestation_code", f"unknown prestation code {code} for {policy.id}"))
        elif cents > (top := tariff_ceiling_cents(prestation.max_tariff_cents, policy.max_above_tariff_pct)):
            problems.append(Problem(f"{where}.amount_cents", f"{euros(cents)} is above the maximum {euros(top)}"))
    codes = [k.code for k in offer.kpis]
    for i, code in enumerate(codes):
        if codes.count(code) > 1:
            problems.append(Problem(f"kpis[{i}].code", f"{code} is listed twice"))
    total = sum(k.incentive_pct for k in offer.kpis)
    if total > policy.max_kpi_incentive_pct + 1e-9:  # percentages as sent: 0.1 + 0.2 is not above 0.3
        problems.append(
            Problem(
                "kpis",
                f"the KPI incentives add up to {total:g}%; one offer's incentives add up to at most"
                f" {policy.max_kpi_incentive_pct:g}% ({policy.id})",
            )
        )
    return problems


def may_sign(today: dt.date, policy: Policy, extended_until: dt.date | None, all_year: bool = False) -> str | None:
    """None when signing today is allowed, else why not: after the deadline, unless extended.

    ``all_year``: a new institution (no earlier agreement) may contract all year (DOMAIN.md).
    """
    deadline = policy.calendar.contracting_deadline
    if today <= deadline or all_year:
        return None
    if extended_until is not None and today <= extended_until:
        return None
    if extended_until is not None:
        return f"the extended deadline ({extended_until.isoformat()}) has passed"
    return f"the contracting deadline ({deadline.isoformat()}) has passed and was not extended"


def needs_renegotiation(amount_cents: int, ceiling_cents: int | None) -> bool:
    """A prognosis more than 10% above the ceiling flags the contract for renegotiation."""
    return ceiling_cents is not None and amount_cents * 100 > ceiling_cents * 110
