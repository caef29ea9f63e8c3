"""Mail to portal account holders: queued in the transaction that caused it, sent by a worker.

With ``REPLY_SMTP_HOST`` set, the worker hands each message to the relay and then empties its
body (a reset code does not stay in the database). Without it nothing is sent: the message is
kept in ``portal_mail``, where staff (``GET /portal/mail``, admin) and tests read it. A code is
never written to a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common import clock, mail
from zorg_common.db import is_transient
from zorg_common.service import Runtime

from ..adapters.orm import portal_mail
from ..settings import EligibilitySettings

log = logging.getLogger(__name__)

POLL_S = 1.0
BATCH = 20
MAX_BACKOFF = dt.timedelta(minutes=30)


async def queue_mail(session: AsyncSession, account_id: str, to: str, subject: str, body: str, purpose: str) -> None:
    now = clock.utcnow()
    await session.execute(
        insert(portal_mail).values(
            id=str(uuid.uuid4()),
            account_id=account_id,
            to_address=to,
            subject=subject,
            body=body,
            purpose=purpose,
            created_at=now,
            sent_at=None,
            attempts=0,
            next_attempt_at=now,
        )
    )


async def mail_to(session: AsyncSession, address: str, limit: int) -> list[Any]:
    """The newest messages to ``address``, for staff and tests (a sent one has an empty body)."""
    query = (
        select(portal_mail)
        .where(portal_mail.c.to_address == address)
        .order_by(portal_mail.c.created_at.desc())
        .limit(limit)
    )
    return list(await session.execute(query))


async def send_due(runtime: Runtime) -> int:
    """Send the messages that are due, a batch at a time; returns how many went out."""
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    async with runtime.uow() as uow:
        session = uow.session
        now = clock.utcnow()
        query = (
            select(portal_mail)
            .where(portal_mail.c.sent_at.is_(None), portal_mail.c.next_attempt_at <= now)
            .order_by(portal_mail.c.next_attempt_at)
            .limit(BATCH)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # several API processes may run the worker
        sent = 0
        for row in (await session.execute(query)).all():
            message = mail.build_message(settings.PORTAL_MAIL_FROM, row.to_address, row.subject, row.body)
            try:
                await mail.send(settings.REPLY_SMTP_HOST, settings.REPLY_SMTP_PORT, message)
            except Exception as exc:
                wait = min(MAX_BACKOFF, dt.timedelta(seconds=5 * 2**row.attempts))
                values = {"attempts": row.attempts + 1, "next_attempt_at": now + wait, "last_error": str(exc)[:500]}
                log.warning("portal mail %s not sent (try %d): %s", row.id, row.attempts + 1, type(exc).__name__)
            else:
                values = {"attempts": row.attempts + 1, "sent_at": clock.utcnow(), "body": "", "last_error": None}
                sent += 1
            await session.execute(update(portal_mail).where(portal_mail.c.id == row.id).values(**values))
        await uow.commit()
        return sent


async def mail_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """Runs with the service's workers; does nothing without a relay (the mail is kept)."""
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    if not settings.REPLY_SMTP_HOST:
        log.info("portal mail is kept, not sent: REPLY_SMTP_HOST is not set")
        # Idle until stopped: a worker loop that returns is a failed one to its supervisor (and /readyz).
        await stop.wait()
        return
    while not stop.is_set():
        try:
            if await send_due(runtime) == BATCH:
                continue  # more may be due
        except Exception as exc:
            if not is_transient(exc):
                log.exception("portal mail worker")
            else:
                log.warning("portal mail worker: database unavailable: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_S)
