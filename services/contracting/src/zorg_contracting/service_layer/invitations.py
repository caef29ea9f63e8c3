"""Digital contracting: invite every provider eligible for the digital route; the provider answers and signs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from zorg_common import clock
from zorg_common.policy import Policy
from zorg_common.uow import UnitOfWork

from ..adapters.eligibility import EligibilityClient
from ..adapters.orm import invitations
from ..domain.contract import digital_tariffs, period_for
from ..domain.negotiation import Refused, may_sign
from ..domain.questionnaire import Answer, check_answers
from . import records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    agb: str
    name: str
    kind: str
    contract_years: int
    evaluation_id: str | None


@dataclass(frozen=True)
class InvitationRun:
    evaluated: int
    invited: int
    already_invited: int
    already_contracted: int


class BadAnswers(Exception):
    """The questionnaire's answers have problems: (field, message) each."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


async def candidates(eligibility: EligibilityClient, policy: Policy) -> tuple[int, list[Candidate]]:
    """Ask eligibility about every provider of the sector now (fresh, stored evaluations); keep the digital ones."""
    found: list[Candidate] = []
    evaluated = 0
    async for provider in eligibility.providers(policy.sector):
        evaluation = await eligibility.evaluation(provider["agb"], policy.id)
        evaluated += 1
        if evaluation is not None and evaluation.eligible and evaluation.route == "digital":
            years = evaluation.contract_years or 1
            found.append(Candidate(provider["agb"], provider["name"], provider["kind"], int(years), evaluation.id))
    return evaluated, found


async def invite(uow: UnitOfWork, policy: Policy, found: list[Candidate], evaluated: int) -> InvitationRun:
    """An invitation for each candidate not invited yet and whose contract does not cover the year already."""
    invited = already = contracted = 0
    for candidate in found:
        if await records.contract_covering(uow, candidate.agb, policy.sector, policy.contract_year) is not None:
            contracted += 1  # a two-year contract of last year's policy covers this one: not invited again
            continue
        if await uow.session.scalar(
            select(invitations.c.id).where(invitations.c.agb == candidate.agb, invitations.c.policy_id == policy.id)
        ):
            already += 1
            continue
        await invite_one(uow, policy, candidate)
        invited += 1
    log.info(
        "invitations under %s: %d evaluated, %d invited, %d already, %d contracted",
        policy.id,
        evaluated,
        invited,
        already,
        contracted,
    )
    return InvitationRun(evaluated, invited, already, contracted)


async def invite_one(uow: UnitOfWork, policy: Policy, candidate: Candidate, *, all_year: bool = False) -> str:
    """A new invitation (and its procurement), or the provider's earlier one for the policy invited again."""
    procurement_id = await records.start_procurement(
        uow, candidate.agb, policy, "digital", "invitation", all_year=all_year
    )
    values: dict[str, Any] = dict(
        name=candidate.name[:200],
        kind=candidate.kind,
        contract_years=candidate.contract_years,
        status="invited",
        procurement_id=procurement_id,
        contract_id=None,
        evaluation_id=candidate.evaluation_id,
        invited_on=clock.today(),
        accepted_on=None,
    )
    earlier = await uow.session.scalar(
        select(invitations.c.id).where(invitations.c.agb == candidate.agb, invitations.c.policy_id == policy.id)
    )
    if earlier is not None:
        await uow.session.execute(update(invitations).where(invitations.c.id == earlier).values(**values))
        return str(earlier)
    invitation_id = records.new_id()
    await uow.session.execute(
        insert(invitations).values(id=invitation_id, agb=candidate.agb, policy_id=policy.id, **values)
    )
    return invitation_id


async def accept(
    uow: UnitOfWork,
    invitation_id: str,
    policy_of: dict[str, Policy],
    signatory: str,
    actor: str,
    answers: Sequence[tuple[str, Answer]] | None = None,
) -> str:
    """The provider answers the questionnaire and signs: a signed contract on the digital route with
    the policy's standard tariffs, the answers kept with it."""
    row = (
        await uow.session.execute(records.for_update(select(invitations).where(invitations.c.id == invitation_id), uow))
    ).first()
    if row is None:
        raise records.NotFoundError(f"no invitation {invitation_id}")
    if row.status != "invited":
        raise Refused(f"the invitation is {row.status}")
    policy = policy_of[row.policy_id]
    kept: list[dict[str, Answer]] | None = None
    if answers is not None:
        kept, problems = check_answers(policy, answers)
        if problems:
            raise BadAnswers([(p.field, p.message) for p in problems])
    # A new institution may contract all year (seed 001); everyone else signs by the deadline.
    all_year = await records.may_contract_all_year(
        uow, row.procurement_id, row.agb, policy, institution=row.kind == "institution"
    )
    if why := may_sign(clock.today(), policy, None, all_year):
        raise Refused(why)
    period = period_for(policy, row.contract_years)
    contract_id = await records.create_contract(
        uow,
        agb=row.agb,
        policy=policy,
        route="digital",
        start=period.start,
        end=period.end,
        tariffs=digital_tariffs(policy),
        source="invitation",
        source_id=invitation_id,
        procurement_id=row.procurement_id,
        actor=actor,
        answers=kept,
    )
    await records.sign_contract(uow, contract_id, signatory, clock.today(), actor)
    await uow.session.execute(
        update(invitations)
        .where(invitations.c.id == invitation_id)
        .values(status="accepted", contract_id=contract_id, accepted_on=clock.today())
    )
    return contract_id
