"""The contract lifecycle: sign (the deadline), terminate, prognoses, and closing a procurement without a contract."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update

from zorg_common import clock
from zorg_common.events import ContractTerminated
from zorg_common.policy import policies
from zorg_common.uow import UnitOfWork

from ..adapters.orm import contracts, negotiations, procurements, prognoses
from ..domain.contract import check_sign, check_terminate
from ..domain.negotiation import Refused, may_sign, needs_renegotiation
from . import records


async def sign(uow: UnitOfWork, contract_id: str, signatory: str, signed_on: dt.date | None, actor: str) -> Any:
    row = await records.load_contract(uow, contract_id, lock=True)
    check_sign(row.status)
    today = clock.today()
    if signed_on is not None and signed_on > today:
        raise ValueError("lies in the future")
    negotiation = None
    if row.source == "negotiation":
        negotiation = (
            await uow.session.execute(select(negotiations).where(negotiations.c.id == row.source_id))
        ).first()
        if negotiation is not None and negotiation.state == "closed":
            raise Refused("the procurement was closed without a contract")
    extended = negotiation.deadline_extended_until if negotiation is not None else None
    policy = policies()[row.policy_id]
    all_year = await records.may_contract_all_year(uow, row.procurement_id, row.agb, policy, institution=True)
    if why := may_sign(today, policy, extended, all_year):
        raise Refused(why)
    await records.sign_contract(uow, contract_id, signatory, signed_on or today, actor)
    if negotiation is not None:
        await uow.session.execute(
            update(negotiations).where(negotiations.c.id == negotiation.id).values(state="signed")
        )
    return await records.load_contract(uow, contract_id)


async def terminate(uow: UnitOfWork, contract_id: str, reason: str, effective_on: dt.date, actor: str) -> Any:
    row = await records.load_contract(uow, contract_id, lock=True)
    check_terminate(row.status, row.start_date, row.end_date, effective_on)
    row = await records.terminate_contract(uow, contract_id, reason, effective_on, actor)
    uow.emit(
        ContractTerminated(
            agb=row.agb,
            contract_id=row.id,
            sector=row.sector,
            reason=reason,
            effective_on=effective_on,
            version=row.version,
        )
    )
    return row


async def add_prognosis(
    uow: UnitOfWork, contract_id: str, period: str, amount_cents: int, actor: str
) -> tuple[Any, bool]:
    """Record a prognosis (UPM); more than 10% above the ceiling flags the contract for renegotiation."""
    row = await records.load_contract(uow, contract_id, lock=True)
    if row.status != "signed":
        raise Refused(f"the contract is {row.status}: prognoses are for signed contracts")
    exceeds = needs_renegotiation(amount_cents, row.ceiling_cents)
    await uow.session.execute(
        insert(prognoses).values(
            contract_id=contract_id,
            period=period,
            amount_cents=amount_cents,
            exceeds_ceiling=exceeds,
            recorded_at=clock.utcnow(),
            recorded_by=actor,
        )
    )
    if exceeds and not row.renegotiation:
        await uow.session.execute(
            update(contracts).where(contracts.c.id == contract_id).values(renegotiation=True, updated_at=clock.utcnow())
        )
    return await records.load_contract(uow, contract_id), exceeds


async def close(uow: UnitOfWork, agb: str, policy_id: str, reason: str | None) -> list[str]:
    """End every procurement in progress for the provider and policy without a contract."""
    rows = (
        await uow.session.execute(
            select(procurements.c.id).where(
                procurements.c.agb == agb, procurements.c.policy_id == policy_id, procurements.c.status == "in_progress"
            )
        )
    ).all()
    closed = [r.id for r in rows if await records.close_procurement(uow, r.id, reason)]
    if not closed:
        raise Refused(f"no procurement in progress for {agb} under {policy_id}")
    return closed
