"""Policy impact simulation: every provider of a sector under the current policy and under a draft, side by side.

Both sides are the one ``evaluate()`` of eligibility (no copy of a rule), over the register as it is,
on one date. A provider *newly fails* when it is eligible under the current policy and not under the
draft (the draft's blocking criteria it does not pass say why), *becomes eligible* the other way
round, and *changes route* when it is eligible under both with another route. Pure: no I/O here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from zorg_common.policy import Policy

from .evaluation import PASS, Outcome, ProviderProfile, evaluate

Change = Literal["newly_ineligible", "newly_eligible", "route_changed", "unchanged"]
#: How a route without a name (not eligible, or no route for its kind or size) is counted.
NO_ROUTE = "none"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A provider of the register as the simulation reads it."""

    agb: str
    name: str
    kind: str
    profile: ProviderProfile


@dataclass(frozen=True, slots=True)
class Side:
    """One policy's verdict on a provider."""

    eligible: bool
    route: str | None
    failing: tuple[str, ...]  # blocking criteria it does not pass (fail or unknown)

    @classmethod
    def of(cls, outcome: Outcome) -> Side:
        failing = tuple(c.code for c in outcome.criteria if c.blocking and c.verdict != PASS)
        return cls(outcome.eligible, outcome.route, failing)


@dataclass(frozen=True, slots=True)
class Compared:
    agb: str
    name: str
    kind: str
    current: Side
    draft: Side
    change: Change

    @property
    def newly_failing(self) -> tuple[str, ...]:
        """The draft's blocking criteria it does not pass and the current policy's did not stop it on."""
        return tuple(code for code in self.draft.failing if code not in self.current.failing)


@dataclass(frozen=True, slots=True)
class CriterionCount:
    code: str
    blocking_current: bool | None  # None: not a criterion of that policy
    blocking_draft: bool | None
    current: dict[str, int]  # verdict -> providers
    draft: dict[str, int]


@dataclass(frozen=True, slots=True)
class RouteCount:
    route: str
    current: int
    draft: int


@dataclass(frozen=True, slots=True)
class Simulation:
    current_policy_id: str
    draft_policy_id: str
    sector: str
    on: dt.date
    providers: tuple[Compared, ...]
    criteria: tuple[CriterionCount, ...]
    routes: tuple[RouteCount, ...]

    def with_change(self, change: Change) -> list[Compared]:
        return [p for p in self.providers if p.change == change]


def change_of(current: Side, draft: Side) -> Change:
    if current.eligible and not draft.eligible:
        return "newly_ineligible"
    if draft.eligible and not current.eligible:
        return "newly_eligible"
    if current.eligible and current.route != draft.route:
        return "route_changed"
    return "unchanged"


def _criteria(
    current: Policy, draft: Policy, now: Counter[tuple[str, str]], then: Counter[tuple[str, str]]
) -> tuple[CriterionCount, ...]:
    """Providers per verdict of every criterion of either policy (the current policy's, then the draft's new ones),
    from the (code, verdict) counts of each side."""
    blocking_now = {c.code: c.blocking for c in current.criteria}
    blocking_then = {c.code: c.blocking for c in draft.criteria}
    codes = [*blocking_now, *(code for code in blocking_then if code not in blocking_now)]
    verdicts = ("pass", "fail", "unknown")
    return tuple(
        CriterionCount(
            code,
            blocking_now.get(code),
            blocking_then.get(code),
            {v: now[(code, v)] for v in verdicts} if code in blocking_now else {},
            {v: then[(code, v)] for v in verdicts} if code in blocking_then else {},
        )
        for code in codes
    )


def _routes(compared: Sequence[Compared], current: Policy, draft: Policy) -> tuple[RouteCount, ...]:
    now = Counter(c.current.route or NO_ROUTE for c in compared)
    then = Counter(c.draft.route or NO_ROUTE for c in compared)
    named = [r.route for r in (*current.routes, *draft.routes)]
    routes = list(dict.fromkeys([*named, NO_ROUTE]))  # the policies' routes in order, then none
    return tuple(RouteCount(route, now[route], then[route]) for route in routes)


def simulate(current: Policy, draft: Policy, candidates: Iterable[Candidate], on: dt.date) -> Simulation:
    """Every candidate under both policies on ``on``; the caller passes the providers of the draft's sector."""
    compared: list[Compared] = []
    # Counted as the outcomes come, not kept: ten thousand providers make 300,000 verdicts.
    verdicts_now: Counter[tuple[str, str]] = Counter()
    verdicts_then: Counter[tuple[str, str]] = Counter()
    for c in candidates:
        now, then = evaluate(current, c.profile, on), evaluate(draft, c.profile, on)
        verdicts_now.update([(v.code, v.verdict) for v in now.criteria])
        verdicts_then.update([(v.code, v.verdict) for v in then.criteria])
        before, after = Side.of(now), Side.of(then)
        compared.append(Compared(c.agb, c.name, c.kind, before, after, change_of(before, after)))
    return Simulation(
        current.id,
        draft.id,
        draft.sector,
        on,
        tuple(compared),
        _criteria(current, draft, verdicts_now, verdicts_then),
        _routes(compared, current, draft),
    )
