"""HTTP routes of contracts: read and filter, sign, terminate, prognoses, versions; closing a procurement."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import and_, extract, func, select

from zorg_common.app import UowDep
from zorg_common.identifiers import Agb
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.problems import NotFound

from ..adapters.orm import contract_versions, contracts, prognoses
from ..service_layer import contracts as uc
from ..service_layer import records
from .common import ReadContracts, WriteContracts, WriteOrPortal, as_problems, own_only, policy_or_bad_input
from .schemas import ContractOut, PrognosisOut, contract_out

router = APIRouter(prefix="/contracts", tags=["contracts"])
procurements_router = APIRouter(prefix="/procurements", tags=["contracts"])
IdPath = Annotated[str, Path(max_length=36)]


class SignIn(BaseModel):
    signatory: str = Field(min_length=1, max_length=200)
    signed_on: dt.date | None = None


class TerminateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    effective_on: dt.date


class PrognosisIn(BaseModel):
    period: str = Field(pattern=r"^\d{4}-(Q[1-4]|0[1-9]|1[0-2])$", description="YYYY-Qn or YYYY-MM")
    amount_cents: int = Field(gt=0)


class PrognosisResult(BaseModel):
    contract: ContractOut
    exceeds_ceiling: bool
    exceeds_projection: bool | None = Field(description="null: no projection of the agreed offer to compare with")
    prognoses: list[PrognosisOut]


class VersionOut(BaseModel):
    version: int
    change: str
    changed_at: dt.datetime
    changed_by: str
    snapshot: dict[str, Any]


class CloseIn(BaseModel):
    agb: Agb
    policy_id: str
    reason: str | None = Field(default=None, max_length=2000)


class Closed(BaseModel):
    closed: list[str]


async def _visible(uow: Any, contract_id: str, principal: Any) -> Any:
    with as_problems():
        row = await records.load_contract(uow, contract_id)
    if principal.is_portal:
        own_only(principal, row.agb)
    return row


@router.get("", summary="Contracts, filtered; a portal token sees only its own", response_model=Page[ContractOut])
async def list_contracts(
    uow: UowDep,
    principal: ReadContracts,
    paging: PageDep,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    sector: Annotated[Literal["GLI", "GGZ"] | None, Query()] = None,
    status: Annotated[Literal["draft", "signed", "terminated"] | None, Query()] = None,
    route: Annotated[Literal["follow", "digital", "offer"] | None, Query()] = None,
) -> Page[ContractOut]:
    where = []
    if principal.is_portal:
        agb = principal.agb
    if agb:
        where.append(contracts.c.agb == agb)
    if year:
        where.append(
            and_(extract("year", contracts.c.start_date) <= year, extract("year", contracts.c.end_date) >= year)
        )
    if sector:
        where.append(contracts.c.sector == sector)
    if status:
        where.append(contracts.c.status == status)
    if route:
        where.append(contracts.c.route == route)
    total = await uow.session.scalar(select(func.count()).select_from(contracts).where(*where))
    rows = (
        await uow.session.execute(
            select(contracts)
            .where(*where)
            .order_by(contracts.c.created_at.desc(), contracts.c.id)
            .offset(paging.offset)
            .limit(paging.page_size)
        )
    ).all()
    return Page(items=[contract_out(r) for r in rows], page=paging.page, page_size=paging.page_size, total=total or 0)


@router.get("/{contract_id}", summary="One contract", responses=problem_responses(404), response_model=ContractOut)
async def get_contract(contract_id: IdPath, uow: UowDep, principal: ReadContracts) -> ContractOut:
    return contract_out(await _visible(uow, contract_id, principal))


@router.get(
    "/{contract_id}/versions",
    summary="Every version of a contract",
    responses=problem_responses(404),
    response_model=list[VersionOut],
)
async def get_versions(contract_id: IdPath, uow: UowDep, principal: ReadContracts) -> list[VersionOut]:
    await _visible(uow, contract_id, principal)
    rows = (
        await uow.session.execute(
            select(contract_versions)
            .where(contract_versions.c.contract_id == contract_id)
            .order_by(contract_versions.c.version)
        )
    ).all()
    return [VersionOut.model_validate(dict(r._mapping)) for r in rows]


@router.post(
    "/{contract_id}/sign",
    summary="Sign a draft contract (refused after the deadline unless extended)",
    responses=problem_responses(404, 409),
    response_model=ContractOut,
)
async def sign(contract_id: IdPath, body: SignIn, uow: UowDep, principal: WriteOrPortal) -> ContractOut:
    await _visible(uow, contract_id, principal)
    with as_problems("signed_on"):
        row = await uc.sign(uow, contract_id, body.signatory, body.signed_on, principal.subject)
    await uow.commit()
    return contract_out(row)


@router.post(
    "/{contract_id}/terminate",
    summary="Terminate a signed contract (a new version)",
    responses=problem_responses(404, 409),
    response_model=ContractOut,
)
async def terminate(contract_id: IdPath, body: TerminateIn, uow: UowDep, principal: WriteContracts) -> ContractOut:
    with as_problems("effective_on"):
        row = await uc.terminate(uow, contract_id, body.reason, body.effective_on, principal.subject)
    await uow.commit()
    return contract_out(row)


@router.post(
    "/{contract_id}/prognoses",
    status_code=201,
    summary="A prognosis (UPM) for a signed contract",
    responses=problem_responses(404, 409),
    response_model=PrognosisResult,
)
async def add_prognosis(
    contract_id: IdPath, body: PrognosisIn, uow: UowDep, principal: WriteOrPortal
) -> PrognosisResult:
    await _visible(uow, contract_id, principal)
    with as_problems():
        row, exceeds, above = await uc.add_prognosis(
            uow, contract_id, body.period, body.amount_cents, principal.subject
        )
    await uow.commit()
    listed = (
        await uow.session.execute(
            select(prognoses).where(prognoses.c.contract_id == contract_id).order_by(prognoses.c.id)
        )
    ).all()
    return PrognosisResult(
        contract=contract_out(row),
        exceeds_ceiling=exceeds,
        exceeds_projection=above,
        prognoses=[
            PrognosisOut(
                period=p.period,
                amount_cents=p.amount_cents,
                exceeds_ceiling=p.exceeds_ceiling,
                exceeds_projection=p.exceeds_projection,
                recorded_at=p.recorded_at,
            )
            for p in listed
        ],
    )


@procurements_router.post(
    "/close",
    summary="End a procurement without a contract",
    responses=problem_responses((404, "Nothing to close"), 409),
    response_model=Closed,
)
async def close_procurement(body: CloseIn, uow: UowDep, _: WriteContracts) -> Closed:
    policy_or_bad_input(body.policy_id)
    with as_problems():
        closed = await uc.close(uow, body.agb, body.policy_id, body.reason)
    await uow.commit()
    if not closed:
        raise NotFound("nothing to close")
    return Closed(closed=closed)
