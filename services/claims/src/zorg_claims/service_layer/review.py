"""A person decides a claim held for review: exactly the rules' amount, or nothing; one decision per claim."""

from __future__ import annotations

from zorg_common import clock
from zorg_common.problems import Conflict, NotFound

from ..adapters.repository import ClaimsUnit, ClaimView, Recorded
from ..domain.adjudication import RULE_VERSION
from ..domain.review import HeldClaim, Verdict, reviewed
from .adjudicate import adjudicated


async def review_claim(unit: ClaimsUnit, claim_id: str, verdict: Verdict, note: str | None, reviewer: str) -> ClaimView:
    """Record the reviewer's decision on a claim held for review and emit ``ClaimAdjudicated``.

    The claim is locked while it is decided; of two people deciding it at once, the second finds it
    decided and is refused (``Conflict``), so a claim gets one decision, not two.
    """
    claim = await unit.claims.held_for_review(claim_id)
    if claim is None:
        raise NotFound(f"no claim {claim_id}")
    if claim.hold != "review":
        raise Conflict(f"claim {claim_id} is not held for review (status {claim.status})")
    held = HeldClaim(
        claimed_cents=claim.claimed_cents,
        allowed_cents=claim.allowed_cents or 0,
        reasons=claim.reasons,
        rule_version=claim.rule_version or RULE_VERSION,
        decision_no=claim.decision_no,
    )
    decision = reviewed(held, verdict)
    item = Recorded(claim_id, decision, claim.decision_no + 1, None, decided_by=reviewer, note=note)
    now = clock.utcnow()
    if not await unit.claims.record_person(item, now, expected_no=claim.decision_no):
        raise Conflict(f"claim {claim_id} was decided by someone else meanwhile")
    unit.emit(adjudicated(claim.agb, item, now))
    decided = await unit.claims.claim(claim_id)
    assert decided is not None
    return decided
