"""The contracts mailbox's SMTP listener (aiosmtpd) on the service's own event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

#: Stores a raw message durably and returns its intake id.
Receive = Callable[[bytes], Awaitable[str]]


class MailboxSMTP(SMTP):
    """Long lines (unwrapped base64 from broken mail clients) are taken, not refused: the pipeline judges them."""

    line_length_limit = 100_000


class FollowFormatHandler:
    """DATA is answered 250 only once the raw message is stored; a failure is 451, so the sender retries."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        try:
            intake_id = await self.receive(raw)
        except Exception:
            log.exception("an e-mail could not be stored; the sender is asked to try again")
            return "451 4.3.0 Temporary failure; please try again later"
        return f"250 2.0.0 OK queued as {intake_id}"


async def start_listener(host: str, port: int, receive: Receive, max_bytes: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    handler = FollowFormatHandler(receive)

    def factory() -> Any:
        return MailboxSMTP(
            handler, data_size_limit=max_bytes, decode_data=False, hostname="contracting", ident="Zorginkoop"
        )

    return await loop.create_server(factory, host=host, port=port)
