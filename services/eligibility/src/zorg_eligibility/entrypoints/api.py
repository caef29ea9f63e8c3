"""HTTP routes of the eligibility service: the provider register, policies and evaluations."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select

from zorg_common.app import UowDep
from zorg_common.auth import Forbidden, Principal, authenticate, require_scope
from zorg_common.identifiers import Agb
from zorg_common.paging import Page, PageDep
from zorg_common.policy import Policy, policies
from zorg_common.problems import BadInput, NotFound

from ..adapters.orm import evaluations, providers
from ..domain.provider import Address, BankAccount, ProviderData
from ..service_layer import register as uc

AgbPath = Annotated[str, Path(pattern=r"^\d{8}$", description="AGB code, 8 digits")]
ReadProviders = Annotated[Principal, Depends(require_scope("providers:read", portal=True))]
WriteProviders = Annotated[Principal, Depends(require_scope("providers:write", portal=True))]

providers_router = APIRouter(prefix="/providers", tags=["providers"])
policies_router = APIRouter(prefix="/policies", tags=["policies"])
evaluations_router = APIRouter(prefix="/evaluations", tags=["evaluations"])

#: What a provider may not change about itself through the portal: the insurer records these.
PORTAL_READ_ONLY = ("kvk", "kind", "sectors", "contact_emails", "facts")


class BankAccountOut(BaseModel):
    iban: str
    holder: str
    changed_on: dt.date


class ProviderOut(BaseModel):
    agb: str
    kvk: str | None
    name: str
    kind: str
    sectors: list[str]
    address: Address
    care_forms: list[str]
    contact_emails: list[str] | None = Field(
        default=None,
        description="where the provider mails from and is answered at; staff only (null for a portal token)",
    )
    facts: dict[str, Any]
    version: int
    updated_at: dt.datetime
    updated_by: str
    bank_account: BankAccountOut | None = None


class CriterionOut(BaseModel):
    code: str
    verdict: Literal["pass", "fail", "unknown"]
    blocking: bool
    text_nl: str
    text_en: str


class EvaluationOut(BaseModel):
    id: str
    agb: str
    policy_id: str
    eligible: bool
    route: str | None
    contract_years: int | None
    criteria: list[CriterionOut]
    warnings: list[str]
    evaluated_on: dt.date
    facts: dict[str, Any]
    provider_version: int
    trigger: str
    created_at: dt.datetime


class RegistrationOut(BaseModel):
    provider: ProviderOut
    created: bool
    changed_fields: list[str]
    evaluations: list[EvaluationOut]


class EvaluationRequest(BaseModel):
    agb: Agb
    policy_id: str


def _own_only(principal: Principal, agb: str) -> None:
    if not principal.may_see_provider(agb):
        raise Forbidden("a provider-portal token sees and changes only its own provider")


def _provider_out(row: Any, account: Any | None, principal: Principal) -> ProviderOut:
    return ProviderOut(
        agb=row.agb,
        kvk=row.kvk,
        name=row.name,
        kind=row.kind,
        sectors=[s for s in row.sectors.split(",") if s],
        address=Address(street=row.street, postcode=row.postcode, city=row.city),
        care_forms=list(row.care_forms),
        contact_emails=None if principal.is_portal else list(row.contact_emails),
        facts=dict(row.facts),
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        bank_account=BankAccountOut(iban=account.iban, holder=account.holder, changed_on=account.changed_on)
        if account is not None
        else None,
    )


def _evaluation_out(row: Any) -> EvaluationOut:
    data = row if isinstance(row, dict) else row._mapping
    return EvaluationOut.model_validate({k: data[k] for k in EvaluationOut.model_fields})


async def _load(uow: Any, agb: str, principal: Principal) -> ProviderOut:
    row = (await uow.session.execute(select(providers).where(providers.c.agb == agb))).first()
    if row is None:
        raise NotFound(f"no provider with AGB code {agb}")
    return _provider_out(row, await uc.current_bank_account(uow.session, agb), principal)


@providers_router.put("/{agb}", summary="Register or update a provider", response_model=RegistrationOut)
async def put_provider(
    agb: AgbPath, body: ProviderData, uow: UowDep, principal: WriteProviders, response: Response
) -> RegistrationOut:
    _own_only(principal, agb)
    if principal.is_portal:
        current = (await uow.session.execute(select(providers).where(providers.c.agb == agb))).first()
        if current is None:
            raise Forbidden("a provider-portal token cannot register a provider")
        mine = uc._record_of(current)
        asked = body.record(mine["contact_emails"])
        refused = [f for f in PORTAL_READ_ONLY if asked[f] != mine[f]]
        if refused:
            raise Forbidden(f"the insurer records these, not the provider: {', '.join(refused)}")
    result = await uc.register_provider(uow, agb, body, principal.subject)
    await uow.commit()
    response.status_code = 201 if result.created else 200
    return RegistrationOut(
        provider=await _load(uow, agb, principal),
        created=result.created,
        changed_fields=result.changed_fields,
        evaluations=[_evaluation_out(e) for e in result.evaluations],
    )


@providers_router.get("/{agb}", summary="One provider", response_model=ProviderOut)
async def get_provider(agb: AgbPath, uow: UowDep, principal: ReadProviders) -> ProviderOut:
    _own_only(principal, agb)
    return await _load(uow, agb, principal)


@providers_router.get(
    "", summary="Search providers by name, AGB code, KvK number or city", response_model=Page[ProviderOut]
)
async def list_providers(
    uow: UowDep,
    principal: ReadProviders,
    paging: PageDep,
    sector: Annotated[Literal["GLI", "GGZ"] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[ProviderOut]:
    where = []
    if principal.is_portal:
        where.append(providers.c.agb == principal.agb)
    if sector:
        where.append(providers.c.sectors.like(f"%,{sector},%"))
    if q and q.strip():
        needle = f"%{q.strip().lower()}%"
        where.append(
            or_(
                func.lower(providers.c.name).like(needle),
                providers.c.agb.like(needle),
                providers.c.kvk.like(needle),
                func.lower(providers.c.city).like(needle),
            )
        )
    total = await uow.session.scalar(select(func.count()).select_from(providers).where(*where))
    rows = (
        await uow.session.execute(
            select(providers)
            .where(*where)
            .order_by(providers.c.name, providers.c.agb)
            .offset(paging.offset)
            .limit(paging.page_size)
        )
    ).all()
    return Page(
        items=[_provider_out(r, None, principal) for r in rows],
        page=paging.page,
        page_size=paging.page_size,
        total=total or 0,
    )


@providers_router.put(
    "/{agb}/bank-account", summary="Change the provider's bank account (IBAN validated)", response_model=BankAccountOut
)
async def put_bank_account(agb: AgbPath, body: BankAccount, uow: UowDep, principal: WriteProviders) -> BankAccountOut:
    _own_only(principal, agb)
    try:
        _, since = await uc.change_bank_account(uow, agb, body, principal.subject)
    except uc.UnknownProvider:
        raise NotFound(f"no provider with AGB code {agb}") from None
    await uow.commit()
    return BankAccountOut(iban=body.iban, holder=body.holder, changed_on=since)


@providers_router.get(
    "/{agb}/evaluations", summary="The provider's evaluations, newest first", response_model=Page[EvaluationOut]
)
async def provider_evaluations(
    agb: AgbPath, uow: UowDep, principal: ReadProviders, paging: PageDep
) -> Page[EvaluationOut]:
    _own_only(principal, agb)
    await _load(uow, agb, principal)
    where = evaluations.c.agb == agb
    total = await uow.session.scalar(select(func.count()).select_from(evaluations).where(where))
    rows = (
        await uow.session.execute(
            select(evaluations)
            .where(where)
            .order_by(evaluations.c.created_at.desc(), evaluations.c.id)
            .offset(paging.offset)
            .limit(paging.page_size)
        )
    ).all()
    return Page(
        items=[_evaluation_out(r) for r in rows], page=paging.page, page_size=paging.page_size, total=total or 0
    )


@evaluations_router.post(
    "",
    status_code=201,
    summary="Evaluate a provider under a policy, criterion by criterion",
    response_model=EvaluationOut,
)
async def post_evaluation(body: EvaluationRequest, uow: UowDep, principal: ReadProviders) -> EvaluationOut:
    _own_only(principal, body.agb)
    try:
        stored = await uc.evaluate_provider(uow, body.agb, body.policy_id, principal.subject)
    except uc.UnknownProvider:
        raise NotFound(f"no provider with AGB code {body.agb}") from None
    except uc.UnknownPolicy:
        raise BadInput([("policy_id", f"unknown policy; known: {', '.join(policies())}")]) from None
    await uow.commit()
    return _evaluation_out(stored)


Authenticated = Annotated[Principal, Depends(authenticate)]


@policies_router.get("", summary="The procurement policies, as data", response_model=list[Policy])
async def list_policies(_: Authenticated) -> list[Policy]:
    return list(policies().values())


@policies_router.get("/{policy_id}", summary="One procurement policy", response_model=Policy)
async def get_policy(policy_id: str, _: Authenticated) -> Policy:
    policy = policies().get(policy_id)
    if policy is None:
        raise NotFound(f"no policy {policy_id}; known: {', '.join(policies())}")
    return policy
