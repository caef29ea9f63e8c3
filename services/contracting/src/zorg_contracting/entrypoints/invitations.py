"""HTTP routes of digital contracting: invite the eligible providers of a policy, list, accept (sign)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from zorg_common.app import UowDep
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.policy import policies
from zorg_common.problems import BadInput, NotFound, ProblemError

from ..adapters.eligibility import EligibilityUnavailable
from ..adapters.orm import invitations
from ..service_layer import invitations as uc
from .common import (
    PipelineDep,
    ReadContracts,
    WriteContracts,
    WriteOrPortal,
    as_problems,
    own_only,
    policy_or_bad_input,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/invitations", tags=["invitations"])
IdPath = Annotated[str, Path(max_length=36)]


class InviteIn(BaseModel):
    policy_id: str


class InviteOut(BaseModel):
    policy_id: str
    count: int = Field(description="invitations issued now")
    already_invited: int
    evaluated: int


class AcceptIn(BaseModel):
    signatory: str | None = Field(default=None, max_length=200)


class InvitationOut(BaseModel):
    id: str
    agb: str
    policy_id: str
    name: str
    kind: str
    contract_years: int
    status: Literal["invited", "accepted", "closed"]
    procurement_id: str
    contract_id: str | None
    invited_on: dt.date
    accepted_on: dt.date | None


def _out(row: Any) -> InvitationOut:
    return InvitationOut.model_validate({k: row._mapping[k] for k in InvitationOut.model_fields})


@router.post(
    "",
    summary="Invite every provider eligible for the policy's digital route",
    responses=problem_responses((503, "The eligibility service (or the database) cannot be reached")),
    response_model=InviteOut,
)
async def invite(body: InviteIn, uow: UowDep, _: WriteContracts, pipeline: PipelineDep) -> InviteOut:
    policy = policy_or_bad_input(body.policy_id)
    if not any(r.route == "digital" for r in policy.routes):
        raise BadInput([("policy_id", f"policy {policy.id} has no digital route")])
    try:
        evaluated, found = await uc.candidates(pipeline.eligibility, policy)
    except EligibilityUnavailable as exc:
        log.warning("invitations for %s: %s", policy.id, exc)  # the detail for us, not for the client
        raise ProblemError(
            503, "Service unavailable", "the eligibility service cannot be reached; try again later"
        ) from None
    run = await uc.invite(uow, policy, found, evaluated)
    await uow.commit()
    return InviteOut(
        policy_id=policy.id, count=run.invited, already_invited=run.already_invited, evaluated=run.evaluated
    )


@router.get("", summary="Invitations; a portal token sees only its own", response_model=Page[InvitationOut])
async def list_invitations(
    uow: UowDep,
    principal: ReadContracts,
    paging: PageDep,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    policy_id: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[Literal["invited", "accepted", "closed"] | None, Query()] = None,
) -> Page[InvitationOut]:
    where = []
    if principal.is_portal:
        agb = principal.agb
    if agb:
        where.append(invitations.c.agb == agb)
    if policy_id:
        where.append(invitations.c.policy_id == policy_id)
    if status:
        where.append(invitations.c.status == status)
    total = await uow.session.scalar(select(func.count()).select_from(invitations).where(*where))
    rows = (
        await uow.session.execute(
            select(invitations)
            .where(*where)
            .order_by(invitations.c.invited_on.desc(), invitations.c.agb)
            .offset(paging.offset)
            .limit(paging.page_size)
        )
    ).all()
    return Page(items=[_out(r) for r in rows], page=paging.page, page_size=paging.page_size, total=total or 0)


@router.post(
    "/{invitation_id}/accept",
    summary="The provider accepts its invitation and signs",
    responses=problem_responses(404, 409),
    response_model=InvitationOut,
)
async def accept(invitation_id: IdPath, body: AcceptIn, uow: UowDep, principal: WriteOrPortal) -> InvitationOut:
    row = (await uow.session.execute(select(invitations).where(invitations.c.id == invitation_id))).first()
    if row is None:
        raise NotFound(f"no invitation {invitation_id}")
    if principal.is_portal:
        own_only(principal, row.agb)
    with as_problems():
        await uc.accept(uow, invitation_id, policies(), body.signatory or principal.subject, principal.subject)
    await uow.commit()
    row = (await uow.session.execute(select(invitations).where(invitations.c.id == invitation_id))).one()
    return _out(row)
