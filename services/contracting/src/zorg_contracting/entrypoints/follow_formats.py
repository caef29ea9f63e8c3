"""HTTP routes of the follow-format intake: a raw e-mail in, its outcome and reply out, the review queue."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from zorg_common.app import UowDep
from zorg_common.auth import Principal
from zorg_common.limits import body_limit
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.problems import BadInput, NotFound, ProblemError
from zorg_common.service import Runtime

from ..adapters.eligibility import EligibilityClient
from ..adapters.orm import intakes
from ..adapters.smtp_listener import start_listener
from ..service_layer import intake as uc
from ..service_layer.pipeline import Pipeline, smtp_limits
from ..settings import ContractingSettings
from .common import PipelineDep, ReadContracts, WriteContracts, as_problems, eligibility_unavailable, own_only

log = logging.getLogger(__name__)
IdPath = Annotated[str, Path(max_length=36)]


def pipeline_for(runtime: Runtime) -> Pipeline:
    """The one intake pipeline of this process, shared by the HTTP door and the worker."""
    if "pipeline" not in runtime.state:
        settings = runtime.settings
        assert isinstance(settings, ContractingSettings)
        runtime.state["pipeline"] = Pipeline(runtime, settings, EligibilityClient(settings))
    pipeline: Pipeline = runtime.state["pipeline"]
    return pipeline


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The two doors of the intake: this HTTP route and the SMTP listener of the contracts mailbox.

    Both store the raw message and decide it at once when they can; what has to wait (eligibility
    away) is decided by the worker (`intake_worker`), in this process or another.
    """
    settings: ContractingSettings = app.state.settings
    pipeline = pipeline_for(app.state.runtime)
    app.state.contracting = pipeline
    server: asyncio.Server | None = None
    if settings.SMTP_ENABLED:

        async def receive(raw: bytes) -> str:
            stored = await pipeline.receive(raw, "smtp")
            pipeline.wake.set()
            return stored.intake_id

        try:
            server = await start_listener(settings.SMTP_HOST, settings.SMTP_PORT, receive, smtp_limits(settings))
            log.info("SMTP listener on %s:%d", settings.SMTP_HOST, settings.SMTP_PORT)
        except OSError as exc:
            log.error("SMTP listener not started on %s:%d: %s", settings.SMTP_HOST, settings.SMTP_PORT, exc)
    try:
        yield
    finally:
        if server is not None:
            server.close()
        await pipeline.close()


async def intake_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """Decides the intakes still `received`: new ones, ones that waited for eligibility, ones left by a restart.

    Runs wherever the service's workers run: in `zorg serve` with ZORG_RUN_WORKERS, or in
    `zorg worker contracting`.
    """
    pipeline = pipeline_for(runtime)
    try:
        await pipeline.run(stop)
    finally:
        if stop.is_set():  # after a failure the loop is started again (supervision) with the same pipeline
            await pipeline.close()


router = APIRouter(prefix="/follow-formats", tags=["follow formats"], lifespan=lifespan)


class ProblemOut(BaseModel):
    field: str
    message: str


class ReplyOut(BaseModel):
    to: str
    subject: str
    body: str
    sent_at: dt.datetime | None = None


class Received(BaseModel):
    intake_id: str
    status: str
    duplicate: bool = Field(description="the same Message-ID was received before: nothing changed")
    message_id_derived: bool = Field(description="the e-mail had no Message-ID; one was derived from its bytes")


class IntakeOut(BaseModel):
    id: str
    status: Literal["received", "accepted", "rejected", "needs_review"]
    channel: str
    message_id: str
    message_id_derived: bool
    sender: str | None
    subject: str | None
    received_at: dt.datetime
    decided_at: dt.datetime | None
    agb: str | None
    policy_id: str | None
    procurement_id: str | None
    contract_id: str | None
    problems: list[ProblemOut] = Field(description="what the provider reads (Dutch; confidential criteria unnamed)")
    review_reasons: list[str]
    sender_verified: bool | None = Field(
        description="the sender is a contact address on file and DMARC did not fail (null: provider unknown)"
    )
    evaluation: dict[str, Any] | None = Field(
        description="the provider's full evaluation under the policy; staff only (null for a portal token)"
    )
    reply: ReplyOut | None
    attempts: int
    waiting_for: str | None = Field(description="why a `received` intake waits (the eligibility service is away)")
    review_note: str | None
    format: dict[str, Any] | None


UNAVAILABLE = "The database cannot be reached; the e-mail was not taken in (try again)"
WAITING_FOR_ELIGIBILITY = "the eligibility service could not be reached; the intake is tried again automatically"


class ReviewIn(BaseModel):
    decision: Literal["accept", "reject"]
    note: str | None = Field(default=None, max_length=2000)


def intake_out(row: Any, principal: Principal) -> IntakeOut:
    reply = (
        ReplyOut(to=row.reply_to, subject=row.reply_subject, body=row.reply_body, sent_at=row.reply_sent_at)
        if row.reply_to
        else None
    )
    return IntakeOut(
        id=row.id,
        status=row.status,
        channel=row.channel,
        message_id=row.message_id,
        message_id_derived=row.message_id_derived,
        sender=row.sender,
        subject=row.subject,
        received_at=row.received_at,
        decided_at=row.decided_at,
        agb=row.agb,
        policy_id=row.policy_id,
        procurement_id=row.procurement_id,
        contract_id=row.contract_id,
        problems=[ProblemOut(**p) for p in row.problems],
        review_reasons=list(row.review_reasons),
        sender_verified=row.sender_verified,
        evaluation=None if principal.is_portal else row.evaluation,
        reply=reply,
        attempts=row.attempts,
        # A fixed text: the error itself (kept in last_error and the log) may name hosts and internals.
        waiting_for=WAITING_FOR_ELIGIBILITY if row.status == "received" and row.last_error else None,
        review_note=row.review_note,
        format=row.format,
    )


async def _load(uow: Any, intake_id: str) -> Any:
    row = (await uow.session.execute(select(intakes).where(intakes.c.id == intake_id))).first()
    if row is None:
        raise NotFound(f"no follow-format intake {intake_id}")
    return row


@router.post(
    "",
    status_code=202,
    summary="Take in a follow-format e-mail (raw message/rfc822), as the SMTP listener does",
    responses=problem_responses((415, "The body is not sent as message/rfc822"), (503, UNAVAILABLE)),
    response_model=Received,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
@body_limit("MAIL_MAX_BYTES")
async def post_follow_format(request: Request, pipeline: PipelineDep, _: WriteContracts) -> Received:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "message/rfc822":
        raise ProblemError(415, "Unsupported media type", "send the raw e-mail as Content-Type: message/rfc822")
    limit = pipeline.settings.MAIL_MAX_BYTES
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ProblemError(413, "Payload too large", f"an e-mail may be at most {limit:,} bytes")
    if not raw.strip():
        raise BadInput([("body", "the e-mail is empty")])
    stored = await pipeline.receive(bytes(raw), "http")
    status = stored.status
    if stored.created:
        status = await pipeline.process(stored.intake_id) or status
    return Received(
        intake_id=stored.intake_id,
        status=status,
        duplicate=not stored.created,
        message_id_derived=stored.message_id_derived,
    )


@router.get(
    "/{intake_id}",
    summary="An intake: its status, problems, contract and reply",
    responses=problem_responses(404),
    response_model=IntakeOut,
)
async def get_follow_format(intake_id: IdPath, uow: UowDep, principal: ReadContracts) -> IntakeOut:
    row = await _load(uow, intake_id)
    if principal.is_portal:
        own_only(principal, row.agb)
    return intake_out(row, principal)


@router.get(
    "/{intake_id}/raw",
    summary="The e-mail as received (audit)",
    responses={
        200: {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(404),
    },
    response_class=Response,
)
async def get_raw(intake_id: IdPath, uow: UowDep, _: WriteContracts) -> Response:
    row = await _load(uow, intake_id)
    return Response(content=row.raw, media_type="message/rfc822")


@router.get(
    "", summary="Intakes, newest first; ?status=needs_review is the review queue", response_model=Page[IntakeOut]
)
async def list_follow_formats(
    uow: UowDep,
    principal: ReadContracts,
    paging: PageDep,
    status: Annotated[Literal["received", "accepted", "rejected", "needs_review"] | None, Query()] = None,
    agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
) -> Page[IntakeOut]:
    where = []
    if principal.is_portal:
        agb = principal.agb
    if agb:
        where.append(intakes.c.agb == agb)
    if status:
        where.append(intakes.c.status == status)
    total = await uow.session.scalar(select(func.count()).select_from(intakes).where(*where))
    rows = (
        await uow.session.execute(
            select(intakes)
            .where(*where)
            .order_by(intakes.c.received_at.desc(), intakes.c.id)
            .offset(paging.offset)
            .limit(paging.page_size)
        )
    ).all()
    items = [intake_out(r, principal) for r in rows]
    return Page(items=items, page=paging.page, page_size=paging.page_size, total=total or 0)


@router.post(
    "/{intake_id}/review",
    summary="A person accepts or rejects an intake in needs_review",
    responses=problem_responses(404, 409),
    response_model=IntakeOut,
)
async def review_follow_format(
    intake_id: IdPath, body: ReviewIn, uow: UowDep, principal: WriteContracts, pipeline: PipelineDep
) -> IntakeOut:
    with as_problems("decision"), eligibility_unavailable():
        row = await uc.review(
            uow,
            intake_id,
            body.decision == "accept",
            body.note,
            principal.subject,
            pipeline.settings,
            pipeline.eligibility,
            pipeline.reader,
        )
    if pipeline.sends_replies:
        pipeline.wake.set()
    return intake_out(row, principal)
