"""The follow-format pipeline: store the raw e-mail first, then read, check, ask eligibility and decide."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from zorg_common import clock, tracing
from zorg_common.policy import Policy, policies
from zorg_common.uow import UnitOfWork

from ..adapters.eligibility import EligibilityClient, EligibilityUnavailable
from ..adapters.mailbox import envelope_of, message_key, read_mail
from ..adapters.orm import contracts, intakes
from ..domain import replies
from ..domain.follow_format import LABEL, FollowFormat, Problem, RawForm, check_format
from ..domain.intake import Decision, decide
from ..domain.negotiation import Refused
from ..domain.notation import parse_date
from ..settings import ContractingSettings
from . import records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    intake_id: str
    status: str
    created: bool
    message_id_derived: bool


async def store(uow: UnitOfWork, raw: bytes, channel: str) -> Stored:
    """Keep the raw message (audit) under its Message-ID; a resend returns the first intake unchanged."""
    message_id, derived, sender, subject = envelope_of(raw)
    key = message_key(message_id)
    existing = (await uow.session.execute(select(intakes).where(intakes.c.message_key == key))).first()
    if existing is not None:
        return Stored(existing.id, existing.status, False, existing.message_id_derived)
    intake_id = records.new_id()
    try:
        await uow.session.execute(
            insert(intakes).values(
                id=intake_id,
                message_key=key,
                message_id=message_id,
                message_id_derived=derived,
                channel=channel,
                raw=raw,
                raw_size=len(raw),
                sender=sender,
                subject=subject,
                received_at=clock.utcnow(),
                status="received",
                problems=[],
                review_reasons=[],
                attempts=0,
                traceparent=tracing.current_traceparent(),
            )
        )
        await uow.commit()
    except IntegrityError:  # the same message arrived twice at once: the other one won
        await uow.rollback()
        row = (await uow.session.execute(select(intakes).where(intakes.c.message_key == key))).one()
        return Stored(row.id, row.status, False, row.message_id_derived)
    log.info("intake %s stored (%s, %d bytes, message-id %s)", intake_id, channel, len(raw), message_id[:80])
    return Stored(intake_id, "received", True, derived)


def _identify(form: RawForm | None) -> tuple[str | None, Policy | None]:
    """The provider and policy of a format, when those two fields can be read (even if others cannot)."""
    if form is None:
        return None, None
    agb = str(form.values.get("agb") or "").strip()
    sector = str(form.values.get("sector") or "").strip().upper()
    try:
        year = parse_date(form.values.get("start_date")).year
    except (ValueError, TypeError):
        return (agb if agb.isdigit() and len(agb) == 8 else None), None
    policy = policies().get(f"{sector}-{year}")
    if policy is not None and not any(r.route == "follow" for r in policy.routes):
        policy = None
    return (agb if agb.isdigit() and len(agb) == 8 else None), policy


def _reply_address(form: RawForm | None, fmt: FollowFormat | None, sender: str | None) -> str | None:
    if fmt is not None and fmt.contact_email:
        return fmt.contact_email
    if form is not None:
        contact = str(form.values.get("contact_email") or "").strip()
        if contact and "@" in contact and " " not in contact and len(contact) <= 320:
            return contact
    return sender


def _format_record(form: RawForm | None) -> dict[str, Any] | None:
    if form is None:
        return None
    return {
        "fields": {LABEL[k]: (None if v is None else str(v)[:500]) for k, v in form.values.items()},
        "tariffs": [[None if c is None else str(c)[:200] for c in row] for row in form.tariffs[:100]],
    }


async def _signed_contract(uow: UnitOfWork, agb: str, policy_id: str) -> str | None:
    found = await uow.session.scalar(
        select(contracts.c.id).where(
            contracts.c.agb == agb,
            contracts.c.policy_id == policy_id,
            contracts.c.route == "follow",
            contracts.c.status == "signed",
        )
    )
    return str(found) if found else None


async def process(
    uow: UnitOfWork, intake_id: str, settings: ContractingSettings, eligibility: EligibilityClient
) -> str:
    """Decide one intake still `received`; returns its status (still `received` when eligibility is down)."""
    query = select(intakes).where(intakes.c.id == intake_id)
    if uow.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = (await uow.session.execute(query)).first()
    if row is None:
        return "received"  # another process holds it
    if row.status != "received":
        return str(row.status)
    parsed = read_mail(row.raw, settings.ATTACHMENT_MAX_BYTES)
    today = clock.today()
    problems: list[Problem] = list(parsed.problems)
    fmt: FollowFormat | None = None
    if parsed.form is not None:
        fmt, format_problems = check_format(parsed.form, policies(), settings.OWN_UZOVI, today)
        problems += format_problems
    agb, policy = _identify(parsed.form)
    procurement_id = row.procurement_id
    if agb and policy and procurement_id is None:
        procurement_id = await records.start_procurement(uow, agb, policy, "follow", "follow_format")
    answer = None
    if agb and policy:
        try:
            answer = await eligibility.answer(agb, policy.id)
        except EligibilityUnavailable as exc:
            if not problems:
                return await _wait(uow, row, settings, str(exc), agb, policy, procurement_id)
            log.info("intake %s: eligibility unavailable, rejected on its format problems alone", intake_id)
    existing = await _signed_contract(uow, fmt.agb, fmt.policy_id) if fmt is not None else None
    decision = decide(fmt, problems, answer, policy, existing)
    contract_id = None
    if decision.status == "accepted":
        assert fmt is not None and policy is not None
        contract_id = await follow(uow, fmt, policy, intake_id, procurement_id, actor="follow-format")
    elif decision.status == "rejected" and procurement_id:
        await records.close_procurement(uow, procurement_id, "follow format rejected")
    to = _reply_address(parsed.form, fmt, row.sender)
    reply = _reply(decision, to, row, fmt, contract_id)
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == intake_id)
        .values(
            status=decision.status,
            problems=[{"field": p.field, "message": p.message} for p in decision.problems],
            review_reasons=decision.review_reasons,
            format=_format_record(parsed.form),
            agb=agb,
            policy_id=policy.id if policy else None,
            procurement_id=procurement_id,
            contract_id=contract_id,
            attempts=row.attempts + 1,
            next_attempt_at=None,
            last_error=None,
            decided_at=clock.utcnow(),
            reply_to=reply.to if reply else None,
            reply_subject=reply.subject if reply else None,
            reply_body=reply.body if reply else None,
        )
    )
    await uow.commit()
    log.info("intake %s: %s (%d problem(s))", intake_id, decision.status, len(decision.problems))
    return decision.status


def _reply(
    decision: Decision, to: str | None, row: Any, fmt: FollowFormat | None, contract_id: str | None
) -> replies.Reply | None:
    if to is None:
        return None
    derived = bool(row.message_id_derived)
    if decision.status == "accepted":
        assert fmt is not None and contract_id is not None
        return replies.followed(to, row.subject, fmt, contract_id, row.id, derived)
    if decision.status == "rejected":
        return replies.rejected(to, row.subject, decision.problems, row.id, derived)
    return replies.in_review(to, row.subject, row.id, derived)


async def _wait(
    uow: UnitOfWork,
    row: Any,
    settings: ContractingSettings,
    error: str,
    agb: str,
    policy: Policy,
    procurement_id: str | None,
) -> str:
    """Our outage: the intake stays `received` and is tried again later, with backoff."""
    attempts = row.attempts + 1
    delay = min(settings.INTAKE_RETRY_BACKOFF_S * 2 ** (attempts - 1), settings.INTAKE_RETRY_MAX_S)
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == row.id)
        .values(
            attempts=attempts,
            next_attempt_at=clock.utcnow() + dt.timedelta(seconds=delay),
            last_error=error[:500],
            agb=agb,
            policy_id=policy.id,
            procurement_id=procurement_id,
        )
    )
    await uow.commit()
    log.warning(
        "intake %s waits for the eligibility service (try %d, next in %.0fs): %s", row.id, attempts, delay, error
    )
    return "received"


async def follow(
    uow: UnitOfWork, fmt: FollowFormat, policy: Policy, intake_id: str, procurement_id: str | None, actor: str
) -> str:
    """Follow the preferred insurer's contract: a signed contract on the follow route with the format's terms."""
    tariffs = [(t.prestation_code, t.amount_cents) for t in fmt.tariffs]
    contract_id = await records.create_contract(
        uow,
        agb=fmt.agb,
        policy=policy,
        route="follow",
        start=fmt.start_date,
        end=fmt.end_date,
        tariffs=tariffs,
        source="follow_format",
        source_id=intake_id,
        procurement_id=procurement_id,
        actor=actor,
    )
    await records.sign_contract(uow, contract_id, fmt.signatory, clock.today(), actor)
    return contract_id


async def mark_failed(uow: UnitOfWork, intake_id: str, error: str) -> None:
    """A bug, not an outage: a person looks at it rather than the loop retrying forever."""
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == intake_id, intakes.c.status == "received")
        .values(
            status="needs_review",
            review_reasons=[f"could not be processed automatically ({error[:200]})"],
            decided_at=clock.utcnow(),
            next_attempt_at=None,
            last_error=error[:500],
        )
    )
    await uow.commit()


async def review(
    uow: UnitOfWork, intake_id: str, accept: bool, note: str | None, actor: str, settings: ContractingSettings
) -> Any:
    """A person's decision on an intake in `needs_review`: follow it (or amend the signed contract), or reject it."""
    row = (await uow.session.execute(records.for_update(select(intakes).where(intakes.c.id == intake_id), uow))).first()
    if row is None:
        raise records.NotFoundError(f"no follow-format intake {intake_id}")
    if row.status != "needs_review":
        raise Refused(f"the intake is {row.status}: only one in needs_review can be reviewed")
    parsed = read_mail(row.raw, settings.ATTACHMENT_MAX_BYTES)
    fmt, problems = (
        check_format(parsed.form, policies(), settings.OWN_UZOVI, clock.today()) if parsed.form else (None, [])
    )
    contract_id = None
    reply: replies.Reply | None = None
    to = _reply_address(parsed.form, fmt, row.sender)
    if accept:
        if fmt is None:
            raise Refused("the format has problems and cannot be followed: " + "; ".join(p.message for p in problems))
        policy = policies()[fmt.policy_id]
        existing = await _signed_contract(uow, fmt.agb, fmt.policy_id)
        if existing:
            await records.amend_contract(
                uow,
                existing,
                [(t.prestation_code, t.amount_cents) for t in fmt.tariffs],
                fmt.end_date,
                fmt.signatory,
                actor,
            )
            contract_id = existing
            await records.mark_contracted(uow, row.procurement_id)
        else:
            contract_id = await follow(uow, fmt, policy, intake_id, row.procurement_id, actor)
        reply = replies.followed(to, row.subject, fmt, contract_id, intake_id, row.message_id_derived) if to else None
    else:
        if row.procurement_id:
            await records.close_procurement(uow, row.procurement_id, note or "rejected on review")
        reply = replies.review_rejected(to, row.subject, note, intake_id) if to else None
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == intake_id)
        .values(
            status="accepted" if accept else "rejected",
            contract_id=contract_id,
            reviewed_by=actor,
            review_note=note,
            decided_at=clock.utcnow(),
            reply_to=reply.to if reply else None,
            reply_subject=reply.subject if reply else None,
            reply_body=reply.body if reply else None,
            reply_sent_at=None,
        )
    )
    await uow.commit()
    return (await uow.session.execute(select(intakes).where(intakes.c.id == intake_id))).one()
