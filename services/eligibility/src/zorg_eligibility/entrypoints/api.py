"""HTTP routes of the eligibility service: the provider register, policies and evaluations."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select

from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Forbidden, Principal, authenticate, require_scope
from zorg_common.identifiers import Agb
from zorg_common.openapi import etag, problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.policy import Policy, policies
from zorg_common.problems import BadInput, NotFound, ProblemError

from ..adapters.orm import evaluations, providers
from ..adapters.passwords import HasherBusy
from ..domain.confidential import confidential_criteria, hidden_criterion_blocks, visible_facts
from ..domain.provider import Address, BankAccount, ProviderData
from ..service_layer import accounts
from ..service_layer import register as uc
from ..settings import EligibilitySettings
from .portal import HASHER_OR_DATABASE_BUSY, PASSWORD_REFUSED, HasherDep, hasher_busy

AgbPath = Annotated[str, Path(pattern=r"^\d{8}$", description="AGB code, 8 digits")]
ReadProviders = Annotated[Principal, Depends(require_scope("providers:read", portal=True))]
WriteProviders = Annotated[Principal, Depends(require_scope("providers:write", portal=True))]

providers_router = APIRouter(prefix="/providers", tags=["providers"])
policies_router = APIRouter(prefix="/policies", tags=["policies"])
evaluations_router = APIRouter(prefix="/evaluations", tags=["evaluations"])


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
    changes_on: dt.date | None = Field(
        default=None, description="the first day a time-bound verdict would change; evaluated again on that day"
    )
    facts: dict[str, Any]
    provider_version: int
    trigger: str = Field(description="registration, fact_change, request, or time (evaluated again on changes_on)")
    created_at: dt.datetime
    notice: str | None = Field(
        default=None, description="portal only: the provider does not meet all of the policy's conditions; whom to call"
    )


class RegistrationOut(BaseModel):
    provider: ProviderOut
    created: bool
    changed_fields: list[str]
    evaluations: list[EvaluationOut]


class BankAccountIn(BankAccount):
    password: str | None = Field(default=None, max_length=256, description="a portal account's password, asked again")


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
    return EvaluationOut.model_validate({k: data[k] for k in EvaluationOut.model_fields if k in data})


def _provider_seen_by(principal: Principal, out: ProviderOut) -> ProviderOut:
    """A portal token never sees the insurer's own findings (staff-only fields: ``_provider_out``)."""
    if not principal.is_portal:
        return out
    return out.model_copy(update={"facts": visible_facts(out.facts)})


def _evaluation_seen_by(principal: Principal, out: EvaluationOut, contact: str) -> EvaluationOut:
    """Confidential criteria and their facts left out; the provider is told only that it does not
    meet the policy's conditions, and whom to call (DOMAIN.md, "confidential criteria")."""
    if not principal.is_portal:
        return out
    notice = None
    if hidden_criterion_blocks(c.model_dump() for c in out.criteria):
        notice = f"U voldoet niet aan alle voorwaarden van het inkoopbeleid. Neem contact op met {contact}."
    return out.model_copy(
        update={
            "criteria": [c for c in out.criteria if c.code not in confidential_criteria()],
            "facts": visible_facts(out.facts),
            "notice": notice,
        }
    )


def _portal_contact(runtime: RuntimeDep) -> str:
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    return settings.PORTAL_CONTACT


ContactDep = Annotated[str, Depends(_portal_contact)]


def _if_match(value: str | None) -> int | None:
    """The version in ``If-Match`` (``"3"``, ``W/"3"`` or ``3``); a value that is none is a 412."""
    if value is None:
        return None
    digits = value.strip().removeprefix("W/").strip('"')
    if not digits.isdigit() or len(digits) > 9:
        raise _stale("If-Match must be the provider's version, as its ETag gives it")
    return int(digits)


def _stale(detail: str) -> ProblemError:
    return ProblemError(412, "Precondition failed", detail, kind="precondition-failed")


IfMatch = Annotated[str | None, Header(max_length=40, description="the provider's version (its ETag)")]


async def _load(uow: Any, agb: str, principal: Principal) -> ProviderOut:
    row = (await uow.session.execute(select(providers).where(providers.c.agb == agb))).first()
    if row is None:
        raise NotFound(f"no provider with AGB code {agb}")
    return _provider_out(row, await uc.current_bank_account(uow.session, agb), principal)


VERSION_TAG = etag("the provider's version, for If-Match")


@providers_router.put(
    "/{agb}",
    summary="Register or update a provider",
    response_model=RegistrationOut,
    responses={
        200: {"description": "Updated", "headers": VERSION_TAG},
        201: {"model": RegistrationOut, "description": "Registered", "headers": VERSION_TAG},
        **problem_responses(
            (412, "If-Match is not the provider's version: it has changed since"),
            (428, "A portal token must send If-Match"),
        ),
    },
)
async def put_provider(
    agb: AgbPath,
    body: ProviderData,
    uow: UowDep,
    principal: WriteProviders,
    response: Response,
    contact: ContactDep,
    if_match: IfMatch = None,
) -> RegistrationOut:
    """Staff register or replace the record (``If-Match`` optional). A portal token changes only
    the name, address and care forms, and must send ``If-Match`` with the version it read: a staff
    change in between is answered 412, never reverted."""
    _own_only(principal, agb)
    expected = _if_match(if_match)
    try:
        if principal.is_portal:
            if expected is None:
                raise ProblemError(428, "Precondition required", "send If-Match with the provider's version (its ETag)")
            result = await uc.update_by_provider(uow, agb, body, principal.subject, expected)
        else:
            result = await uc.register_provider(uow, agb, body, principal.subject, expected)
    except uc.UnknownProvider:
        raise Forbidden("a provider-portal token cannot register a provider") from None
    except uc.StaleVersion as exc:
        raise _stale(f"the provider has changed since (now version {exc.current}): read it again") from None
    except uc.ReadOnlyForProvider as exc:
        raise Forbidden(f"the insurer records these, not the provider: {', '.join(exc.fields)}") from None
    await uow.commit()
    response.status_code = 201 if result.created else 200
    response.headers["ETag"] = f'"{result.version}"'
    return RegistrationOut(
        provider=_provider_seen_by(principal, await _load(uow, agb, principal)),
        created=result.created,
        changed_fields=result.changed_fields,
        evaluations=[_evaluation_seen_by(principal, _evaluation_out(e), contact) for e in result.evaluations],
    )


@providers_router.get(
    "/{agb}",
    summary="One provider (ETag: its version)",
    response_model=ProviderOut,
    responses={200: {"headers": VERSION_TAG}, **problem_responses(404)},
)
async def get_provider(agb: AgbPath, uow: UowDep, principal: ReadProviders, response: Response) -> ProviderOut:
    _own_only(principal, agb)
    provider = await _load(uow, agb, principal)
    response.headers["ETag"] = f'"{provider.version}"'
    return _provider_seen_by(principal, provider)


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
        items=[_provider_seen_by(principal, _provider_out(r, None, principal)) for r in rows],
        page=paging.page,
        page_size=paging.page_size,
        total=total or 0,
    )


@providers_router.put(
    "/{agb}/bank-account",
    summary="Change the provider's bank account (IBAN validated)",
    response_model=BankAccountOut,
    responses=problem_responses(404, (503, HASHER_OR_DATABASE_BUSY)),
)
async def put_bank_account(
    agb: AgbPath, body: BankAccountIn, uow: UowDep, principal: WriteProviders, hasher: HasherDep
) -> BankAccountOut:
    """A portal account sends its password too (asked again); its e-mail address gets a notice."""
    _own_only(principal, agb)
    account = BankAccount(iban=body.iban, holder=body.holder)
    try:
        if principal.is_portal:
            if not body.password:
                raise BadInput([("password", "Vul uw wachtwoord in: het wordt gevraagd bij deze wijziging.")])
            attempt, since = await accounts.change_bank_account_with_password(
                uow, hasher, principal.subject, agb, account, body.password
            )
            if not attempt.ok:
                await uow.commit()  # the wrong try counts
                raise BadInput([("password", PASSWORD_REFUSED)], "Het bankrekeningnummer is niet gewijzigd.")
        else:
            _, since = await uc.change_bank_account(uow, agb, account, principal.subject)
    except uc.UnknownProvider:
        raise NotFound(f"no provider with AGB code {agb}") from None
    except accounts.AccountNotFound:
        raise Forbidden("dit token hoort niet bij een account van Mijn Zorgverlener") from None
    except HasherBusy:
        raise hasher_busy() from None
    await uow.commit()
    assert since is not None
    return BankAccountOut(iban=account.iban, holder=account.holder, changed_on=since)


@providers_router.get(
    "/{agb}/evaluations",
    summary="The provider's evaluations, newest first",
    response_model=Page[EvaluationOut],
    responses=problem_responses(404),
)
async def provider_evaluations(
    agb: AgbPath, uow: UowDep, principal: ReadProviders, paging: PageDep, contact: ContactDep
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
        items=[_evaluation_seen_by(principal, _evaluation_out(r), contact) for r in rows],
        page=paging.page,
        page_size=paging.page_size,
        total=total or 0,
    )


@evaluations_router.post(
    "",
    status_code=201,
    summary="Evaluate a provider under a policy, criterion by criterion",
    response_model=EvaluationOut,
    responses=problem_responses(404),
)
async def post_evaluation(
    body: EvaluationRequest, uow: UowDep, principal: ReadProviders, contact: ContactDep
) -> EvaluationOut:
    _own_only(principal, body.agb)
    try:
        stored = await uc.evaluate_provider(uow, body.agb, body.policy_id, principal.subject)
    except uc.UnknownProvider:
        raise NotFound(f"no provider with AGB code {body.agb}") from None
    except uc.UnknownPolicy:
        raise BadInput([("policy_id", f"unknown policy; known: {', '.join(policies())}")]) from None
    await uow.commit()
    return _evaluation_seen_by(principal, _evaluation_out(stored), contact)


Authenticated = Annotated[Principal, Depends(authenticate)]


@policies_router.get("", summary="The procurement policies, as data", response_model=list[Policy])
async def list_policies(_: Authenticated) -> list[Policy]:
    return list(policies().values())


@policies_router.get(
    "/{policy_id}", summary="One procurement policy", response_model=Policy, responses=problem_responses(404)
)
async def get_policy(policy_id: Annotated[str, Path(max_length=40)], _: Authenticated) -> Policy:
    policy = policies().get(policy_id)
    if policy is None:
        raise NotFound(f"no policy {policy_id}; known: {', '.join(policies())}")
    return policy
