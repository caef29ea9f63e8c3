"""Adjudication: the rules of DOMAIN.md ("Claims") in their order; the first rule that decides, decides.

A pure function of the claim line, the policy and what the claims service knows (its read models,
gathered by the caller into a ``Context``). No I/O here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from zorg_common.policy import Policy

from .calendar import add_months, submission_deadline
from .claim import LineFacts

RULE_VERSION = "2026.11-1"

Status = Literal["approved", "partially_approved", "rejected", "pending"]

#: Vektis COD954 return codes where one fits the reason.
VEKTIS = {
    "DUPLICATE": "0587",  # already claimed
    "TARIFF_CAPPED": "0611",  # tariff
    "NON_CONTRACTED_RATE": "0611",
    "PROVIDER_NOT_ELIGIBLE": "0613",  # not claimable under the policy
    "PRESTATION_NOT_CONTRACTED": "0613",
    "AUTHORISATION_REQUIRED": "0613",
    "PROGRAMME_NOT_RECOGNISED": "0613",
    "PRESTATION_INVALID_FOR_DATE": "0582",  # prestation code
    "PRESTATION_INVALID_FOR_PHASE": "0582",
    "PRESTATION_LIMIT_EXCEEDED": "0613",
    "PROGRAMME_DURATION_EXCEEDED": "0613",
}


@dataclass(frozen=True)
class ContractTerms:
    contract_id: str
    version: int
    start_date: dt.date
    end_date: dt.date
    tariffs: dict[str, int]  # prestation code -> cents


@dataclass(frozen=True)
class Authorisation:
    number: str
    care_type: str
    granted_on: dt.date
    valid_until: dt.date


@dataclass(frozen=True)
class Context:
    """What the service knows that the rules need, for one claim line."""

    received_on: dt.date
    provider_known: bool
    duplicate_of: str | None = None  # an approved, partly approved or pending claim like this one
    procurement_in_progress: bool = False
    contract: ContractTerms | None = None  # a signed contract covering the service date and sector
    eligible: bool | None = None  # the provider's latest eligibility under the policy; None: never evaluated
    authorisations: Sequence[Authorisation] = ()  # granted for this insured person and provider
    earlier_count: int = 0  # this prestation already claimed in this programme (approved, partly, pending)


@dataclass(frozen=True)
class Decision:
    status: Status
    reasons: tuple[str, ...]
    claimed_cents: int
    allowed_cents: int
    rule_version: str = RULE_VERSION
    details: dict[str, str] = field(default_factory=dict)

    def reason_codes(self) -> list[dict[str, str | None]]:
        return [{"code": r, "vektis_code": VEKTIS.get(r)} for r in self.reasons]


def _rejected(line: LineFacts, *reasons: str, **details: str) -> Decision:
    return Decision("rejected", reasons, line.claimed_cents, 0, details=details)


def _allowed(line: LineFacts, cap_cents: int, *reasons: str) -> Decision:
    allowed = min(line.claimed_cents, cap_cents)
    extra = ("TARIFF_CAPPED",) if allowed < line.claimed_cents and "TARIFF_CAPPED" not in reasons else ()
    status: Status = "approved" if allowed == line.claimed_cents else "partially_approved"
    return Decision(status, (*reasons, *extra), line.claimed_cents, allowed)


def adjudicate(line: LineFacts, policy: Policy, ctx: Context) -> Decision:
    """Rules 2-9 of DOMAIN.md in order (rule 1, bad input, is refused at the door; rule 10 by the caller)."""
    if ctx.received_on >= submission_deadline(line.opened):
        return _rejected(line, "SUBMISSION_DEADLINE_PASSED", deadline=submission_deadline(line.opened).isoformat())
    if ctx.duplicate_of is not None:
        return _rejected(line, "DUPLICATE", duplicate_of=ctx.duplicate_of)
    if not ctx.provider_known:
        return _rejected(line, "PROVIDER_UNKNOWN")
    prestation = policy.prestation(line.prestation_code)
    assert prestation is not None, "unknown prestation codes are refused at the door"
    if line.sector == "GLI":
        refused = _programme_rules(line, policy, ctx)
        if refused is not None:
            return refused
    if line.sector == "GGZ" and policy.zpm_from is not None:
        before_zpm = line.service_date < policy.zpm_from
        if (prestation.kind == "DBC" and not before_zpm) or (prestation.kind == "ZPM" and before_zpm):
            return _rejected(line, "PRESTATION_INVALID_FOR_DATE", zpm_from=policy.zpm_from.isoformat())
    if ctx.procurement_in_progress:
        return Decision("pending", ("AWAITING_CONTRACT",), line.claimed_cents, 0)
    if ctx.contract is not None:
        tariff = ctx.contract.tariffs.get(line.prestation_code)
        if tariff is None:
            return _rejected(line, "PRESTATION_NOT_CONTRACTED", contract_id=ctx.contract.contract_id)
        return _allowed(line, tariff * line.quantity)
    if line.sector == "GLI":
        if not ctx.eligible:
            return _rejected(line, "PROVIDER_NOT_ELIGIBLE")
        return _allowed(line, prestation.max_tariff_cents * line.quantity)
    if line.referral and not _authorised(line, ctx):
        return _rejected(line, "AUTHORISATION_REQUIRED")
    pct = policy.non_contracted_reimbursement_pct
    return _allowed(line, prestation.max_tariff_cents * line.quantity * pct // 100, "NON_CONTRACTED_RATE")


def _programme_rules(line: LineFacts, policy: Policy, ctx: Context) -> Decision | None:
    if line.programme not in policy.recognised_programmes():
        return _rejected(line, "PROGRAMME_NOT_RECOGNISED")
    assert line.programme_start is not None, "a GLI line without programme start is refused at the door"
    months = policy.programme_phase_months or 12
    maintenance_from = add_months(line.programme_start, months)
    ends = add_months(line.programme_start, 2 * months)
    if line.service_date >= ends:
        return _rejected(line, "PROGRAMME_DURATION_EXCEEDED", programme_ended=ends.isoformat())
    prestation = policy.prestation(line.prestation_code)
    assert prestation is not None
    limit = prestation.limit
    if limit is not None and limit.phase is not None:
        phase = "treatment" if line.service_date < maintenance_from else "maintenance"
        if phase != limit.phase:
            return _rejected(line, "PRESTATION_INVALID_FOR_PHASE", phase=phase)
    if limit is not None and ctx.earlier_count + line.quantity > limit.max_count:
        return _rejected(line, "PRESTATION_LIMIT_EXCEEDED", limit=str(limit.max_count))
    return None


def _authorised(line: LineFacts, ctx: Context) -> bool:
    """A machtiging granted before the trajectory opened (DOMAIN.md: "before the opening date") and still
    valid on the service date; when the line names a number, that one."""
    for auth in ctx.authorisations:
        if line.authorisation_number and auth.number != line.authorisation_number:
            continue
        if auth.granted_on < line.opened and line.service_date <= auth.valid_until:
            return True
    return False
