"""A provider asks for a contract (GGZ, all year): invited, a negotiation, not eligible, or contracted already.

DOMAIN.md (GGZ digital route): a provider that got no invitation may ask at any time of the year;
an eligible one on the digital route is then invited, a large institution gets a negotiation, and
one that is not eligible is told so, confidential criteria unnamed. A new institution (no earlier
agreement) may contract all year: its procurement is not closed by the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select

from zorg_common import clock
from zorg_common.policy import Policy
from zorg_common.uow import UnitOfWork

from ..adapters.eligibility import EligibilityClient
from ..adapters.orm import invitations
from ..domain.follow_format import Problem
from ..domain.intake import not_eligible_problems
from ..domain.negotiation import Refused
from . import invitations as invitation_uc
from . import negotiations as negotiation_uc
from . import records

Outcome = Literal["invited", "negotiation", "not_eligible", "already_contracted"]


@dataclass(frozen=True)
class RequestOutcome:
    outcome: Outcome
    invitation_id: str | None = None
    negotiation_id: str | None = None
    contract_id: str | None = None
    reasons: list[Problem] = field(default_factory=list)  # not eligible: what the provider may read (Dutch)


async def request_contract(
    uow: UnitOfWork, eligibility: EligibilityClient, agb: str, policy: Policy, actor: str
) -> RequestOutcome:
    contract = await records.contract_covering(uow, agb, policy.sector, policy.contract_year)
    if contract is not None:
        return RequestOutcome("already_contracted", contract_id=contract.id)
    register = await eligibility.register(agb)
    evaluation = await eligibility.evaluation(agb, policy.id) if register is not None else None
    if register is None or evaluation is None:
        raise records.NotFoundError(f"no provider with AGB code {agb} in the register")
    if not evaluation.eligible:
        return RequestOutcome("not_eligible", reasons=not_eligible_problems(evaluation, policy))
    if evaluation.route not in ("digital", "offer"):
        raise Refused(
            f"under {policy.id} this provider takes the {evaluation.route or 'no'} route"
            + (" (its size is not on file)" if "SIZE_UNKNOWN" in evaluation.warnings else "")
            + ": there is no contract to ask for here"
        )
    all_year = register.kind == "institution" and not await records.has_earlier_agreement(
        uow, agb, policy.contract_year
    )
    if not all_year and clock.today() > policy.calendar.contracting_deadline:
        raise Refused(
            f"the contracting deadline ({policy.calendar.contracting_deadline.isoformat()}) has passed;"
            " only a new institution may contract all year"
        )
    if evaluation.route == "offer":
        running = await negotiation_uc.running(uow, agb, policy.id)
        negotiation_id = running or await negotiation_uc.open_negotiation(uow, agb, policy, actor, all_year=all_year)
        return RequestOutcome("negotiation", negotiation_id=negotiation_id)
    pending = await uow.session.scalar(
        select(invitations.c.id).where(
            invitations.c.agb == agb, invitations.c.policy_id == policy.id, invitations.c.status == "invited"
        )
    )
    if pending is not None:
        return RequestOutcome("invited", invitation_id=str(pending))
    candidate = invitation_uc.Candidate(
        agb, register.name or agb, register.kind or "individual", evaluation.contract_years or 1, evaluation.id
    )
    invitation_id = await invitation_uc.invite_one(uow, policy, candidate, all_year=all_year)
    return RequestOutcome("invited", invitation_id=invitation_id)
