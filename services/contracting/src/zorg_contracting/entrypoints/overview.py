"""`GET /procurements/overview`: the procurement year of one policy as data, the figures the year page draws."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from zorg_common.app import RuntimeDep, UowDep
from zorg_common.claims_api import HeldClaims, claims_client

from ..domain.overview import STATES
from ..service_layer.overview import Overview, policy_overview
from .common import StaffReads, policy_or_bad_input
from .negotiations import ProjectionOut

router = APIRouter(prefix="/procurements", tags=["contracts"])


class RouteStatesOut(BaseModel):
    route: str = Field(description="follow, digital or offer")
    signed: int
    negotiating: int
    invited: int
    in_progress: int
    closed: int = Field(description="closed without a contract")
    total: int


class NegotiationSummaryOut(BaseModel):
    id: str
    agb: str
    state: str
    rounds: int
    latest_projection: ProjectionOut | None = Field(description="the latest round's projection")


class OverviewOut(BaseModel):
    policy_id: str
    sector: str
    contract_year: int
    today: dt.date
    contracting_deadline: dt.date
    days_to_deadline: int = Field(description="negative once the deadline has passed")
    providers: int = Field(description="providers with a procurement under the policy, each counted once")
    routes: list[RouteStatesOut] = Field(description="providers per route, in the furthest state they reached")
    intakes_to_review: int = Field(description="follow-format e-mails of the policy waiting for a person")
    claims_available: bool
    held_claims: HeldClaims | None = Field(description="claims held in the contract year, per hold (claims service)")
    negotiations: list[NegotiationSummaryOut]


def overview_out(found: Overview) -> OverviewOut:
    policy = found.policy
    return OverviewOut(
        policy_id=policy.id,
        sector=policy.sector,
        contract_year=policy.contract_year,
        today=found.today,
        contracting_deadline=policy.calendar.contracting_deadline,
        days_to_deadline=found.days_to_deadline,
        providers=found.providers,
        routes=[
            RouteStatesOut(route=route, total=sum(states.values()), **{s: states[s] for s in STATES})
            for route, states in found.routes.items()
        ],
        intakes_to_review=found.intakes_to_review,
        claims_available=found.held is not None,
        held_claims=found.held,
        negotiations=[
            NegotiationSummaryOut(
                id=n.id,
                agb=n.agb,
                state=n.state,
                rounds=n.rounds,
                latest_projection=ProjectionOut.model_validate(n.latest) if n.latest else None,
            )
            for n in found.negotiations
        ],
    )


@router.get(
    "/overview",
    response_model=OverviewOut,
    summary="The procurement year of a policy: providers by route and state, the deadline, reviews, held claims",
)
async def get_overview(
    uow: UowDep, _: StaffReads, runtime: RuntimeDep, policy_id: Annotated[str, Query(max_length=20)]
) -> OverviewOut:
    policy = policy_or_bad_input(policy_id)
    return overview_out(await policy_overview(uow, policy, claims_client(runtime)))
