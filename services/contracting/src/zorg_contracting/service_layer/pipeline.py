"""One intake pipeline behind both doors (HTTP and SMTP), and its worker: retries with backoff, replies out."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opentelemetry.trace import SpanKind
from sqlalchemy import or_, select, update

from zorg_common import clock, tracing
from zorg_common.service import Runtime
from zorg_common.uow import UnitOfWork

from ..adapters import mailer
from ..adapters.eligibility import EligibilityClient
from ..adapters.mailbox import MailLimits
from ..adapters.orm import intakes
from ..adapters.reading import MailReader
from ..adapters.smtp_listener import SmtpLimits
from ..adapters.spreadsheet import SheetLimits
from ..settings import ContractingSettings
from . import intake

log = logging.getLogger(__name__)

#: The SMTP door is where a mail's trace begins; over HTTP the request's span is already there.
_ARRIVAL = {"smtp": SpanKind.SERVER, "http": SpanKind.INTERNAL}


def mail_limits(settings: ContractingSettings) -> MailLimits:
    return MailLimits(
        attachment_max_bytes=settings.ATTACHMENT_MAX_BYTES,
        max_parts=settings.MAIL_MAX_PARTS,
        max_attachments=settings.MAIL_MAX_ATTACHMENTS,
        sheet=SheetLimits(max_rows=settings.FORMAT_MAX_ROWS, max_cells=settings.FORMAT_MAX_CELLS),
    )


def smtp_limits(settings: ContractingSettings) -> SmtpLimits:
    return SmtpLimits(
        max_bytes=settings.MAIL_MAX_BYTES,
        max_connections=settings.SMTP_MAX_CONNECTIONS,
        max_recipients=settings.SMTP_MAX_RECIPIENTS,
        max_line_length=settings.SMTP_MAX_LINE_LENGTH,
    )


class Pipeline:
    """Store first (the raw message is never lost), then decide; what waits is picked up by ``run``."""

    def __init__(self, runtime: Runtime, settings: ContractingSettings, eligibility: EligibilityClient) -> None:
        self.runtime = runtime
        self.settings = settings
        self.eligibility = eligibility
        self.reader = MailReader(mail_limits(settings), settings.MAIL_READ_WORKERS, settings.MAIL_READ_TIMEOUT_S)
        self.wake = asyncio.Event()
        self._in_flight: set[str] = set()
        self._slots = asyncio.Semaphore(settings.INTAKE_CONCURRENCY)

    @property
    def sends_replies(self) -> bool:
        return self.settings.ZORG_ENV == "production" and bool(self.settings.REPLY_SMTP_HOST)

    async def receive(self, raw: bytes, channel: str) -> intake.Stored:
        # The mail's trace starts here (SMTP) or in its request (HTTP); the intake keeps it for the decision.
        with tracing.span(
            "follow-format receive", kind=_ARRIVAL.get(channel, SpanKind.INTERNAL), **{"zorg.intake.channel": channel}
        ):
            async with self.runtime.uow() as uow:
                stored = await intake.store(uow, raw, channel)
        return stored

    async def process(self, intake_id: str) -> str | None:
        """Decide one intake unless this process is at it already; never raises."""
        if intake_id in self._in_flight:
            return None
        self._in_flight.add(intake_id)
        try:
            async with self._slots, self.runtime.uow() as uow:
                trace = await self._trace_of(uow, intake_id)
                with tracing.resumed("follow-format decide", trace, **{"zorg.intake.id": intake_id}):
                    return await intake.process(uow, intake_id, self.settings, self.eligibility, self.reader)
        except Exception as exc:
            log.exception("intake %s could not be processed", intake_id)
            with contextlib.suppress(Exception):
                async with self.runtime.uow() as uow:
                    await intake.mark_failed(uow, intake_id, f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self._in_flight.discard(intake_id)
            if self.sends_replies:
                self.wake.set()

    async def close(self) -> None:
        self.reader.close()
        await self.eligibility.close()

    @staticmethod
    async def _trace_of(uow: UnitOfWork, intake_id: str) -> str | None:
        """The trace the intake's mail arrived in (read only while tracing is on)."""
        if not tracing.enabled():
            return None
        found = await uow.session.scalar(select(intakes.c.traceparent).where(intakes.c.id == intake_id))
        return str(found) if found else None

    async def due(self, limit: int = 200) -> list[str]:
        now = clock.utcnow()
        async with self.runtime.uow() as uow:
            rows = await uow.session.execute(
                select(intakes.c.id)
                .where(
                    intakes.c.status == "received",
                    or_(intakes.c.next_attempt_at.is_(None), intakes.c.next_attempt_at <= now),
                )
                .order_by(intakes.c.received_at)
                .limit(limit)
            )
            return [r.id for r in rows if r.id not in self._in_flight]

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Work through intakes still `received` (new ones, ones waiting for eligibility, ones left by a restart)."""
        tasks: set[asyncio.Task[str | None]] = set()
        while not stop.is_set():
            try:
                for intake_id in await self.due():
                    task = asyncio.create_task(self.process(intake_id))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if self.sends_replies:
                    await self.send_replies()
            except Exception as exc:  # the database may be away for a moment; the loop carries on
                log.warning("intake worker: %s", exc)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), poll_s)
        for task in list(tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)

    async def send_replies(self, limit: int = 50) -> int:
        """Production: send the replies not sent yet to the relay; a failure is kept and tried again."""
        async with self.runtime.uow() as uow:
            rows = (
                await uow.session.execute(
                    select(
                        intakes.c.id,
                        intakes.c.reply_to,
                        intakes.c.reply_subject,
                        intakes.c.reply_body,
                        intakes.c.message_id,
                    )
                    .where(
                        intakes.c.reply_to.is_not(None),
                        intakes.c.reply_sent_at.is_(None),
                        intakes.c.status != "received",
                    )
                    .limit(limit)
                )
            ).all()
        sent = 0
        for row in rows:
            message = mailer.build_reply(self.settings, row.reply_to, row.reply_subject, row.reply_body, row.message_id)
            try:
                await mailer.send(self.settings, message)
            except Exception as exc:
                log.warning("reply for intake %s not sent: %s", row.id, exc)
                async with self.runtime.uow() as uow:
                    await uow.session.execute(
                        update(intakes).where(intakes.c.id == row.id).values(reply_error=str(exc)[:500])
                    )
                    await uow.commit()
                continue
            async with self.runtime.uow() as uow:
                await uow.session.execute(
                    update(intakes).where(intakes.c.id == row.id).values(reply_sent_at=clock.utcnow(), reply_error=None)
                )
                await uow.commit()
            sent += 1
        return sent
