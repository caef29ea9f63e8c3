"""Deciding a follow-format intake: rejected, followed (accepted) or a person's review, from what is known."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from zorg_common.policy import Policy

from .follow_format import LABEL, FollowFormat, Problem
from .trust import SenderCheck

Status = Literal["received", "accepted", "rejected", "needs_review"]
#: What the intake does to the provider's follow-format procurement for the policy.
ProcurementStep = Literal["none", "open", "close"]
_LEGAL_FORMS = re.compile(
    r"\b(b\.?v\.?|n\.?v\.?|v\.?o\.?f\.?|stichting|coöperatie|cooperatie|u\.?a\.?)\b", re.IGNORECASE
)
#: The routes in the words of the policies, for a provider's reply.
ROUTE_NL = {
    "follow": "het landelijk volgbeleid",
    "restitution": "restitutie (zonder overeenkomst)",
    "digital": "digitale contractering",
    "offer": "de offerteprocedure",
}
CONDITIONS_FIELD = "Voorwaarden inkoopbeleid"


@dataclass(frozen=True)
class FailedCriterion:
    code: str
    verdict: str
    text_nl: str


@dataclass(frozen=True)
class RegisterEntry:
    """What the register holds about the provider that an intake needs."""

    name: str | None
    kvk: str | None
    kind: str | None
    contact_emails: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    """The eligibility service's verdict on the provider under one policy (stored there, explainable)."""

    eligible: bool
    route: str | None
    failed: tuple[FailedCriterion, ...] = ()
    warnings: tuple[str, ...] = ()
    id: str | None = None
    contract_years: int | None = None

    def record(self) -> dict[str, object]:
        """The full evaluation, for staff only (confidential criteria included)."""
        return {
            "id": self.id,
            "eligible": self.eligible,
            "route": self.route,
            "failed": [{"code": c.code, "verdict": c.verdict, "text_nl": c.text_nl} for c in self.failed],
            "warnings": list(self.warnings),
        }


@dataclass
class Decision:
    status: Status
    problems: list[Problem] = field(default_factory=list)  # what the provider may read (Dutch)
    review_reasons: list[str] = field(default_factory=list)  # what staff read
    reply: bool = False  # only a sender on file for a known provider is answered
    procurement: ProcurementStep = "none"


def same_name(a: str, b: str) -> bool:
    """Names match ignoring case, punctuation and legal forms (B.V., Stichting, ...)."""

    def norm(s: str) -> str:
        return re.sub(r"[\W_]+", "", _LEGAL_FORMS.sub("", s.casefold()))

    x, y = norm(a), norm(b)
    return bool(x) and x == y


def not_eligible_problems(evaluation: Evaluation, policy: Policy) -> list[Problem]:
    """Why a provider is not eligible, as it may read it: confidential criteria are never named.

    The general line (the policy's conditions are not met, whom to call) is there whenever the
    provider is not eligible, so its presence tells nothing about a confidential finding.
    """
    confidential = policy.confidential_criteria()
    problems = [
        Problem(f"criterium {c.code}", f"{'niet voldaan' if c.verdict == 'fail' else 'niet bekend'}: {c.text_nl}")
        for c in evaluation.failed
        if c.code not in confidential
    ]
    who = policy.enquiries
    call = f"{who.name_nl}, telefoon {who.phone}" if who else "de afdeling Zorginkoop"
    problems.append(
        Problem(
            CONDITIONS_FIELD,
            f"u voldoet niet aan de voorwaarden van het {policy.title_nl}; voor meer informatie"
            f" kunt u contact opnemen met {call}",
        )
    )
    return problems


def eligibility_problems(evaluation: Evaluation, policy: Policy, wanted_route: str) -> list[Problem]:
    if not evaluation.eligible:
        return not_eligible_problems(evaluation, policy)
    if evaluation.route not in (None, wanted_route):
        taken = ROUTE_NL.get(evaluation.route, evaluation.route)
        return [Problem("Route", f"onder dit inkoopbeleid valt u onder {taken}, niet onder {ROUTE_NL[wanted_route]}")]
    return []


@dataclass(frozen=True)
class Known:
    """What is known about the sender's provider: its register entry and the sender checked against it."""

    register: RegisterEntry
    sender: SenderCheck


def decide(
    fmt: FollowFormat | None,
    format_problems: Sequence[Problem],
    agb: str | None,
    known: Known | None,
    evaluation: Evaluation | None,
    policy: Policy | None,
    existing_contract_id: str | None,
    today: dt.date,
) -> Decision:
    """The outcome of an intake.

    ``agb`` is the AGB code as read (None when none could be read); ``known`` is None when the
    register does not know it; ``evaluation`` is None when the policy is unknown or the sender is
    not trusted (the provider is then not evaluated at all).
    """
    problems = list(format_problems)
    if known is None:
        return _unknown_provider(problems, agb_read=agb is not None)
    if not known.sender.trusted:
        return Decision("needs_review", problems, ["sender not verified: " + "; ".join(known.sender.reasons())])
    if evaluation is not None and policy is not None:
        problems += eligibility_problems(evaluation, policy, "follow")
    if problems:
        return _rejected(problems, evaluation, policy, existing_contract_id, today)
    if fmt is None or evaluation is None or policy is None:
        raise ValueError("a format without problems needs the provider's evaluation to be decided")
    if existing_contract_id:
        reason = f"change request: a signed contract for {fmt.contract_year} exists already ({existing_contract_id})"
        return Decision("needs_review", [], [reason], reply=True)
    reasons = _review_reasons(fmt, known.register, evaluation, policy)
    if reasons:
        return Decision("needs_review", [], reasons, reply=True, procurement="open")
    return Decision("accepted", reply=True, procurement="open")


def _unknown_provider(problems: list[Problem], *, agb_read: bool) -> Decision:
    """No AGB code to read: rejected, unanswered. An AGB code not in the register: review, unanswered.

    Neither is answered: the register has no address for them, and a reply would let anyone probe
    the register by e-mail.
    """
    if agb_read:
        return Decision("needs_review", problems, ["the AGB code is not in the provider register"])
    if not problems:
        problems = [Problem(LABEL["agb"], "ontbreekt")]
    return Decision("rejected", problems)


def _rejected(
    problems: list[Problem],
    evaluation: Evaluation | None,
    policy: Policy | None,
    existing_contract_id: str | None,
    today: dt.date,
) -> Decision:
    """Rejected with a reply. The procurement stays open for a corrected format until the deadline,
    unless the provider cannot be followed at all (not eligible, another route) or has a contract."""
    followable = evaluation is not None and evaluation.eligible and evaluation.route in (None, "follow")
    in_time = policy is not None and today <= policy.calendar.contracting_deadline
    step: ProcurementStep
    if existing_contract_id or policy is None or evaluation is None:
        step = "none"
    elif followable and in_time:
        step = "open"
    else:
        step = "close"
    return Decision("rejected", problems, reply=True, procurement=step)


def _review_reasons(fmt: FollowFormat, register: RegisterEntry, evaluation: Evaluation, policy: Policy) -> list[str]:
    reasons: list[str] = []
    if evaluation.route is None:
        reasons.append("eligibility found no route for this provider: " + (", ".join(evaluation.warnings) or "unknown"))
    if register.name and not same_name(fmt.name, register.name):
        reasons.append(f"the name {fmt.name!r} does not match the register ({register.name!r})")
    if register.kvk and register.kvk != fmt.kvk:
        reasons.append(f"the KvK number {fmt.kvk} does not match the register ({register.kvk})")
    if fmt.signed_with_preferred_on > policy.calendar.contracting_deadline:
        reasons.append(
            "signed with the preferred insurer after the contracting deadline"
            f" ({policy.calendar.contracting_deadline.isoformat()})"
        )
    return reasons
