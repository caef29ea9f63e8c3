"""Deciding a follow-format intake: rejected, followed (accepted) or a person's review, from what is known."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from zorg_common.policy import Policy

from .follow_format import LABEL, FollowFormat, Problem

Status = Literal["received", "accepted", "rejected", "needs_review"]
_LEGAL_FORMS = re.compile(
    r"\b(b\.?v\.?|n\.?v\.?|v\.?o\.?f\.?|stichting|coöperatie|cooperatie|u\.?a\.?)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class FailedCriterion:
    code: str
    verdict: str
    text_nl: str


@dataclass(frozen=True)
class EligibilityAnswer:
    """What the eligibility service said about the provider under the format's policy."""

    known: bool  # the provider is in the register
    eligible: bool = False
    route: str | None = None
    failed: tuple[FailedCriterion, ...] = ()
    warnings: tuple[str, ...] = ()
    register_name: str | None = None
    register_kvk: str | None = None


@dataclass
class Decision:
    status: Status
    problems: list[Problem] = field(default_factory=list)
    review_reasons: list[str] = field(default_factory=list)


def same_name(a: str, b: str) -> bool:
    """Names match ignoring case, punctuation and legal forms (B.V., Stichting, ...)."""

    def norm(s: str) -> str:
        return re.sub(r"[\W_]+", "", _LEGAL_FORMS.sub("", s.casefold()))

    x, y = norm(a), norm(b)
    return bool(x) and x == y


def decide(
    fmt: FollowFormat | None,
    format_problems: Sequence[Problem],
    answer: EligibilityAnswer | None,
    policy: Policy | None,
    existing_contract_id: str | None = None,
) -> Decision:
    """The outcome of an intake; ``answer`` is None when eligibility was not (or could not be) asked."""
    problems = list(format_problems)
    if answer is not None:
        if not answer.known:
            problems.append(Problem(LABEL["agb"], "is not in the insurer's provider register"))
        elif not answer.eligible:
            for c in answer.failed:
                problems.append(Problem(f"criterium {c.code}", f"{c.verdict}: {c.text_nl}"))
        elif answer.route not in (None, "follow"):
            problems.append(
                Problem("Route", f"under this policy the provider takes the {answer.route} route, not the follow route")
            )
    if problems:
        return Decision("rejected", problems)
    if fmt is None or answer is None or policy is None:
        raise ValueError("a format without problems needs the eligibility answer to be decided")
    reasons: list[str] = []
    if answer.route is None:
        reasons.append("eligibility found no route for this provider: " + (", ".join(answer.warnings) or "unknown"))
    if answer.register_name and not same_name(fmt.name, answer.register_name):
        reasons.append(f"the name {fmt.name!r} does not match the register ({answer.register_name!r})")
    if answer.register_kvk and answer.register_kvk != fmt.kvk:
        reasons.append(f"the KvK number {fmt.kvk} does not match the register ({answer.register_kvk})")
    if fmt.signed_with_preferred_on > policy.calendar.contracting_deadline:
        reasons.append(
            "signed with the preferred insurer after the contracting deadline"
            f" ({policy.calendar.contracting_deadline.isoformat()})"
        )
    if existing_contract_id:
        reasons.append(
            f"a signed contract for {fmt.contract_year} exists already ({existing_contract_id}): an amendment?"
        )
    if reasons:
        return Decision("needs_review", [], reasons)
    return Decision("accepted")
