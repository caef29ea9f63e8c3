"""Outgoing e-mail through the configured SMTP relay (smtplib on a worker thread)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid


def build_message(sender: str, to: str, subject: str, body: str, in_reply_to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="zorginkoop.example")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    return message


def _send(host: str, port: int, message: EmailMessage) -> None:
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.send_message(message)


async def send(host: str | None, port: int, message: EmailMessage) -> None:
    """Hand ``message`` to the relay at ``host:port``; without a host there is nowhere to send it."""
    if not host:
        raise RuntimeError("no SMTP relay is configured")
    await asyncio.to_thread(_send, host, port, message)
