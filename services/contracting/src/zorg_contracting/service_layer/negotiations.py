"""Offer negotiations: open, offer rounds, accept the other side's latest offer, extend the deadline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from zorg_common import clock
from zorg_common.policy import Policy
from zorg_common.uow import UnitOfWork

from ..adapters.eligibility import EligibilityClient
from ..adapters.orm import RUNNING_NEGOTIATION, negotiation_rounds, negotiations
from ..domain.contract import period_for, route_years
from ..domain.negotiation import Kpi, Negotiation, Offer, Party, Refused
from . import records


def _kpis(rows: list[dict[str, Any]]) -> tuple[Kpi, ...]:
    return tuple(Kpi(k["code"], k["description"], float(k["incentive_pct"])) for k in rows)


async def load(uow: UnitOfWork, negotiation_id: str, *, lock: bool = False) -> tuple[Any, Negotiation, list[Any]]:
    query = select(negotiations).where(negotiations.c.id == negotiation_id)
    row = (await uow.session.execute(records.for_update(query, uow) if lock else query)).first()
    if row is None:
        raise records.NotFoundError(f"no negotiation {negotiation_id}")
    rounds = (
        await uow.session.execute(
            select(negotiation_rounds)
            .where(negotiation_rounds.c.negotiation_id == negotiation_id)
            .order_by(negotiation_rounds.c.n)
        )
    ).all()
    model = Negotiation(
        state=row.state,
        rounds=[
            Offer(
                r.party,
                tuple((t["prestation_code"], t["amount_cents"]) for t in r.tariffs),
                r.ceiling_cents,
                _kpis(r.kpis),
                r.offered_by,
            )
            for r in rounds
        ],
        deadline_extended_until=row.deadline_extended_until,
    )
    return row, model, list(rounds)


async def check_offer_route(eligibility: EligibilityClient, agb: str, policy: Policy) -> None:
    """Only a provider eligible under the policy with the route `offer` is negotiated with (asked now)."""
    if not any(r.route == "offer" for r in policy.routes):
        raise ValueError(f"policy {policy.id} has no offer route")
    evaluation = await eligibility.evaluation(agb, policy.id)
    if evaluation is None:
        raise records.NotFoundError(f"no provider with AGB code {agb} in the register")
    if not evaluation.eligible:
        raise Refused(f"{agb} is not eligible under {policy.id}: no negotiation")
    if evaluation.route != "offer":
        raise Refused(f"{agb} takes the {evaluation.route or 'no'} route under {policy.id}, not offer")


async def running(uow: UnitOfWork, agb: str, policy_id: str) -> str | None:
    found = await uow.session.scalar(
        select(negotiations.c.id).where(
            negotiations.c.agb == agb,
            negotiations.c.policy_id == policy_id,
            negotiations.c.state.in_(RUNNING_NEGOTIATION),
        )
    )
    return str(found) if found else None


async def open_negotiation(uow: UnitOfWork, agb: str, policy: Policy, actor: str, *, all_year: bool = False) -> str:
    """Open one (ProcurementStarted); refused while one runs for the provider and policy.

    Two requests at once: the partial unique index lets one insert through and the other is
    refused here, whoever checked first.
    """
    if await running(uow, agb, policy.id):
        raise Refused(f"a negotiation with {agb} under {policy.id} is already running")
    negotiation_id = records.new_id()
    procurement_id = await records.start_procurement(uow, agb, policy, "offer", "negotiation", all_year=all_year)
    try:
        await uow.session.execute(
            insert(negotiations).values(
                id=negotiation_id,
                agb=agb,
                policy_id=policy.id,
                state="open",
                procurement_id=procurement_id,
                opened_by=actor,
                opened_at=clock.utcnow(),
            )
        )
    except IntegrityError:
        await uow.rollback()  # the procurement and its event go too
        raise Refused(f"a negotiation with {agb} under {policy.id} is already running") from None
    return negotiation_id


async def make_offer(uow: UnitOfWork, negotiation_id: str, offer: Offer, actor: str) -> int:
    _row, model, _ = await load(uow, negotiation_id, lock=True)
    n = model.offer(offer)
    await uow.session.execute(
        insert(negotiation_rounds).values(
            negotiation_id=negotiation_id,
            n=n,
            party=offer.party,
            tariffs=records.tariff_rows(offer.tariffs),
            ceiling_cents=offer.ceiling_cents,
            kpis=[{"code": k.code, "description": k.description, "incentive_pct": k.incentive_pct} for k in offer.kpis],
            offered_by=actor,
            offered_at=clock.utcnow(),
        )
    )
    return n


async def accept(uow: UnitOfWork, negotiation_id: str, party: Party, policy: Policy, actor: str) -> str:
    """Agreement on the other side's latest offer: a draft contract on the offer route, to sign."""
    row, model, _ = await load(uow, negotiation_id, lock=True)
    offer = model.accept(party, actor)
    period = period_for(policy, route_years(policy, "offer"))
    contract_id = await records.create_contract(
        uow,
        agb=row.agb,
        policy=policy,
        route="offer",
        start=period.start,
        end=period.end,
        tariffs=offer.tariffs,
        source="negotiation",
        source_id=negotiation_id,
        procurement_id=row.procurement_id,
        actor=actor,
        ceiling_cents=offer.ceiling_cents,
        kpis=[{"code": k.code, "description": k.description, "incentive_pct": k.incentive_pct} for k in offer.kpis],
    )
    await uow.session.execute(
        update(negotiations).where(negotiations.c.id == negotiation_id).values(state="agreed", contract_id=contract_id)
    )
    return contract_id


async def extend_deadline(uow: UnitOfWork, negotiation_id: str, until: dt.date, policy: Policy) -> None:
    _row, model, _ = await load(uow, negotiation_id, lock=True)
    model.extend(until, policy)
    await uow.session.execute(
        update(negotiations).where(negotiations.c.id == negotiation_id).values(deadline_extended_until=until)
    )


async def set_state(uow: UnitOfWork, negotiation_id: str, state: str) -> None:
    await uow.session.execute(update(negotiations).where(negotiations.c.id == negotiation_id).values(state=state))
