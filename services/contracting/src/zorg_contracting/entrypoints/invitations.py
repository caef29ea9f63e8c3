"""HTTP routes of digital contracting: invite the eligible providers of a policy, list, accept (sign)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from zorg_common.app import UowDep
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.policy import Question, policies
from zorg_common.problems import BadInput, NotFound

from ..adapters.orm import invitations
from ..service_layer import invitations as uc
from .common import (
    PipelineDep,
    ReadContracts,
    WriteContracts,
    WriteOrPortal,
    as_problems,
    eligibility_unavailable,
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
    already_contracted: int = Field(description="eligible, but a contract covers the year already: not invited")
    evaluated: int


class AnswerIn(BaseModel):
    question: str = Field(min_length=1, max_length=40, description="the id of a question of the policy")
    answer: bool | int | float | Annotated[str, Field(max_length=2000)]


class AcceptIn(BaseModel):
    signatory: str | None = Field(default=None, max_length=200)
    answers: list[AnswerIn] | None = Field(
        default=None, max_length=100, description="the policy's questionnaire; when sent, every required question"
    )


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
    questionnaire: list[Question] = Field(description="the policy's questions, answered when accepting")


def _out(row: Any) -> InvitationOut:
    policy = policies().get(row.policy_id)
    data = {k: row._mapping[k] for k in InvitationOut.model_fields if k != "questionnaire"}
    return InvitationOut.model_validate({**data, "questionnaire": policy.questionnaire if policy else []})


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
    with eligibility_unavailable():
        evaluated, found = await uc.candidates(pipeline.eligibility, policy)
    run = await uc.invite(uow, policy, found, evaluated)
    await uow.commit()
    return InviteOut(
        policy_id=policy.id,
        count=run.invited,
        already_invited=run.already_invited,
        already_contracted=run.already_contracted,
        evaluated=run.evaluated,
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
async def accept(
    invitation_id: IdPath,
    uow: UowDep,
    principal: WriteOrPortal,
    body: Annotated[AcceptIn | None, Body()] = None,
) -> InvitationOut:
    """The body is optional; its `answers`, when sent, answer the policy's questionnaire (kept with the contract)."""
    row = (await uow.session.execute(select(invitations).where(invitations.c.id == invitation_id))).first()
    if row is None:
        raise NotFound(f"no invitation {invitation_id}")
    if principal.is_portal:
        own_only(principal, row.agb)
    body = body or AcceptIn()
    answers = [(a.question, a.answer) for a in body.answers] if body.answers is not None else None
    try:
        with as_problems():
            await uc.accept(
                uow, invitation_id, policies(), body.signatory or principal.subject, principal.subject, answers
            )
    except uc.BadAnswers as exc:
        raise BadInput(exc.problems) from None
    await uow.commit()
    row = (await uow.session.execute(select(invitations).where(invitations.c.id == invitation_id))).one()
    return _out(row)
