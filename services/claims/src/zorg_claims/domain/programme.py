"""GLI programme runs: one insured person's 24 months in one programme, whichever provider claims.

DOMAIN.md (limits count per person and programme run): a line whose programme start lies inside an
existing run of that person and programme belongs to that run, so moving the start date or changing
provider does not reset the counts; a new run starts only after the previous one ended.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zorg_common.policy import Policy, Programme

from .calendar import add_months


@dataclass(frozen=True, slots=True)
class ProgrammeClaim:
    """An earlier GLI line of the insured person that counts (approved, partly approved or pending)."""

    programme: str  # as the line names it; compared through the policy's spellings
    start: dt.date  # the line's programme start
    prestation_code: str
    quantity: int


@dataclass(frozen=True)
class ProgrammeRun:
    programme: str  # the recognised programme's name
    start: dt.date
    ends: dt.date  # the first day after the run (24 months after its start)
    counts: Mapping[str, int]  # prestations already claimed in this run, by code

    def explained(self) -> dict[str, object]:
        return {"programme": self.programme, "start": self.start.isoformat(), "counted": dict(self.counts)}


def run_months(policy: Policy) -> int:
    """A programme's length: a treatment and a maintenance phase (12 + 12 months unless the policy says)."""
    return 2 * (policy.programme_phase_months or 12)


def programme_run(
    policy: Policy, programme: Programme, start: dt.date, history: Sequence[ProgrammeClaim]
) -> ProgrammeRun:
    """The run of ``programme`` that a line starting on ``start`` belongs to, with what it already counts.

    Runs are laid out from the earliest start: a run lasts 24 months, every start inside it belongs
    to it, and the first start on or after its end opens the next one. A line moved a day earlier
    than its run's first line therefore opens the run itself, and the earlier lines join it.
    """
    months = run_months(policy)
    same = [c for c in history if _same(policy, c.programme, programme)]
    run_start: dt.date | None = None
    for begins in sorted({c.start for c in same} | {start}):
        if run_start is None or begins >= add_months(run_start, months):
            run_start = begins
        if begins == start:
            break
    assert run_start is not None
    ends = add_months(run_start, months)
    counts: Counter[str] = Counter()
    for claim in same:
        if run_start <= claim.start < ends:
            counts[claim.prestation_code] += claim.quantity
    return ProgrammeRun(programme.name, run_start, ends, counts)


def _same(policy: Policy, name: str, programme: Programme) -> bool:
    found = policy.recognised_programme(name)
    return found is not None and found.name == programme.name
