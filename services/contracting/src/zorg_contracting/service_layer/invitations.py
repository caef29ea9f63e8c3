"""Digital contracting: invite every provider eligible for the digital route; the provider accepts and signs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from zorg_common import clock
from zorg_common.policy import Policy
from zorg_common.uow import UnitOfWork

from ..adapters.eligibility import EligibilityClient
from ..adapters.orm import invitations
from ..domain.contract import digital_tariffs, period_for
from ..domain.negotiation import Refused, may_sign
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


async def candidates(eligibility: EligibilityClient, policy: Policy) -> tuple[int, list[Candidate]]:
    """Ask eligibility about every provider of the sector now (fresh, stored evaluations); keep the digital ones."""
    found: list[Candidate] = []
    evaluated = 0
    async for provider in eligibility.providers(policy.sector):
        evaluation = await eligibility.evaluate(provider["agb"], policy.id)
        evaluated += 1
        if evaluation.get("eligible") and evaluation.get("route") == "digital":
            years = evaluation.get("contract_years") or 1
            found.append(
                Candidate(provider["agb"], provider["name"], provider["kind"], int(years), evaluation.get("id"))
            )
    return evaluated, found


async def invite(uow: UnitOfWork, policy: Policy, found: list[Candidate], evaluated: int) -> InvitationRun:
    invited = already = 0
    for candidate in found:
        exists = await uow.session.scalar(
            select(invitations.c.id).where(invitations.c.agb == candidate.agb, invitations.c.policy_id == policy.id)
        )
        if exists:
            already += 1
            continue
        procurement_id = await records.start_procurement(uow, candidate.agb, policy, "digital", "invitation")
        await uow.session.execute(
            insert(invitations).values(
                id=records.new_id(),
                agb=candidate.agb,
                policy_id=policy.id,
                name=candidate.name[:200],
                kind=candidate.kind,
                contract_years=candidate.contract_years,
                status="invited",
                procurement_id=procurement_id,
                evaluation_id=candidate.evaluation_id,
                invited_on=clock.today(),
            )
        )
        invited += 1
    log.info("invitations under %s: %d evaluated, %d invited, %d already", policy.id, evaluated, invited, already)
    return InvitationRun(evaluated, invited, already)


async def accept(uow: UnitOfWork, invitation_id: str, policy_of: dict[str, Policy], signatory: str, actor: str) -> str:
    """The provider signs: a signed contract on the digital route with the policy's standard tariffs."""
    row = (
        await uow.session.execute(records.for_update(select(invitations).where(invitations.c.id == invitation_id), uow))
    ).first()
    if row is None:
        raise records.NotFoundError(f"no invitation {invitation_id}")
    if row.status != "invited":
        raise Refused(f"the invitation is {row.status}")
    policy = policy_of[row.policy_id]
    # New institutions may ask for a contract all year (seed 001); practitioners sign by the deadline.
    if row.kind != "institution" and (why := may_sign(clock.today(), policy, None)):
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
    )
    await records.sign_contract(uow, contract_id, signatory, clock.today(), actor)
    await uow.session.execute(
        update(invitations)
        .where(invitations.c.id == invitation_id)
        .values(status="accepted", contract_id=contract_id, accepted_on=clock.today())
    )
    return contract_id
