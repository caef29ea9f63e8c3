"""Procurements and contracts as rows, and the events they cause, shared by every use case."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from zorg_common import clock
from zorg_common.events import ContractSigned, Kpi, ProcurementClosed, ProcurementStarted, Tariff
from zorg_common.policy import Policy
from zorg_common.uow import UnitOfWork

from ..adapters.orm import contract_versions, contracts, invitations, negotiations, procurements


class NotFoundError(LookupError):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


def for_update(query: Any, uow: UnitOfWork) -> Any:
    """Lock the rows on PostgreSQL (SQLite has one writer and no row locks)."""
    if uow.session.get_bind().dialect.name == "postgresql":
        return query.with_for_update()
    return query


async def start_procurement(
    uow: UnitOfWork, agb: str, policy: Policy, route: str, cause: str, *, all_year: bool = False
) -> str:
    """Procurement in progress (ProcurementStarted: the provider's claims for the year wait for it)."""
    procurement_id = new_id()
    today = clock.today()
    await uow.session.execute(
        insert(procurements).values(
            id=procurement_id,
            agb=agb,
            policy_id=policy.id,
            sector=policy.sector,
            contract_year=policy.contract_year,
            route=route,
            cause=cause,
            status="in_progress",
            all_year=all_year,
            started_on=today,
        )
    )
    uow.emit(
        ProcurementStarted(
            agb=agb,
            procurement_id=procurement_id,
            policy_id=policy.id,
            sector=policy.sector,
            contract_year=policy.contract_year,
            route=route,  # type: ignore[arg-type]
            started_on=today,
            cause=cause,  # type: ignore[arg-type]
        )
    )
    return procurement_id


async def open_procurement(uow: UnitOfWork, agb: str, policy_id: str, cause: str) -> str | None:
    """The provider's procurement in progress for the policy that this cause opened, if any."""
    found = await uow.session.scalar(
        select(procurements.c.id)
        .where(
            procurements.c.agb == agb,
            procurements.c.policy_id == policy_id,
            procurements.c.cause == cause,
            procurements.c.status == "in_progress",
        )
        .order_by(procurements.c.started_on.desc())
        .limit(1)
    )
    return str(found) if found else None


async def close_procurement(
    uow: UnitOfWork, procurement_id: str, reason: str | None, closed_on: dt.date | None = None
) -> bool:
    """End an in-progress procurement without a contract (ProcurementClosed); False when it was not in progress.

    Its open negotiation and invitation end with it.
    """
    row = (
        await uow.session.execute(for_update(select(procurements).where(procurements.c.id == procurement_id), uow))
    ).first()
    if row is None or row.status != "in_progress":
        return False
    today = closed_on or clock.today()
    await uow.session.execute(
        update(procurements)
        .where(procurements.c.id == procurement_id)
        .values(status="closed", ended_on=today, reason=reason)
    )
    uow.emit(
        ProcurementClosed(
            agb=row.agb,
            procurement_id=row.id,
            policy_id=row.policy_id,
            sector=row.sector,
            contract_year=row.contract_year,
            closed_on=today,
            reason=reason,
        )
    )
    await uow.session.execute(
        update(negotiations)
        .where(negotiations.c.procurement_id == procurement_id, negotiations.c.state.in_(["open", "agreed"]))
        .values(state="closed")
    )
    await uow.session.execute(
        update(invitations)
        .where(invitations.c.procurement_id == procurement_id, invitations.c.status == "invited")
        .values(status="closed")
    )
    return True


async def contract_covering(uow: UnitOfWork, agb: str, sector: str, year: int) -> Any:
    """The provider's signed contract in the sector whose period covers the year, if any."""
    return (
        await uow.session.execute(
            select(contracts)
            .where(
                contracts.c.agb == agb,
                contracts.c.sector == sector,
                contracts.c.status == "signed",
                contracts.c.start_date <= dt.date(year, 12, 31),
                contracts.c.end_date >= dt.date(year, 1, 1),
            )
            .order_by(contracts.c.created_at.desc())
            .limit(1)
        )
    ).first()


async def has_earlier_agreement(uow: UnitOfWork, agb: str, year: int) -> bool:
    """Whether the provider had a contract with us before the year (else it is new: DOMAIN.md)."""
    found = await uow.session.scalar(
        select(contracts.c.id)
        .where(
            contracts.c.agb == agb,
            contracts.c.status.in_(["signed", "terminated"]),
            contracts.c.start_date < dt.date(year, 1, 1),
        )
        .limit(1)
    )
    return found is not None


async def may_contract_all_year(
    uow: UnitOfWork, procurement_id: str | None, agb: str, policy: Policy, *, institution: bool
) -> bool:
    """A new institution (no earlier agreement) may contract all year, as may a procurement it asked for."""
    if procurement_id is not None:
        all_year = await uow.session.scalar(select(procurements.c.all_year).where(procurements.c.id == procurement_id))
        if all_year:
            return True
    return institution and not await has_earlier_agreement(uow, agb, policy.contract_year)


def tariff_rows(tariffs: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"prestation_code": code, "amount_cents": cents} for code, cents in tariffs]


async def create_contract(
    uow: UnitOfWork,
    *,
    agb: str,
    policy: Policy,
    route: str,
    start: dt.date,
    end: dt.date,
    tariffs: Sequence[tuple[str, int]],
    source: str,
    source_id: str,
    procurement_id: str | None,
    actor: str,
    ceiling_cents: int | None = None,
    kpis: Sequence[dict[str, Any]] = (),
    answers: Sequence[dict[str, Any]] | None = None,
) -> str:
    """A draft contract, version 1."""
    contract_id = new_id()
    now = clock.utcnow()
    values = dict(
        id=contract_id,
        agb=agb,
        policy_id=policy.id,
        sector=policy.sector,
        route=route,
        start_date=start,
        end_date=end,
        status="draft",
        tariffs=tariff_rows(tariffs),
        ceiling_cents=ceiling_cents,
        kpis=list(kpis),
        version=1,
        procurement_id=procurement_id,
        source=source,
        source_id=source_id,
        renegotiation=False,
        answers=list(answers) if answers is not None else None,
        created_at=now,
        updated_at=now,
    )
    await uow.session.execute(insert(contracts).values(**values))
    await _snapshot(uow, contract_id, actor, "created")
    return contract_id


async def load_contract(uow: UnitOfWork, contract_id: str, *, lock: bool = False) -> Any:
    query = select(contracts).where(contracts.c.id == contract_id)
    row = (await uow.session.execute(for_update(query, uow) if lock else query)).first()
    if row is None:
        raise NotFoundError(f"no contract {contract_id}")
    return row


async def _snapshot(uow: UnitOfWork, contract_id: str, actor: str, change: str) -> None:
    row = await load_contract(uow, contract_id)
    snapshot = {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row._mapping.items()}
    await uow.session.execute(
        insert(contract_versions).values(
            contract_id=contract_id,
            version=row.version,
            snapshot=snapshot,
            changed_at=clock.utcnow(),
            changed_by=actor,
            change=change,
        )
    )


async def sign_contract(
    uow: UnitOfWork, contract_id: str, signatory: str | None, signed_on: dt.date, actor: str
) -> None:
    """Draft to signed: ContractSigned, and the procurement is contracted."""
    await uow.session.execute(
        update(contracts)
        .where(contracts.c.id == contract_id)
        .values(status="signed", signed_on=signed_on, signatory=signatory, updated_at=clock.utcnow())
    )
    await _replace_snapshot(uow, contract_id, actor, "signed")
    row = await load_contract(uow, contract_id)
    await mark_contracted(uow, row.procurement_id)
    emit_signed(uow, row)


async def amend_contract(
    uow: UnitOfWork,
    contract_id: str,
    tariffs: Sequence[tuple[str, int]],
    end: dt.date,
    signatory: str | None,
    actor: str,
) -> int:
    """A new version of a signed contract with new terms (ContractSigned with the new version)."""
    row = await load_contract(uow, contract_id, lock=True)
    version = int(row.version) + 1
    await uow.session.execute(
        update(contracts)
        .where(contracts.c.id == contract_id)
        .values(
            tariffs=tariff_rows(tariffs),
            end_date=end,
            version=version,
            signed_on=clock.today(),
            signatory=signatory,
            updated_at=clock.utcnow(),
        )
    )
    await _snapshot(uow, contract_id, actor, "amended")
    emit_signed(uow, await load_contract(uow, contract_id))
    return version


async def _replace_snapshot(uow: UnitOfWork, contract_id: str, actor: str, change: str) -> None:
    """Signing completes version 1 (the draft): its snapshot is brought up to date, no new version."""
    row = await load_contract(uow, contract_id)
    snapshot = {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row._mapping.items()}
    await uow.session.execute(
        update(contract_versions)
        .where(contract_versions.c.contract_id == contract_id, contract_versions.c.version == row.version)
        .values(snapshot=snapshot, changed_at=clock.utcnow(), changed_by=actor, change=change)
    )


async def terminate_contract(uow: UnitOfWork, contract_id: str, reason: str, effective_on: dt.date, actor: str) -> Any:
    await uow.session.execute(
        update(contracts)
        .where(contracts.c.id == contract_id)
        .values(
            status="terminated",
            terminated_reason=reason,
            terminated_on=effective_on,
            version=contracts.c.version + 1,
            updated_at=clock.utcnow(),
        )
    )
    await _snapshot(uow, contract_id, actor, "terminated")
    return await load_contract(uow, contract_id)


async def mark_contracted(uow: UnitOfWork, procurement_id: str | None) -> None:
    if procurement_id:
        await uow.session.execute(
            update(procurements)
            .where(procurements.c.id == procurement_id, procurements.c.status == "in_progress")
            .values(status="contracted", ended_on=clock.today())
        )


def emit_signed(uow: UnitOfWork, row: Any) -> None:
    uow.emit(
        ContractSigned(
            agb=row.agb,
            contract_id=row.id,
            procurement_id=row.procurement_id,
            policy_id=row.policy_id,
            sector=row.sector,
            route=row.route,
            start_date=row.start_date,
            end_date=row.end_date,
            contract_years=list(range(row.start_date.year, row.end_date.year + 1)),
            tariffs=[Tariff(**t) for t in row.tariffs],
            ceiling_cents=row.ceiling_cents,
            kpis=[Kpi(**k) for k in row.kpis],
            version=row.version,
            signed_on=row.signed_on,
        )
    )
