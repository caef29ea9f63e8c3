"""A person's review (DOMAIN.md, Decision): a held claim keeps what the rules decided; a person approves
exactly the rules' amount, or rejects and nothing is paid."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .adjudication import Decision

REVIEW_VOLUME = "REVIEW_VOLUME"
REVIEW_APPROVED = "REVIEW_APPROVED"
REVIEW_REJECTED = "REVIEW_REJECTED"

Verdict = Literal["approve", "reject"]


def hold_for_review(decision: Decision) -> Decision:
    """A paying decision held for a person (a fraud signal): pending, with the rules' reasons and allowed
    amount kept, so that approving later pays that amount and no other."""
    return replace(
        decision,
        status="pending",
        reasons=(REVIEW_VOLUME, *decision.reasons),
        inputs={**decision.inputs, "review": "volume"},
    )


@dataclass(frozen=True)
class HeldClaim:
    """What a review reads of a claim held for review: the rules' decision as kept by the hold."""

    claimed_cents: int
    allowed_cents: int
    reasons: tuple[str, ...]
    rule_version: str
    decision_no: int  # the rules' decision that held it


def reviewed(held: HeldClaim, verdict: Verdict) -> Decision:
    """The person's decision: approving pays the rules' allowed amount, never more; rejecting pays nothing."""
    inputs = {"reviewed_decision_no": held.decision_no}
    if verdict == "reject":
        return Decision("rejected", (REVIEW_REJECTED,), held.claimed_cents, 0, held.rule_version, inputs)
    kept = tuple(r for r in held.reasons if r != REVIEW_VOLUME)
    allowed = min(held.allowed_cents, held.claimed_cents)
    status: Literal["approved", "partially_approved"] = (
        "approved" if allowed == held.claimed_cents else "partially_approved"
    )
    return Decision(status, (*kept, REVIEW_APPROVED), held.claimed_cents, allowed, held.rule_version, inputs)
