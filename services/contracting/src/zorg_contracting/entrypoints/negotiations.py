"""HTTP routes of offer negotiations: open, offers and counter-offers, accept, deadline extension."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Forbidden, Principal
from zorg_common.claims_api import claims_client, closing_claims_client
from zorg_common.identifiers import Agb
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.policy import policies
from zorg_common.problems import BadInput

from ..adapters.orm import negotiations
from ..domain.negotiation import Kpi, Offer, check_offer
from ..service_layer import negotiations as uc
from ..service_layer import projections
from .common import (
    PipelineDep,
    ReadContracts,
    StaffReads,
    WriteContracts,
    WriteOrPortal,
    as_problems,
    claims_unavailable,
    eligibility_unavailable,
    own_only,
    policy_or_bad_input,
)
from .schemas import KpiIn, TariffIn

router = APIRouter(prefix="/negotiations", tags=["negotiations"], lifespan=closing_claims_client)
IdPath = Annotated[str, Path(max_length=36)]
PartyName = Literal["insurer", "provider"]


class OpenIn(BaseModel):
    agb: Agb
    policy_id: str


class OfferIn(BaseModel):
    party: PartyName
    tariffs: list[TariffIn] = Field(min_length=1, max_length=200)
    ceiling_cents: int | None = Field(default=None, gt=0)
    kpis: list[KpiIn] = Field(default_factory=list, max_length=50)


class AcceptIn(BaseModel):
    party: PartyName


class ExtensionIn(BaseModel):
    until: dt.date


class ProjectedLineOut(BaseModel):
    prestation_code: str
    tariff_cents: int | None = Field(description="null: the offer has no tariff for it (priced at nothing)")
    quantity: int = Field(description="last year's delivered quantity")
    projected_cents: int
    last_year_claimed_cents: int
    last_year_allowed_cents: int


class ProjectionOut(BaseModel):
    """Last year's volumes priced at the offer's tariffs; null figures while the claims service could not say."""

    status: Literal["computed", "unavailable"]
    volume_year: int = Field(description="last year: the calendar year before the day the offer was priced")
    computed_at: dt.datetime | None = None
    projected_cents: int | None = None
    ceiling_cents: int | None = None
    ceiling_headroom_cents: int | None = Field(default=None, description="the ceiling less the projection")
    above_ceiling: bool | None = None
    last_year_claimed_cents: int | None = None
    last_year_allowed_cents: int | None = Field(default=None, description="what last year actually cost")
    change_vs_last_year_pct: float | None = Field(default=None, description="the projection against that cost")
    unpriced_quantity: int | None = Field(default=None, description="volume the offer has no tariff for")
    lines: list[ProjectedLineOut] = []


class RoundOut(BaseModel):
    n: int
    party: str
    tariffs: list[TariffIn]
    ceiling_cents: int | None
    kpis: list[KpiIn]
    offered_by: str
    offered_at: dt.datetime
    projection: ProjectionOut | None = Field(
        default=None, description="staff only (null for a portal token): what this offer would cost"
    )


class WhatIfIn(BaseModel):
    tariffs: list[TariffIn] = Field(min_length=1, max_length=200)
    ceiling_cents: int | None = Field(default=None, gt=0)


class NegotiationOut(BaseModel):
    id: str
    agb: str
    policy_id: str
    state: Literal["open", "agreed", "signed", "closed"]
    procurement_id: str
    contract_id: str | None
    deadline: dt.date
    deadline_extended_until: dt.date | None
    opened_by: str
    opened_at: dt.datetime
    rounds: list[RoundOut]


def _party_allowed(principal: Principal, party: str) -> None:
    """A portal token speaks for the provider only; staff for the insurer, or record an offer the provider sent in."""
    if principal.is_portal and party != "provider":
        raise Forbidden("a provider-portal token may act only as party 'provider'")


def _may_accept(principal: Principal, party: str) -> None:
    """Accepting for the provider is signing: only the provider's own portal token does it (DOMAIN.md)."""
    _party_allowed(principal, party)
    if party == "provider" and not principal.is_portal:
        raise Forbidden(
            "only the provider's portal token accepts for the provider; staff record offers, not signatures"
        )


async def negotiation_out(uow: Any, negotiation_id: str, principal: Principal) -> NegotiationOut:
    row, _, rounds = await uc.load(uow, negotiation_id)
    # The insurer's own analysis: a provider never sees what its offers are projected to cost.
    priced = {} if principal.is_portal else await projections.by_round(uow, negotiation_id)
    return NegotiationOut(
        id=row.id,
        agb=row.agb,
        policy_id=row.policy_id,
        state=row.state,
        procurement_id=row.procurement_id,
        contract_id=row.contract_id,
        deadline=policies()[row.policy_id].calendar.contracting_deadline,
        deadline_extended_until=row.deadline_extended_until,
        opened_by=row.opened_by,
        opened_at=row.opened_at,
        rounds=[
            RoundOut(
                n=r.n,
                party=r.party,
                tariffs=[TariffIn(**t) for t in r.tariffs],
                ceiling_cents=r.ceiling_cents,
                kpis=[KpiIn(**k) for k in r.kpis],
                offered_by=r.offered_by,
                offered_at=r.offered_at,
                projection=ProjectionOut.model_validate(priced[r.n]) if r.n in priced else None,
            )
            for r in rounds
        ],
    )


async def _visible(uow: Any, negotiation_id: str, principal: Principal) -> Any:
    with as_problems():
        row, _, _ = await uc.load(uow, negotiation_id)
    if principal.is_portal:
        own_only(principal, row.agb)
    return row


@router.post(
    "",
    status_code=201,
    summary="Open a negotiation with a (large) institution",
    responses=problem_responses(404, 409),
    response_model=NegotiationOut,
)
async def open_negotiation(
    body: OpenIn, uow: UowDep, principal: WriteContracts, pipeline: PipelineDep
) -> NegotiationOut:
    """Only with a provider eligible under the policy with the route `offer` (asked now); one running at a time."""
    policy = policy_or_bad_input(body.policy_id)
    with as_problems("policy_id"), eligibility_unavailable():
        await uc.check_offer_route(pipeline.eligibility, body.agb, policy)
    with as_problems("policy_id"):
        negotiation_id = await uc.open_negotiation(uow, body.agb, policy, principal.subject)
    await uow.commit()
    return await negotiation_out(uow, negotiation_id, principal)


@router.get("", summary="Negotiations; a portal token sees only its own", response_model=Page[NegotiationOut])
async def list_negotiations(
    uow: UowDep,
    principal: ReadContracts,
    paging: PageDep,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    policy_id: Annotated[str | None, Query(max_length=20)] = None,
    state: Annotated[Literal["open", "agreed", "signed", "closed"] | None, Query()] = None,
) -> Page[NegotiationOut]:
    if principal.is_portal:
        agb = principal.agb
    where = []
    if agb:
        where.append(negotiations.c.agb == agb)
    if policy_id:
        where.append(negotiations.c.policy_id == policy_id)
    if state:
        where.append(negotiations.c.state == state)
    total = await uow.session.scalar(select(func.count()).select_from(negotiations).where(*where))
    ids = await uow.session.scalars(
        select(negotiations.c.id)
        .where(*where)
        .order_by(negotiations.c.opened_at.desc(), negotiations.c.id)
        .offset(paging.offset)
        .limit(paging.page_size)
    )
    items = [await negotiation_out(uow, i, principal) for i in ids.all()]
    return Page(items=items, page=paging.page, page_size=paging.page_size, total=total or 0)


@router.get(
    "/{negotiation_id}",
    summary="A negotiation: its rounds, state and contract",
    responses=problem_responses(404),
    response_model=NegotiationOut,
)
async def get_negotiation(negotiation_id: IdPath, uow: UowDep, principal: ReadContracts) -> NegotiationOut:
    await _visible(uow, negotiation_id, principal)
    return await negotiation_out(uow, negotiation_id, principal)


@router.post(
    "/{negotiation_id}/offers",
    status_code=201,
    summary="An offer or counter-offer",
    responses=problem_responses(404, 409),
    response_model=NegotiationOut,
)
async def post_offer(
    negotiation_id: IdPath, body: OfferIn, uow: UowDep, principal: WriteOrPortal, runtime: RuntimeDep
) -> NegotiationOut:
    """The round is stored with its projection: last year's volumes priced at these tariffs (the claims
    service; while it cannot answer the projection waits and a worker fills it in)."""
    row = await _visible(uow, negotiation_id, principal)
    _party_allowed(principal, body.party)
    offer = Offer(
        party=body.party,
        tariffs=tuple((t.prestation_code, t.amount_cents) for t in body.tariffs),
        ceiling_cents=body.ceiling_cents,
        kpis=tuple(Kpi(k.code, k.description, k.incentive_pct) for k in body.kpis),
    )
    problems = check_offer(offer, policies()[row.policy_id])
    if problems:
        raise BadInput([(p.field, p.message) for p in problems])
    with as_problems():
        await uc.make_offer(uow, negotiation_id, offer, principal.subject, claims_client(runtime))
    await uow.commit()
    return await negotiation_out(uow, negotiation_id, principal)


@router.post(
    "/{negotiation_id}/accept",
    summary="Accept the other side's latest offer: a contract to sign",
    responses=problem_responses(404, 409),
    response_model=NegotiationOut,
)
async def accept_offer(negotiation_id: IdPath, body: AcceptIn, uow: UowDep, principal: WriteOrPortal) -> NegotiationOut:
    row = await _visible(uow, negotiation_id, principal)
    _may_accept(principal, body.party)
    with as_problems():
        await uc.accept(uow, negotiation_id, body.party, policies()[row.policy_id], principal.subject)
    await uow.commit()
    return await negotiation_out(uow, negotiation_id, principal)


@router.post(
    "/{negotiation_id}/deadline-extension",
    summary="Extend the signing deadline of this negotiation",
    responses=problem_responses(404, 409),
    response_model=NegotiationOut,
)
async def extend(negotiation_id: IdPath, body: ExtensionIn, uow: UowDep, principal: WriteContracts) -> NegotiationOut:
    with as_problems():
        row, _model, _rounds = await uc.load(uow, negotiation_id)
    with as_problems("until"):
        await uc.extend_deadline(uow, negotiation_id, body.until, policies()[row.policy_id])
    await uow.commit()
    return await negotiation_out(uow, negotiation_id, principal)


@router.post(
    "/{negotiation_id}/projection",
    response_model=ProjectionOut,
    summary="What-if: last year's volumes priced at tariffs not offered (nothing is stored)",
    responses=problem_responses(404),
)
async def what_if(
    negotiation_id: IdPath, body: WhatIfIn, uow: UowDep, _: StaffReads, runtime: RuntimeDep
) -> ProjectionOut:
    """The same projection as a round gets, for tariffs (and a ceiling) staff are weighing; the negotiation
    is left as it was. 503 while the claims service cannot answer (there is nothing to price)."""
    with as_problems():
        row, _model, _rounds = await uc.load(uow, negotiation_id)
    policy = policies()[row.policy_id]
    tariffs = tuple((t.prestation_code, t.amount_cents) for t in body.tariffs)
    problems = check_offer(Offer(party="insurer", tariffs=tariffs, ceiling_cents=body.ceiling_cents), policy)
    if problems:
        raise BadInput([(p.field, p.message) for p in problems])
    await uow.rollback()  # nothing to write: no connection is held while claims answers
    with claims_unavailable():
        priced = await projections.what_if(claims_client(runtime), row.agb, policy.sector, tariffs, body.ceiling_cents)
    return ProjectionOut.model_validate({"status": "computed", "computed_at": dt.datetime.now(dt.UTC), **priced})


@router.post(
    "/{negotiation_id}/projections/recompute",
    response_model=NegotiationOut,
    summary="Price every round again from the volumes the claims service has now",
    responses=problem_responses(404),
)
async def recompute(
    negotiation_id: IdPath, uow: UowDep, principal: WriteContracts, runtime: RuntimeDep
) -> NegotiationOut:
    """Each round keeps its year (the year before it was offered); late claims of that year now count.
    503 while the claims service cannot answer, and nothing changes."""
    with as_problems():
        await uc.load(uow, negotiation_id)
    with claims_unavailable():
        await projections.recompute(uow, negotiation_id, claims_client(runtime))
    await uow.commit()
    return await negotiation_out(uow, negotiation_id, principal)
