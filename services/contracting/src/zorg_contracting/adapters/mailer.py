"""Sending replies by SMTP to the configured relay (smtplib on a worker thread)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from ..settings import ContractingSettings


def build_reply(
    settings: ContractingSettings, to: str, subject: str, body: str, in_reply_to: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.REPLY_FROM
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


async def send(settings: ContractingSettings, message: EmailMessage) -> None:
    if not settings.REPLY_SMTP_HOST:
        raise RuntimeError("REPLY_SMTP_HOST is not set")
    await asyncio.to_thread(_send, settings.REPLY_SMTP_HOST, settings.REPLY_SMTP_PORT, message)
