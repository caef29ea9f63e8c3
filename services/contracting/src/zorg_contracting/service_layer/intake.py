"""The follow-format pipeline: store the raw e-mail first, then read, check, ask eligibility and decide."""

from __future__ import annotations

import asyncio
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
from ..adapters.mailbox import ParsedMail, envelope_of, message_key
from ..adapters.orm import intakes
from ..adapters.reading import MailReader
from ..domain import replies
from ..domain.follow_format import LABEL, FollowFormat, Problem, RawForm, check_format
from ..domain.intake import Decision, Evaluation, Known, decide, eligibility_problems
from ..domain.negotiation import Refused
from ..domain.notation import parse_date
from ..domain.trust import check_sender, reply_address
from ..settings import ContractingSettings
from . import records

log = logging.getLogger(__name__)
FOLLOW_FORMAT = "follow_format"


@dataclass(frozen=True)
class Stored:
    intake_id: str
    status: str
    created: bool
    message_id_derived: bool


async def store(uow: UnitOfWork, raw: bytes, channel: str) -> Stored:
    """Keep the raw message (audit) under its Message-ID; a resend returns the first intake unchanged."""
    envelope = await asyncio.to_thread(envelope_of, raw)  # hashing a large message must not hold the loop
    key = message_key(envelope.message_id)
    existing = (await uow.session.execute(select(intakes).where(intakes.c.message_key == key))).first()
    if existing is not None:
        return Stored(existing.id, existing.status, False, existing.message_id_derived)
    intake_id = records.new_id()
    try:
        await uow.session.execute(
            insert(intakes).values(
                id=intake_id,
                message_key=key,
                message_id=envelope.message_id,
                message_id_derived=envelope.message_id_derived,
                channel=channel,
                raw=raw,
                raw_size=len(raw),
                sender=envelope.sender,
                subject=envelope.subject,
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
    log.info("intake %s stored (%s, %d bytes)", intake_id, channel, len(raw))
    return Stored(intake_id, "received", True, envelope.message_id_derived)


def _identify(form: RawForm | None) -> tuple[str | None, Policy | None]:
    """The provider and policy of a format, when those two fields can be read (even if others cannot)."""
    if form is None:
        return None, None
    agb = str(form.values.get("agb") or "").strip()
    agb_read = agb if agb.isdigit() and len(agb) == 8 else None
    sector = str(form.values.get("sector") or "").strip().upper()
    try:
        year = parse_date(form.values.get("start_date")).year
    except (ValueError, TypeError):
        return agb_read, None
    policy = policies().get(f"{sector}-{year}")
    if policy is not None and not any(r.route == "follow" for r in policy.routes):
        policy = None
    return agb_read, policy


def _format_record(form: RawForm | None) -> dict[str, Any] | None:
    if form is None:
        return None
    return {
        "fields": {LABEL[k]: (None if v is None else str(v)[:500]) for k, v in form.values.items()},
        "tariffs": [[None if c is None else str(c)[:200] for c in row] for row in form.tariffs[:100]],
    }


async def _signed_contract(uow: UnitOfWork, agb: str, policy: Policy) -> str | None:
    row = await records.contract_covering(uow, agb, policy.sector, policy.contract_year)
    return str(row.id) if row is not None else None


@dataclass
class _Facts:
    """What an intake is decided on: the mail as read, the format, and what eligibility said."""

    parsed: ParsedMail
    fmt: FollowFormat | None
    problems: list[Problem]
    agb: str | None
    policy: Policy | None
    known: Known | None = None
    evaluation: Evaluation | None = None

    @property
    def contacts(self) -> tuple[str, ...]:
        return self.known.register.contact_emails if self.known else ()

    def reply_to(self) -> str | None:
        """An address on file: the format's contact when it is one, else the sender when it is one."""
        contact = self.fmt.contact_email if self.fmt else None
        if contact is None and self.parsed.form is not None:  # a format with problems: its contact as written
            contact = str(self.parsed.form.values.get("contact_email") or "").strip() or None
        return reply_address(contact, self.parsed.envelope.sender, self.contacts)


def _read_format(parsed: ParsedMail, settings: ContractingSettings) -> _Facts:
    problems = list(parsed.problems)
    fmt: FollowFormat | None = None
    if parsed.form is not None:
        fmt, format_problems = check_format(parsed.form, policies(), settings.OWN_UZOVI, clock.today())
        problems += format_problems
    agb, policy = _identify(parsed.form)
    return _Facts(parsed, fmt, problems, agb, policy)


async def _ask_eligibility(facts: _Facts, settings: ContractingSettings, eligibility: EligibilityClient) -> None:
    """The register (contact addresses), then, for a trusted sender only, an evaluation under the policy.

    A sender that is not on file gets nothing evaluated: an e-mail anyone can send must not make
    the insurer evaluate (and record) any provider it names.
    """
    if facts.agb is None:
        return
    register = await eligibility.register(facts.agb)
    if register is None:
        return
    envelope = facts.parsed.envelope
    sender = check_sender(envelope.sender, register.contact_emails, envelope.auth_results, settings.MAIL_AUTHSERV_ID)
    facts.known = Known(register, sender)
    if sender.trusted and facts.policy is not None:
        facts.evaluation = await eligibility.evaluation(facts.agb, facts.policy.id)


async def process(
    uow: UnitOfWork,
    intake_id: str,
    settings: ContractingSettings,
    eligibility: EligibilityClient,
    reader: MailReader,
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
    facts = _read_format(await reader.read(row.raw), settings)
    try:
        await _ask_eligibility(facts, settings, eligibility)
    except EligibilityUnavailable as exc:
        return await _wait(uow, row, settings, str(exc), facts)
    existing = await _signed_contract(uow, facts.agb, facts.policy) if facts.agb and facts.policy else None
    decision = decide(
        facts.fmt, facts.problems, facts.agb, facts.known, facts.evaluation, facts.policy, existing, clock.today()
    )
    procurement_id, contract_id = await _act(uow, decision, facts, intake_id)
    reply = _reply(decision, facts, row, contract_id, change_request=existing is not None)
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == intake_id)
        .values(
            status=decision.status,
            problems=[{"field": p.field, "message": p.message} for p in decision.problems],
            review_reasons=decision.review_reasons,
            format=_format_record(facts.parsed.form),
            evaluation=facts.evaluation.record() if facts.evaluation else None,
            sender_verified=facts.known.sender.trusted if facts.known else None,
            agb=facts.agb,
            policy_id=facts.policy.id if facts.policy else None,
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


async def _act(uow: UnitOfWork, decision: Decision, facts: _Facts, intake_id: str) -> tuple[str | None, str | None]:
    """The procurement the decision keeps open or closes, and the contract when the format is followed."""
    procurement_id: str | None = None
    agb, policy = facts.agb, facts.policy
    if agb is not None and policy is not None and decision.procurement == "open":
        procurement_id = await records.open_procurement(uow, agb, policy.id, FOLLOW_FORMAT)
        if procurement_id is None:
            procurement_id = await records.start_procurement(uow, agb, policy, "follow", FOLLOW_FORMAT)
    elif agb is not None and policy is not None and decision.procurement == "close":
        procurement_id = await records.open_procurement(uow, agb, policy.id, FOLLOW_FORMAT)
        if procurement_id is not None:
            await records.close_procurement(uow, procurement_id, "follow format rejected")
    contract_id = None
    if decision.status == "accepted":
        assert facts.fmt is not None and policy is not None
        contract_id = await follow(uow, facts.fmt, policy, intake_id, procurement_id, actor="follow-format")
    return procurement_id, contract_id


def _reply(
    decision: Decision, facts: _Facts, row: Any, contract_id: str | None, *, change_request: bool
) -> replies.Reply | None:
    """Only a trusted sender of a known provider is answered, and only at an address on file."""
    to = facts.reply_to() if decision.reply else None
    if to is None:
        return None
    derived = bool(row.message_id_derived)
    if decision.status == "accepted":
        assert facts.fmt is not None and contract_id is not None
        return replies.followed(to, row.subject, facts.fmt, contract_id, row.id, derived)
    if decision.status == "rejected":
        return replies.rejected(to, row.subject, decision.problems, row.id, derived)
    return replies.in_review(to, row.subject, row.id, derived, change_request=change_request)


async def _wait(uow: UnitOfWork, row: Any, settings: ContractingSettings, error: str, facts: _Facts) -> str:
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
            agb=facts.agb,
            policy_id=facts.policy.id if facts.policy else None,
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
        source=FOLLOW_FORMAT,
        source_id=intake_id,
        procurement_id=procurement_id,
        actor=actor,
    )
    await records.sign_contract(uow, contract_id, fmt.signatory, clock.today(), actor)
    return contract_id


async def mark_failed(uow: UnitOfWork, intake_id: str, error: str) -> None:
    """A bug, not an outage: a person looks at it rather than the loop retrying forever. The error
    stays in ``last_error`` (internal) and the log; the reason staff and replies see is fixed."""
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == intake_id, intakes.c.status == "received")
        .values(
            status="needs_review",
            review_reasons=["could not be processed automatically; the service log has the details of this intake"],
            decided_at=clock.utcnow(),
            next_attempt_at=None,
            last_error=error[:500],
        )
    )
    await uow.commit()


async def review(
    uow: UnitOfWork,
    intake_id: str,
    accept: bool,
    note: str | None,
    actor: str,
    settings: ContractingSettings,
    eligibility: EligibilityClient,
    reader: MailReader,
) -> Any:
    """A person's decision on an intake in `needs_review`.

    Accept re-checks eligibility today: a provider that is not eligible for any reason is rejected,
    never queued again; otherwise the format is followed (or, for a provider with a signed contract,
    becomes its new version). Reject closes the format's procurement. Replies go only to an address
    on file; a rejected intake whose sender was not on file is not answered (the provider never
    sent it).
    """
    row = (await uow.session.execute(records.for_update(select(intakes).where(intakes.c.id == intake_id), uow))).first()
    if row is None:
        raise records.NotFoundError(f"no follow-format intake {intake_id}")
    if row.status != "needs_review":
        raise Refused(f"the intake is {row.status}: only one in needs_review can be reviewed")
    facts = _read_format(await reader.read(row.raw), settings)
    if accept and facts.fmt is None:
        raise Refused("the format has problems and cannot be followed: " + "; ".join(p.message for p in facts.problems))
    register = await eligibility.register(facts.agb) if facts.agb else None
    if register is not None:
        envelope = facts.parsed.envelope
        sender = check_sender(
            envelope.sender, register.contact_emails, envelope.auth_results, settings.MAIL_AUTHSERV_ID
        )
        facts.known = Known(register, sender)
    if accept:
        status, problems, contract_id, reply = await _accept_on_review(uow, facts, row, actor, eligibility)
    else:
        status, problems, contract_id = "rejected", list(row.problems), None
        reply = await _reject_on_review(uow, facts, row, note)
    await uow.session.execute(
        update(intakes)
        .where(intakes.c.id == intake_id)
        .values(
            status=status,
            problems=problems,
            evaluation=facts.evaluation.record() if facts.evaluation else row.evaluation,
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


async def _reject_on_review(uow: UnitOfWork, facts: _Facts, row: Any, note: str | None) -> replies.Reply | None:
    """The format's procurement closes; a sender that was verified is told, with the note."""
    if row.procurement_id:
        await records.close_procurement(uow, row.procurement_id, note or "rejected on review")
    answered = facts.reply_to() if row.sender_verified else None
    return replies.review_rejected(answered, row.subject, note, row.id) if answered else None


async def _accept_on_review(
    uow: UnitOfWork, facts: _Facts, row: Any, actor: str, eligibility: EligibilityClient
) -> tuple[str, list[dict[str, str]], str | None, replies.Reply | None]:
    """Eligible today: followed (a new contract, or a new version of the signed one). Not: rejected."""
    fmt = facts.fmt
    assert fmt is not None
    policy = policies()[fmt.policy_id]
    to = facts.reply_to()
    evaluation = await eligibility.evaluation(fmt.agb, policy.id) if facts.known else None
    facts.evaluation = evaluation
    if evaluation is None:
        problems = [Problem(LABEL["agb"], "staat niet in het register van zorgaanbieders")]
    else:
        problems = eligibility_problems(evaluation, policy, "follow")
    if problems:
        if open_id := row.procurement_id or await records.open_procurement(uow, fmt.agb, policy.id, FOLLOW_FORMAT):
            await records.close_procurement(uow, open_id, "not eligible on review")
        reply = replies.rejected(to, row.subject, problems, row.id, row.message_id_derived) if to else None
        return "rejected", [{"field": p.field, "message": p.message} for p in problems], None, reply
    existing = await _signed_contract(uow, fmt.agb, policy)
    tariffs = [(t.prestation_code, t.amount_cents) for t in fmt.tariffs]
    if existing:
        await records.amend_contract(uow, existing, tariffs, fmt.end_date, fmt.signatory, actor)
        contract_id = existing
    else:
        procurement_id = row.procurement_id or await records.open_procurement(uow, fmt.agb, policy.id, FOLLOW_FORMAT)
        if procurement_id is None:
            procurement_id = await records.start_procurement(uow, fmt.agb, policy, "follow", FOLLOW_FORMAT)
        contract_id = await follow(uow, fmt, policy, row.id, procurement_id, actor)
    reply = replies.followed(to, row.subject, fmt, contract_id, row.id, row.message_id_derived) if to else None
    return "accepted", [], contract_id, reply
