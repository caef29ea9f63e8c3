"""HTTP route of contract requests: a provider (portal) or staff asks for a contract under a policy, all year."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from zorg_common.app import UowDep
from zorg_common.auth import Forbidden
from zorg_common.identifiers import Agb
from zorg_common.openapi import problem_responses

from ..service_layer import contract_requests as uc
from .common import PipelineDep, WriteOrPortal, as_problems, eligibility_unavailable, policy_or_bad_input

router = APIRouter(prefix="/contract-requests", tags=["contract requests"])


class RequestIn(BaseModel):
    agb: Agb
    policy_id: str = Field(max_length=20)


class ReasonOut(BaseModel):
    field: str
    message: str


class RequestOut(BaseModel):
    outcome: Literal["invited", "negotiation", "not_eligible", "already_contracted"]
    invitation_id: str | None = None
    negotiation_id: str | None = None
    contract_id: str | None = None
    reasons: list[ReasonOut] = Field(
        default=[], description="not eligible: why, in Dutch (the insurer's own findings are not named)"
    )


@router.post(
    "",
    summary="Ask for a contract (any time of the year): invited, a negotiation, or why not",
    responses=problem_responses((409, "The contracting deadline has passed for this provider")),
)
async def request_contract(body: RequestIn, uow: UowDep, principal: WriteOrPortal, pipeline: PipelineDep) -> RequestOut:
    if not principal.may_see_provider(body.agb):
        raise Forbidden("a provider-portal token asks only for its own provider")
    policy = policy_or_bad_input(body.policy_id)
    with as_problems("agb"), eligibility_unavailable():
        result = await uc.request_contract(uow, pipeline.eligibility, body.agb, policy, principal.subject)
    await uow.commit()
    return RequestOut(
        outcome=result.outcome,
        invitation_id=result.invitation_id,
        negotiation_id=result.negotiation_id,
        contract_id=result.contract_id,
        reasons=[ReasonOut(field=p.field, message=p.message) for p in result.reasons],
    )
