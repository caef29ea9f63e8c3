"""The procurement year at a glance (issue 15): where each provider of a policy stands, by route.

A provider may have had more than one procurement under a policy (a follow format rejected, then one
accepted; an invitation, then a negotiation): it is counted once, in the furthest state it reached:
signed, then in negotiation, invited, otherwise in progress, and closed without a contract only when
nothing else is open or signed. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

State = Literal["signed", "negotiating", "invited", "in_progress", "closed"]
#: The states in the order they are shown, which is also how far each one is.
STATES: tuple[State, ...] = ("signed", "negotiating", "invited", "in_progress", "closed")
#: Routes a procurement can take (restitution has none: no contract).
PROCURED_ROUTES = ("follow", "digital", "offer")


@dataclass(frozen=True, slots=True)
class ProcurementRow:
    agb: str
    route: str
    status: str  # in_progress, contracted, closed
    cause: str  # follow_format, invitation, negotiation


def state_of(row: ProcurementRow) -> State:
    if row.status == "contracted":
        return "signed"
    if row.status == "closed":
        return "closed"
    if row.cause == "negotiation":
        return "negotiating"
    if row.cause == "invitation":
        return "invited"
    return "in_progress"


def where_each_stands(rows: Iterable[ProcurementRow]) -> dict[str, tuple[str, State]]:
    """Per provider: the route and state of its furthest procurement under the policy."""
    found: dict[str, tuple[str, State]] = {}
    for row in rows:
        state = state_of(row)
        held = found.get(row.agb)
        if held is None or STATES.index(state) < STATES.index(held[1]):
            found[row.agb] = (row.route, state)
    return found


def by_route_and_state(stands: dict[str, tuple[str, State]], routes: Iterable[str]) -> dict[str, dict[State, int]]:
    """Providers per route (those given, in order, then any other found) and state."""
    counts: dict[str, dict[State, int]] = {route: dict.fromkeys(STATES, 0) for route in routes}
    for route, state in stands.values():
        counts.setdefault(route, dict.fromkeys(STATES, 0))[state] += 1
    return counts
