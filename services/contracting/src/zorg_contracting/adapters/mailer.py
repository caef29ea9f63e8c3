"""Sending replies by SMTP to the configured relay (the shared mailer of zorg_common)."""

from __future__ import annotations

from email.message import EmailMessage

from zorg_common import mail

from ..settings import ContractingSettings


def build_reply(
    settings: ContractingSettings, to: str, subject: str, body: str, in_reply_to: str | None
) -> EmailMessage:
    return mail.build_message(settings.REPLY_FROM, to, subject, body, in_reply_to)


async def send(settings: ContractingSettings, message: EmailMessage) -> None:
    if not settings.REPLY_SMTP_HOST:
        raise RuntimeError("REPLY_SMTP_HOST is not set")
    await mail.send(settings.REPLY_SMTP_HOST, settings.REPLY_SMTP_PORT, message)
