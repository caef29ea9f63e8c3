"""HTTP routes of the claims service: intake, status, review decisions and authorisations."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import func, insert, select, update

from zorg_common import clock
from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Forbidden, Principal, require_scope
from zorg_common.events import ClaimAdjudicated, ReasonCode
from zorg_common.identifiers import Agb, Bsn
from zorg_common.limits import body_limit
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.problems import BadInput, Conflict, NotFound
from zorg_common.uow import UnitOfWork

from ..adapters.orm import authorisations, claims, decisions
from ..domain.adjudication import VEKTIS
from ..domain.claim import ClaimLine
from ..service_layer.intake import door_check, submit
from ..settings import ClaimsSettings

ReadClaims = Annotated[Principal, Depends(require_scope("claims:read", portal=True))]
WriteClaims = Annotated[Principal, Depends(require_scope("claims:write"))]
Status = Literal["received", "approved", "partially_approved", "rejected", "pending"]

claims_router = APIRouter(prefix="/claims", tags=["claims"])
authorisations_router = APIRouter(prefix="/authorisations", tags=["authorisations"])

_LINE_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": ClaimLine.model_json_schema()}}}
}


class Accepted(BaseModel):
    id: str
    status: str


class ReasonOut(BaseModel):
    code: str
    vektis_code: str | None


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


class BatchIn(BaseModel):
    lines: list[dict[str, Any]] = Field(min_length=1)


class LineRefused(BaseModel):
    index: int
    errors: list[dict[str, str]]


class BatchOut(BaseModel):
    accepted: list[str]
    refused: list[LineRefused]


class ReviewIn(BaseModel):
    decision: Literal["approve", "reject"]
    allowed_cents: int | None = Field(default=None, ge=0)
    note: str | None = Field(default=None, max_length=2000)


class AuthorisationIn(BaseModel):
    bsn: Bsn
    agb: Agb
    care_type: str = Field(min_length=1, max_length=64)
    granted_on: dt.date
    valid_until: dt.date

    @model_validator(mode="after")
    def _period(self) -> AuthorisationIn:
        if self.valid_until < self.granted_on:
            raise ValueError("valid_until: must not be before granted_on")
        return self


def _out(row: Any) -> ClaimOut:
    return ClaimOut(
        id=row.id,
        provider_reference=row.provider_reference,
        agb=row.agb,
        sector=row.sector,
        prestation_code=row.prestation_code,
        service_date=row.service_date,
        status=row.status,
        reasons=list(row.reasons),
        reason_codes=[ReasonOut(code=r, vektis_code=VEKTIS.get(r)) for r in row.reasons],
        hold=row.hold,
        claimed_cents=row.claimed_cents,
        allowed_cents=row.allowed_cents,
        received_on=row.received_on,
        adjudicated_at=row.adjudicated_at,
        decision_no=row.decision_no,
        decided_by=row.decided_by,
    )


def _errors(problems: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": f, "message": m} for f, m in problems]


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
    result = await submit(uow, [checked], clock.today())
    await uow.commit()
    status = await uow.session.scalar(select(claims.c.status).where(claims.c.id == result.ids[0]))
    return Accepted(id=result.ids[0], status=status or "received")


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
            refused.append(LineRefused(index=index, errors=_errors(checked)))
    result = await submit(uow, good, today)
    await uow.commit()
    return BatchOut(accepted=result.ids, refused=refused)


@claims_router.get(
    "/{claim_id}", response_model=ClaimOut, summary="A claim's status and decision", responses=problem_responses(404)
)
async def get_claim(claim_id: Annotated[str, Path(max_length=36)], uow: UowDep, principal: ReadClaims) -> ClaimOut:
    row = (await uow.session.execute(select(claims).where(claims.c.id == claim_id))).first()
    if row is None or not principal.may_see_provider(row.agb):
        raise NotFound(f"no claim {claim_id}")
    return _out(row)


@claims_router.get(
    "/{claim_id}/decisions", summary="Every decision on a claim, oldest first", responses=problem_responses(404)
)
async def get_decisions(
    claim_id: Annotated[str, Path(max_length=36)], uow: UowDep, principal: ReadClaims
) -> list[dict[str, Any]]:
    owner = await uow.session.scalar(select(claims.c.agb).where(claims.c.id == claim_id))
    if owner is None or not principal.may_see_provider(owner):
        raise NotFound(f"no claim {claim_id}")
    rows = await uow.session.execute(
        select(decisions).where(decisions.c.claim_id == claim_id).order_by(decisions.c.decision_no)
    )
    return [{k: v for k, v in row._mapping.items() if k != "id"} for row in rows]


@claims_router.get("", response_model=Page[ClaimOut], summary="Claims by provider and status, paged")
async def list_claims(
    uow: UowDep,
    principal: ReadClaims,
    paging: PageDep,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    status: Status | None = None,
    hold: Annotated[Literal["contract", "review"] | None, Query()] = None,
) -> Page[ClaimOut]:
    if principal.is_portal:
        if agb not in (None, principal.agb):
            raise Forbidden("a provider-portal token sees only its own claims")
        agb = principal.agb
    where = [
        c
        for c in (
            claims.c.agb == agb if agb else None,
            claims.c.status == status if status else None,
            claims.c.hold == hold if hold else None,
            # Every pending claim waits on a hold: this lets the held-claims index find them.
            claims.c.hold.is_not(None) if status == "pending" and not hold else None,
        )
        if c is not None
    ]
    total = await uow.session.scalar(select(func.count()).select_from(claims).where(*where))
    rows = await uow.session.execute(
        select(claims)
        .where(*where)
        .order_by(claims.c.received_at.desc(), claims.c.id)
        .offset(paging.offset)
        .limit(paging.page_size)
    )
    return Page(items=[_out(r) for r in rows], page=paging.page, page_size=paging.page_size, total=total or 0)


@claims_router.post(
    "/{claim_id}/review",
    response_model=ClaimOut,
    summary="A person decides a claim held for review; no rerun overwrites it",
    responses=problem_responses(404, (409, "The claim is not held for review")),
)
async def review_claim(
    claim_id: Annotated[str, Path(max_length=36)], body: ReviewIn, uow: UowDep, principal: WriteClaims
) -> ClaimOut:
    row = (await uow.session.execute(select(claims).where(claims.c.id == claim_id))).first()
    if row is None:
        raise NotFound(f"no claim {claim_id}")
    if row.hold != "review":
        raise Conflict(f"claim {claim_id} is not held for review (status {row.status})")
    allowed = 0 if body.decision == "reject" else min(row.claimed_cents, body.allowed_cents or row.claimed_cents)
    status = (
        "rejected"
        if body.decision == "reject"
        else ("approved" if allowed == row.claimed_cents else "partially_approved")
    )
    reasons = ["REVIEW_REJECTED" if body.decision == "reject" else "REVIEW_APPROVED"]
    now, number = clock.utcnow(), row.decision_no + 1
    await uow.session.execute(
        update(claims)
        .where(claims.c.id == claim_id)
        .values(
            status=status,
            reasons=reasons,
            allowed_cents=allowed,
            adjudicated_at=now,
            decision_no=number,
            rule_version="person",
            decided_by=principal.subject,
            hold=None,
        )
    )
    await uow.session.execute(
        insert(decisions).values(
            claim_id=claim_id,
            decision_no=number,
            status=status,
            reasons=reasons,
            allowed_cents=allowed,
            rule_version="person",
            decided_at=now,
            decided_by=principal.subject,
            note=body.note,
        )
    )
    uow.emit(
        ClaimAdjudicated(
            agb=row.agb,
            claim_id=claim_id,
            status=status,  # type: ignore[arg-type]
            reasons=[ReasonCode(code=r) for r in reasons],
            claimed_cents=row.claimed_cents,
            allowed_cents=allowed,
            rule_version="person",
            decision_no=number,
            adjudicated_at=now,
        )
    )
    await uow.commit()
    return _out((await uow.session.execute(select(claims).where(claims.c.id == claim_id))).one())


@authorisations_router.post("", status_code=201, summary="Record an authorisation (machtiging) granted in advance")
async def post_authorisation(body: AuthorisationIn, uow: UowDep, principal: WriteClaims) -> dict[str, str]:
    number = "M-" + uuid.uuid4().hex[:12].upper()
    await uow.session.execute(
        insert(authorisations).values(
            number=number,
            bsn=body.bsn,
            agb=body.agb,
            care_type=body.care_type,
            granted_on=body.granted_on,
            valid_until=body.valid_until,
            created_at=clock.utcnow(),
            created_by=principal.subject,
        )
    )
    await uow.commit()
    return {"number": number}
