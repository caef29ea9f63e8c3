"""The contracts mailbox's SMTP listener (aiosmtpd) on the service's own event loop, with bounded sessions.

A door like the HTTP API: every count a client controls is bounded. Sessions at once (421 beyond,
the sender retries later), recipients per message (452), the length of a line (500), the size of
a message (552), and idle time (the session is closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

#: Stores a raw message durably and returns its intake id.
Receive = Callable[[bytes], Awaitable[str]]
#: Seconds a session may sit idle before it is closed (a client that opens and waits holds a slot).
IDLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SmtpLimits:
    max_bytes: int
    max_connections: int
    max_recipients: int
    max_line_length: int


class _Sessions:
    def __init__(self) -> None:
        self.open = 0


class MailboxSMTP(SMTP):
    """Lines up to ``max_line_length`` are taken (broken clients send long base64 lines); sessions are counted."""

    def __init__(self, *args: Any, sessions: _Sessions, limits: SmtpLimits, **kw: Any) -> None:
        self.line_length_limit = limits.max_line_length  # also the stream's buffer limit (set before super)
        super().__init__(*args, **kw)
        self._sessions = sessions
        self._limits = limits
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._sessions.open >= self._limits.max_connections and not self._counted:
            log.warning("SMTP: %d sessions open, a new one is turned away", self._sessions.open)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        if not self._counted:
            self._counted = True
            self._sessions.open += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._sessions.open -= 1
        if self.session is not None:
            super().connection_lost(error)


class FollowFormatHandler:
    """DATA is answered 250 only once the raw message is stored; a failure is 451, so the sender retries."""

    def __init__(self, receive: Receive, max_recipients: int) -> None:
        self.receive = receive
        self.max_recipients = max_recipients

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return f"452 4.5.3 Too many recipients (at most {self.max_recipients})"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

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


async def start_listener(host: str, port: int, receive: Receive, limits: SmtpLimits) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    handler = FollowFormatHandler(receive, limits.max_recipients)
    sessions = _Sessions()

    def factory() -> Any:
        return MailboxSMTP(
            handler,
            sessions=sessions,
            limits=limits,
            data_size_limit=limits.max_bytes,
            decode_data=False,
            hostname="contracting",
            ident="Zorginkoop",
            timeout=IDLE_TIMEOUT_S,
        )

    return await loop.create_server(factory, host=host, port=port)
