"""Adjudicate claims in bulk: gather what the rules need in a few queries, decide in order, record and emit.

Used by the worker (ClaimSubmitted), by the holds (ContractSigned, ProcurementClosed re-adjudicate
the claims they held) and never over a decision taken by a person.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from zorg_common import clock
from zorg_common.events import ClaimAdjudicated, ReasonCode
from zorg_common.policy import policy_for

from ..adapters.metrics import count_decisions
from ..adapters.repository import COUNTS, ClaimsUnit, Recorded, Snapshot, StoredClaim
from ..domain.adjudication import Context, Decision, adjudicate
from ..domain.calendar import add_months
from ..domain.claim import StoredLine, contract_year
from ..domain.programme import ProgrammeClaim
from ..domain.review import hold_for_review

log = logging.getLogger(__name__)

PAYING = ("approved", "partially_approved")


@dataclass
class Review:
    """When a provider's volume holds its paying claims for a person (settings)."""

    factor: float
    min_lines: int


@dataclass
class _Known:
    """A batch's snapshot, indexed for the rules; later lines of the batch see the earlier ones."""

    snapshot: Snapshot
    same_service: dict[tuple[str, str, str, dt.date], str] = field(default_factory=dict)
    programme_history: dict[str, list[ProgrammeClaim]] = field(default_factory=lambda: defaultdict(list))
    volume: dict[str, tuple[int, float]] = field(default_factory=dict)  # agb -> (this month, monthly average)

    @classmethod
    def of(cls, snapshot: Snapshot, month_start: dt.date) -> _Known:
        known = cls(snapshot)
        for c in snapshot.earlier:
            known.same_service.setdefault((c.agb, c.bsn, c.prestation_code, c.service_date), c.id)
            if c.sector == "GLI" and c.programme and c.programme_start:
                known.programme_history[c.bsn].append(
                    ProgrammeClaim(c.programme, c.programme_start, c.prestation_code, c.quantity)
                )
        for agb, months in snapshot.volume.items():
            this_month = sum(n for m, n in months if m >= month_start)
            known.volume[agb] = (this_month, sum(n for m, n in months if m < month_start) / 3)
        return known

    def context(self, claim: StoredClaim, policy_id: str, year: int) -> Context:
        line, s = claim.line, self.snapshot
        eligible, evaluation_id = s.eligibility.get((line.agb, policy_id), (None, None))
        return Context(
            received_on=claim.received_on,
            provider_known=line.agb in s.providers,
            provider_kind=s.providers.get(line.agb),
            duplicate_of=self.same_service.get((line.agb, line.bsn, line.prestation_code, line.service_date)),
            contract_year=year,
            procurement_in_progress=(line.agb, line.sector, year) in s.open_procurements,
            contracts=s.contracts.get((line.agb, line.sector), ()),
            eligible=eligible,
            evaluation_id=evaluation_id,
            authorisations=s.authorisations.get((line.agb, line.bsn), ()),
            programme_history=self.programme_history.get(line.bsn, ()) if line.sector == "GLI" else (),
        )

    def counted(self, claim_id: str, line: StoredLine) -> None:
        """A line that now counts: a later line like it is a duplicate, and it fills its run's limits."""
        self.same_service.setdefault((line.agb, line.bsn, line.prestation_code, line.service_date), claim_id)
        if line.sector == "GLI" and line.programme and line.programme_start:
            self.programme_history[line.bsn].append(
                ProgrammeClaim(line.programme, line.programme_start, line.prestation_code, line.quantity)
            )

    def flagged(self, agb: str, review: Review) -> bool:
        this_month, usual = self.volume.get(agb, (0, 0.0))
        return this_month >= review.min_lines and usual > 0 and this_month > review.factor * usual


def _open_to_rules(
    found: Sequence[StoredClaim], order: Sequence[str], holds: Sequence[str | None]
) -> list[StoredClaim]:
    """Not yet decided (``received``), or pending on one of ``holds``; never one a person decided.

    In order of receipt; the lines of one batch share their moment of receipt and keep the order
    they were sent in (their events' order), so "the second intake" is the second line.
    """
    position = {claim_id: n for n, claim_id in enumerate(order)}
    open_ = [
        c
        for c in found
        if (c.status == "received" or (c.status == "pending" and c.hold is not None and c.hold in holds))
        and c.decided_by in (None, "rules")
    ]
    return sorted(open_, key=lambda c: (c.received_at, position.get(c.id, 0)))


def _decide(known: _Known, claim: StoredClaim, review: Review) -> Recorded | None:
    """The rules' decision on one claim, or None when it still waits for the same procurement."""
    line = claim.line
    year = contract_year(line)
    policy = policy_for(line.sector, year)
    assert policy is not None, "a line without a policy is refused at the door"
    decision = adjudicate(line, policy, known.context(claim, policy.id, year))
    hold = "contract" if decision.reasons == ("AWAITING_CONTRACT",) else None
    if decision.status in PAYING and known.flagged(line.agb, review):
        decision, hold = hold_for_review(decision), "review"
    if decision.status in COUNTS:
        known.counted(claim.id, line)
    if hold == "contract" and claim.hold == "contract":
        return None  # a rerun that changes nothing records nothing
    return Recorded(claim.id, decision, claim.decision_no + 1, hold)


def adjudicated(agb: str, item: Recorded, now: dt.datetime) -> ClaimAdjudicated:
    """The event of a recorded decision (the rules' or a person's)."""
    d = item.decision
    return ClaimAdjudicated(
        agb=agb,
        claim_id=item.claim_id,
        status=d.status,
        reasons=[ReasonCode(**r) for r in d.reason_codes()],
        claimed_cents=d.claimed_cents,
        allowed_cents=d.allowed_cents,
        rule_version=d.rule_version,
        decision_no=item.number,
        adjudicated_at=now,
    )


async def adjudicate_claims(
    unit: ClaimsUnit, claim_ids: Sequence[str], review: Review, *, holds: Sequence[str | None] = (None,)
) -> list[Decision]:
    """Decide the claims among ``claim_ids`` that are still open to the rules, in order of receipt.

    Open: not yet decided (``received``), or pending on one of ``holds`` (a rerun after a contract
    or a closed procurement). A decision by a person is never touched. The claims are locked while
    they are decided, so two workers never decide one claim at the same time; and so are the GLI
    lines' insured persons, so two workers never count one programme run at the same time.
    """
    if not claim_ids:
        return []
    batch = _open_to_rules(await unit.claims.open_to_rules(claim_ids), claim_ids, holds)
    if not batch:
        return []
    # A GLI run counts its person's lines at every provider, which reach other workers: wait for them.
    await unit.claims.lock_insured(sorted({c.line.bsn for c in batch if c.line.sector == "GLI"}))
    month_start = clock.today().replace(day=1)
    known = _Known.of(await unit.claims.snapshot(batch, add_months(month_start, -3)), month_start)
    decided = [(claim, _decide(known, claim, review)) for claim in batch]
    recorded = [(claim, item) for claim, item in decided if item is not None]
    now = clock.utcnow()
    await unit.claims.record([item for _, item in recorded], now)
    for claim, item in recorded:
        unit.emit(adjudicated(claim.line.agb, item, now))
    log.debug("adjudicated %d claim(s)", len(recorded))
    count_decisions([item.decision for _, item in recorded])  # zorg_claims_decided_total{outcome}
    return [item.decision for _, item in recorded]


async def release_holds(unit: ClaimsUnit, agb: str, sector: str, years: Sequence[int], review: Review) -> int:
    """Re-adjudicate the claims held for a procurement of these contract years (contract signed or closed)."""
    wanted = set(years)
    held = [c.id for c in await unit.claims.held_for_contract(agb, sector) if contract_year(c.line) in wanted]
    decided = await adjudicate_claims(unit, held, review, holds=("contract",))
    if decided:
        log.info("re-adjudicated %d held claim(s) of %s %s %s", len(decided), agb, sector, sorted(wanted))
    return len(decided)
