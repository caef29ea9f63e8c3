"""HTTP routes of the claims service: intake, reading (logged), a person's review, authorisations, the access log.

Each route parses, authorises, calls one use case of the service layer, commits and answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zorg_common import clock
from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Principal, require_scope
from zorg_common.claims_api import MAX_AGBS, HeldClaims, ProviderVolumes
from zorg_common.identifiers import Agb, Bsn
from zorg_common.limits import body_limit
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.problems import BadInput
from zorg_common.uow import UnitOfWork
from zorg_common.values import IsoDateTime

from ..adapters.repository import AccessEntry, ClaimFilter, ClaimView, DecisionView, SqlClaimsUnit
from ..domain.adjudication import VEKTIS
from ..domain.authorisation import AuthorisationStatus
from ..domain.claim import ClaimLine
from ..service_layer.authorisations import record_authorisation
from ..service_layer.intake import DoorError, door_check, submit
from ..service_layer.reading import list_claims, read_access_log, read_claim, read_decisions
from ..service_layer.review import review_claim
from ..service_layer.summaries import held_claims, provider_volumes
from ..settings import ClaimsSettings

ReadClaims = Annotated[Principal, Depends(require_scope("claims:read", portal=True))]
#: Summaries over every provider: staff and other services (their service tokens), never a portal token.
ReadSummaries = Annotated[Principal, Depends(require_scope("claims:read"))]
WriteClaims = Annotated[Principal, Depends(require_scope("claims:write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
ClaimId = Annotated[str, Path(max_length=36)]
Status = Literal["received", "approved", "partially_approved", "rejected", "pending"]
Sector = Literal["GLI", "GGZ"]
Year = Annotated[
    int, Query(ge=2000, le=2100, description="the contract year: a DBC's opening year, else the service year")
]

claims_router = APIRouter(prefix="/claims", tags=["claims"])
# Before claims_router in the service's routers: /claims/volumes is no claim id.
summaries_router = APIRouter(prefix="/claims", tags=["summaries"])
authorisations_router = APIRouter(prefix="/authorisations", tags=["authorisations"])
access_log_router = APIRouter(prefix="/access-log", tags=["access log"])

_LINE_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": ClaimLine.model_json_schema()}}}
}


class Accepted(BaseModel):
    id: str
    status: str


class ReasonOut(BaseModel):
    code: str
    vektis_code: str | None


def _reason_codes(reasons: tuple[str, ...]) -> list[ReasonOut]:
    return [ReasonOut(code=r, vektis_code=VEKTIS.get(r)) for r in reasons]


class ClaimOut(BaseModel):
    id: str
    provider_reference: str
    agb: str
    sector: str
    prestation_code: str
    service_date: dt.date
    status: Status
    reasons: list[str]
    reason_codes: list[ReasonOut]
    hold: str | None
    claimed_cents: int
    allowed_cents: int | None
    received_on: dt.date
    adjudicated_at: dt.datetime | None
    decision_no: int
    decided_by: str | None

    @classmethod
    def of(cls, claim: ClaimView) -> ClaimOut:
        return cls(
            id=claim.id,
            provider_reference=claim.provider_reference,
            agb=claim.agb,
            sector=claim.sector,
            prestation_code=claim.prestation_code,
            service_date=claim.service_date,
            status=claim.status,  # type: ignore[arg-type]
            reasons=list(claim.reasons),
            reason_codes=_reason_codes(claim.reasons),
            hold=claim.hold,
            claimed_cents=claim.claimed_cents,
            allowed_cents=claim.allowed_cents,
            received_on=claim.received_on,
            adjudicated_at=claim.adjudicated_at,
            decision_no=claim.decision_no,
            decided_by=claim.decided_by,
        )


class DecisionOut(BaseModel):
    decision_no: int
    status: str
    reasons: list[str]
    reason_codes: list[ReasonOut]
    claimed_cents: int
    allowed_cents: int
    rule_version: str
    decided_at: dt.datetime
    decided_by: str = Field(description='"rules", or the person who decided')
    note: str | None
    inputs: dict[str, Any] | None = Field(
        description="what the decision used: policy_id, contract_year, contract_id and contract_version, "
        "evaluation_id, authorisation_number, programme_run, and for a review the decision reviewed"
    )

    @classmethod
    def of(cls, claim: ClaimView, d: DecisionView) -> DecisionOut:
        return cls(
            decision_no=d.decision_no,
            status=d.status,
            reasons=list(d.reasons),
            reason_codes=_reason_codes(d.reasons),
            claimed_cents=claim.claimed_cents,
            allowed_cents=d.allowed_cents,
            rule_version=d.rule_version,
            decided_at=d.decided_at,
            decided_by=d.decided_by,
            note=d.note,
            inputs=dict(d.inputs) if d.inputs is not None else None,
        )


class BatchIn(BaseModel):
    lines: list[dict[str, Any]] = Field(min_length=1)


class DoorErrorOut(BaseModel):
    field: str
    message: str
    vektis_code: str | None = Field(description="the Vektis COD954 code of the refusal, where one fits")


class LineRefused(BaseModel):
    index: int
    errors: list[DoorErrorOut]


class BatchOut(BaseModel):
    accepted: list[str]
    refused: list[LineRefused]


class ReviewIn(BaseModel):
    """A person's decision; the amount is the rules' (an approval pays exactly that, never more)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=2000)


class AuthorisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bsn: Bsn
    agb: Agb
    care_type: str = Field(min_length=1, max_length=64, description="a prestation code or its care type")
    requested_on: dt.date | None = Field(default=None, description="defaults to granted_on")
    granted_on: dt.date = Field(description="the day the insurer decided; not in the future")
    valid_until: dt.date
    status: AuthorisationStatus = "granted"


class AccessOut(BaseModel):
    at: dt.datetime
    actor: str
    actor_kind: Literal["staff", "portal"]
    via: Literal["claim", "decisions", "list"]
    claim_id: str
    agb: str
    bsn: str

    @classmethod
    def of(cls, e: AccessEntry) -> AccessOut:
        return cls(**e.__dict__)


def _refused(index: int, errors: list[DoorError]) -> LineRefused:
    return LineRefused(index=index, errors=[DoorErrorOut(**e.model_dump()) for e in errors])


@claims_router.post(
    "",
    status_code=202,
    response_model=Accepted,
    openapi_extra=_LINE_SCHEMA,
    summary="Submit one claim line; the same provider_reference returns the first claim",
)
async def post_claim(body: Annotated[dict[str, Any], Body()], uow: UowDep, _: WriteClaims) -> Accepted:
    checked = door_check(body, clock.today())
    if not isinstance(checked, ClaimLine):
        raise BadInput(checked)
    unit = SqlClaimsUnit(uow)
    result = await submit(unit, [checked], clock.today())
    await uow.commit()
    return Accepted(id=result.ids[0], status=await unit.claims.status_of(result.ids[0]) or "received")


@claims_router.post(
    "/batch",
    status_code=202,
    response_model=BatchOut,
    summary="Submit many lines; good lines are taken even when others are refused",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")}
            },
        }
    },
)
@body_limit("CLAIMS_BATCH_MAX_BYTES")
async def post_batch(request: Request, uow: UowDep, _: WriteClaims, runtime: RuntimeDep) -> BatchOut:
    assert isinstance(runtime.settings, ClaimsSettings)
    slots = runtime.state.get("batch_slots")
    if slots is None:
        slots = runtime.state["batch_slots"] = asyncio.Semaphore(runtime.settings.CLAIMS_BATCH_CONCURRENCY)
    # The body is read only once a slot is free: at a month-end peak the waiting requests stay in
    # the network buffers instead of all being parsed into memory at once.
    async with slots:
        try:
            body = BatchIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        return await _take_batch(body, uow, runtime.settings)


async def _take_batch(body: BatchIn, uow: UnitOfWork, settings: ClaimsSettings) -> BatchOut:
    limit = settings.CLAIMS_BATCH_MAX_LINES
    if len(body.lines) > limit:
        raise BadInput([("lines", f"at most {limit} lines a request, got {len(body.lines)}")])
    today = clock.today()
    good: list[ClaimLine] = []
    refused: list[LineRefused] = []
    for index, raw in enumerate(body.lines):
        checked = door_check(raw, today)
        if isinstance(checked, ClaimLine):
            good.append(checked)
        else:
            refused.append(_refused(index, checked))
    result = await submit(SqlClaimsUnit(uow), good, today)
    await uow.commit()
    return BatchOut(accepted=result.ids, refused=refused)


@claims_router.get(
    "/{claim_id}",
    response_model=ClaimOut,
    summary="A claim's status and decision (the read is logged)",
    responses=problem_responses(404),
)
async def get_claim(claim_id: ClaimId, uow: UowDep, principal: ReadClaims) -> ClaimOut:
    claim = await read_claim(SqlClaimsUnit(uow), claim_id, principal)
    await uow.commit()  # the access log entry: no read without it
    return ClaimOut.of(claim)


@claims_router.get(
    "/{claim_id}/decisions",
    response_model=list[DecisionOut],
    summary="Every decision on a claim, oldest first, with the inputs it used (the read is logged)",
    responses=problem_responses(404),
)
async def get_decisions(claim_id: ClaimId, uow: UowDep, principal: ReadClaims) -> list[DecisionOut]:
    claim, history = await read_decisions(SqlClaimsUnit(uow), claim_id, principal)
    await uow.commit()
    return [DecisionOut.of(claim, d) for d in history]


@claims_router.get("", response_model=Page[ClaimOut], summary="Claims by provider, status and hold, paged (logged)")
async def get_claims(
    uow: UowDep,
    principal: ReadClaims,
    paging: PageDep,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    status: Status | None = None,
    hold: Annotated[Literal["contract", "review"] | None, Query()] = None,
) -> Page[ClaimOut]:
    where = ClaimFilter(agb=agb, status=status, hold=hold)
    total, page = await list_claims(SqlClaimsUnit(uow), principal, where, paging.offset, paging.page_size)
    await uow.commit()
    return Page(items=[ClaimOut.of(c) for c in page], page=paging.page, page_size=paging.page_size, total=total)


@claims_router.post(
    "/{claim_id}/review",
    response_model=ClaimOut,
    summary="A person decides a claim held for review: the rules' amount or nothing; no rerun overwrites it",
    responses=problem_responses(404, (409, "The claim is not held for review")),
)
async def post_review(claim_id: ClaimId, body: ReviewIn, uow: UowDep, principal: WriteClaims) -> ClaimOut:
    decided = await review_claim(SqlClaimsUnit(uow), claim_id, body.decision, body.note, principal.subject)
    await uow.commit()
    return ClaimOut.of(decided)


@authorisations_router.post(
    "", status_code=201, summary="Record an authorisation (machtiging), granted or refused, asked for in advance"
)
async def post_authorisation(body: AuthorisationIn, uow: UowDep, principal: WriteClaims) -> dict[str, str]:
    number = await record_authorisation(
        SqlClaimsUnit(uow),
        bsn=body.bsn,
        agb=body.agb,
        care_type=body.care_type,
        requested_on=body.requested_on,
        granted_on=body.granted_on,
        valid_until=body.valid_until,
        status=body.status,
        actor=principal.subject,
    )
    await uow.commit()
    return {"number": number}


@access_log_router.get(
    "", response_model=Page[AccessOut], summary="Who read which insured person's claims, when (NEN 7513), newest first"
)
async def get_access_log(
    uow: UowDep,
    _: Admin,
    paging: PageDep,
    bsn: Annotated[Bsn | None, Query()] = None,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    since: Annotated[IsoDateTime | None, Query(description="ISO 8601; without an offset it is UTC")] = None,
) -> Page[AccessOut]:
    total, entries = await read_access_log(SqlClaimsUnit(uow), bsn, agb, since, paging.offset, paging.page_size)
    return Page(items=[AccessOut.of(e) for e in entries], page=paging.page, page_size=paging.page_size, total=total)


@summaries_router.get(
    "/volumes",
    response_model=Page[ProviderVolumes],
    summary="Claim volumes per provider and prestation of a contract year: delivered, paid, and what it cost",
)
async def get_volumes(
    uow: UowDep,
    _: ReadSummaries,
    paging: PageDep,
    year: Year,
    agb: Annotated[
        list[Agb] | None,
        Query(max_length=MAX_AGBS, description=f"only these providers (repeat it, at most {MAX_AGBS})"),
    ] = None,
    sector: Annotated[Sector | None, Query()] = None,
) -> Page[ProviderVolumes]:
    """Without ``agb``, every provider with claims in the year, page by page (by AGB code). A provider
    without claims in the year is left out."""
    total, items = await provider_volumes(SqlClaimsUnit(uow), year, agb, sector, paging.offset, paging.page_size)
    return Page(items=items, page=paging.page, page_size=paging.page_size, total=total)


@summaries_router.get(
    "/holds", response_model=HeldClaims, summary="Held claims of a sector and contract year, counted per hold"
)
async def get_holds(uow: UowDep, _: ReadSummaries, sector: Annotated[Sector, Query()], year: Year) -> HeldClaims:
    return await held_claims(SqlClaimsUnit(uow), sector, year)
