"""Adjudication: the rules of DOMAIN.md ("Claims") in their order; the first rule that decides, decides.

A pure function of the claim line, the policy and what the claims service knows (its read models,
gathered by the caller into a ``Context``). No I/O here. Every decision names the inputs it used
(policy, contract and version, eligibility evaluation, authorisation, programme run), so that
staff can answer "why this amount" from the decision alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from zorg_common.policy import Policy, Prestation

from .authorisation import Authorisation, covering, needs_authorisation
from .calendar import add_months, submission_deadline
from .claim import LineFacts
from .programme import ProgrammeClaim, programme_run

RULE_VERSION = "2026.12-1"

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
    tariffs: Mapping[str, int]  # prestation code -> cents
    status: str = "signed"  # signed, terminated
    terminated_from: dt.date | None = None

    def in_force_on(self, day: dt.date) -> bool:
        if not self.start_date <= day <= self.end_date:
            return False
        return not (self.status == "terminated" and (self.terminated_from is None or day >= self.terminated_from))

    def signed_for(self, year: int) -> bool:
        """Signed for (part of) the contract year: it runs in that year and had not ended when it began there."""
        if not self.start_date.year <= year <= self.end_date.year:
            return False
        return self.in_force_on(max(dt.date(year, 1, 1), self.start_date))


@dataclass(frozen=True)
class Context:
    """What the service knows that the rules need, for one claim line."""

    received_on: dt.date
    provider_known: bool
    provider_kind: str | None = None  # individual, care_group, institution; None: not known yet
    duplicate_of: str | None = None  # an approved, partly approved or pending claim like this one
    contract_year: int | None = None  # DBC: the opening year, else the service year (the caller's lookup)
    procurement_in_progress: bool = False  # for this provider, sector and contract year
    contracts: Sequence[ContractTerms] = ()  # the provider's signed (or terminated) contracts in the sector
    eligible: bool | None = None  # the provider's latest eligibility under the policy; None: never evaluated
    evaluation_id: str | None = None  # the evaluation that said so
    authorisations: Sequence[Authorisation] = ()  # of this insured person at this provider
    programme_history: Sequence[ProgrammeClaim] = ()  # the insured person's counting GLI lines


@dataclass(frozen=True)
class Decision:
    status: Status
    reasons: tuple[str, ...]
    claimed_cents: int
    allowed_cents: int
    rule_version: str = RULE_VERSION
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def reason_codes(self) -> list[dict[str, str | None]]:
        return [{"code": r, "vektis_code": VEKTIS.get(r)} for r in self.reasons]


def adjudicate(line: LineFacts, policy: Policy, ctx: Context) -> Decision:
    """Rules 2-9 of DOMAIN.md in order (rule 1, bad input, is refused at the door; rule 10 by the caller)."""
    return _Adjudication(line, policy, ctx).decide()


class _Adjudication:
    """One line's way through the rules; ``inputs`` gathers what the rules consulted on the way."""

    def __init__(self, line: LineFacts, policy: Policy, ctx: Context) -> None:
        self.line, self.policy, self.ctx = line, policy, ctx
        prestation = policy.prestation(line.prestation_code)
        assert prestation is not None, "unknown prestation codes are refused at the door"
        self.prestation: Prestation = prestation
        # The contract year (a DBC's opening year) decides which contract applies: the one in force on
        # the service date, or, for a DBC closed in a later year, on its opening date.
        year = ctx.contract_year or line.service_date.year
        on = line.service_date if line.service_date.year == year else line.opened
        self.contract = next((c for c in ctx.contracts if c.in_force_on(on)), None)
        self.year_contracted = any(c.signed_for(year) for c in ctx.contracts)
        self.inputs: dict[str, Any] = {"policy_id": policy.id, "contract_year": year}

    def decide(self) -> Decision:
        rules: tuple[Callable[[], Decision | None], ...] = (
            self._deadline,
            self._duplicate,
            self._provider_known,
            self._programme,
            self._funding_change,
            self._awaiting_contract,
            self._contracted,
        )
        for rule in rules:
            decision = rule()
            if decision is not None:
                return decision
        return self._without_contract()

    # --- outcomes ---------------------------------------------------------------------------

    def _rejected(self, reason: str, **inputs: Any) -> Decision:
        return Decision("rejected", (reason,), self.line.claimed_cents, 0, inputs={**self.inputs, **inputs})

    def _paid(self, tariff_cents: int, rate_pct: int | None = None) -> Decision:
        """min(claimed, tariff x quantity), and at a rate of that tariff when one is given.

        ``TARIFF_CAPPED`` when the tariff lowered the amount, ``NON_CONTRACTED_RATE`` only when the
        rate lowered it further (DOMAIN.md, Vektis codes).
        """
        claimed, cap = self.line.claimed_cents, tariff_cents * self.line.quantity
        capped = min(claimed, cap)
        allowed = capped if rate_pct is None else min(capped, cap * rate_pct // 100)
        reasons = (("TARIFF_CAPPED",) if cap < claimed else ()) + (("NON_CONTRACTED_RATE",) if allowed < capped else ())
        status: Status = "approved" if allowed == claimed else "partially_approved"
        return Decision(status, reasons, claimed, allowed, inputs=dict(self.inputs))

    # --- the rules, in order ----------------------------------------------------------------

    def _deadline(self) -> Decision | None:
        deadline = submission_deadline(self.line.opened)
        if self.ctx.received_on >= deadline:
            return self._rejected("SUBMISSION_DEADLINE_PASSED", deadline=deadline.isoformat())
        return None

    def _duplicate(self) -> Decision | None:
        if self.ctx.duplicate_of is not None:
            return self._rejected("DUPLICATE", duplicate_of=self.ctx.duplicate_of)
        return None

    def _provider_known(self) -> Decision | None:
        return None if self.ctx.provider_known else self._rejected("PROVIDER_UNKNOWN")

    def _programme(self) -> Decision | None:
        """GLI: a recognised programme, within its run's 24 months, the quarter in its phase, within the limit."""
        line = self.line
        if line.sector != "GLI":
            return None
        programme = self.policy.recognised_programme(line.programme)
        if programme is None:
            return self._rejected("PROGRAMME_NOT_RECOGNISED")
        assert line.programme_start is not None, "a GLI line without programme start is refused at the door"
        run = programme_run(self.policy, programme, line.programme_start, self.ctx.programme_history)
        self.inputs["programme_run"] = run.explained()
        if line.service_date >= run.ends:
            return self._rejected("PROGRAMME_DURATION_EXCEEDED", programme_ended=run.ends.isoformat())
        limit = self.prestation.limit
        if limit is None:
            return None
        if limit.phase is not None:
            maintenance_from = add_months(run.start, self.policy.programme_phase_months or 12)
            phase = "treatment" if line.service_date < maintenance_from else "maintenance"
            if phase != limit.phase:
                return self._rejected("PRESTATION_INVALID_FOR_PHASE", phase=phase)
        if run.counts.get(line.prestation_code, 0) + line.quantity > limit.max_count:
            return self._rejected("PRESTATION_LIMIT_EXCEEDED", limit=limit.max_count)
        return None

    def _funding_change(self) -> Decision | None:
        """GGZ: DBC codes until the *harde stop*, ZPM codes from it."""
        zpm_from = self.policy.zpm_from
        if self.line.sector != "GGZ" or zpm_from is None:
            return None
        before_zpm = self.line.service_date < zpm_from
        kind = self.prestation.kind
        if (kind == "DBC" and not before_zpm) or (kind == "ZPM" and before_zpm):
            return self._rejected("PRESTATION_INVALID_FOR_DATE", zpm_from=zpm_from.isoformat())
        return None

    def _awaiting_contract(self) -> Decision | None:
        """Held while procurement runs, unless a contract for the year is signed: a signed contract wins."""
        if self.ctx.procurement_in_progress and not self.year_contracted and self.contract is None:
            return Decision("pending", ("AWAITING_CONTRACT",), self.line.claimed_cents, 0, inputs=dict(self.inputs))
        return None

    def _contracted(self) -> Decision | None:
        contract = self.contract
        if contract is None:
            return None
        self.inputs.update(contract_id=contract.contract_id, contract_version=contract.version)
        tariff = contract.tariffs.get(self.line.prestation_code)
        if tariff is None:
            return self._rejected("PRESTATION_NOT_CONTRACTED")
        return self._paid(tariff)

    def _without_contract(self) -> Decision:
        if self.line.sector == "GLI":
            return self._gli_without_contract()
        return self._ggz_without_contract()

    def _gli_without_contract(self) -> Decision:
        """Restitution for an eligible individual provider; the non-contracted rate for a care group or
        institution that is eligible (seed 000 gives restitution to individual providers only)."""
        if self.ctx.evaluation_id is not None:
            self.inputs["evaluation_id"] = self.ctx.evaluation_id
        if not self.ctx.eligible:
            return self._rejected("PROVIDER_NOT_ELIGIBLE")
        if self.ctx.provider_kind == "individual":
            return self._paid(self.prestation.max_tariff_cents)
        return self._paid(self.prestation.max_tariff_cents, self.policy.non_contracted_reimbursement_pct)

    def _ggz_without_contract(self) -> Decision:
        """Specialised care on a referral at an institution needs its authorisation; then the rate."""
        if needs_authorisation(self.prestation, self.line, self.ctx.provider_kind):
            found = covering(self.ctx.authorisations, self.prestation, self.line)
            if found is None:
                return self._rejected("AUTHORISATION_REQUIRED")
            self.inputs["authorisation_number"] = found.number
        return self._paid(self.prestation.max_tariff_cents, self.policy.non_contracted_reimbursement_pct)
