"""The mail door cannot be stalled: the largest allowed e-mails are read off the event loop, and every count a
sender controls at the SMTP door is bounded."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import Kafka, eventually
from tests.fixtures.mail.make_fixtures import huge_sheet_xlsx, many_parts_mail
from tests.integration.test_contracting_harness import Contracting, contracting_settings, listening
from tests.support import running_app
from zorg_common.migrations import upgrade
from zorg_contracting.entrypoints.samples import XLSX, mail
from zorg_contracting.service import SPEC as CONTRACTING

pytestmark = pytest.mark.integration


@pytest.fixture
async def door(make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str) -> AsyncIterator[Contracting]:
    """Contracting with its default limits (no provider is asked about: these e-mails name none)."""
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    settings = contracting_settings(url, kafka, topic_prefix, ATTACHMENT_MAX_BYTES=2_000_000, SMTP_MAX_CONNECTIONS=3)
    async with running_app(CONTRACTING, settings) as client:
        await eventually(lambda: listening(settings.SMTP_PORT), timeout=30)
        yield Contracting(client, client, settings, kafka)


async def test_healthz_answers_within_100_ms_while_the_largest_mails_are_read(door: Contracting) -> None:
    c = door
    parts = many_parts_mail(100_000, part_bytes=200)  # 100,000 MIME parts, just under MAIL_MAX_BYTES
    assert 20_000_000 < len(parts) <= c.settings.MAIL_MAX_BYTES
    sheet = mail(attachments=[("volgformat.xlsx", XLSX, huge_sheet_xlsx(1_000_000))])  # a million cells
    await c.client.get("/healthz")  # warm: the first request builds what every later one reuses
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            answer = await c.client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200
            await asyncio.sleep(0.02)

    async def post_both() -> list[dict[str, Any]]:
        try:
            return list(await asyncio.gather(c.post_mail(parts), c.post_mail(sheet)))
        finally:
            done.set()

    prober = asyncio.create_task(probe())
    posted = await post_both()
    await prober
    assert len(latencies) >= 5, latencies
    assert max(latencies) < 0.1, sorted(latencies)[-5:]
    many, big = [await c.intake(p["intake_id"]) for p in posted]
    assert many["status"] == "rejected" and many["problems"] == [
        {"field": "e-mail", "message": "bestaat uit meer dan 100 delen; stuur een e-mail met alleen het volgformat"}
    ]
    assert big["status"] == "rejected" and big["problems"] == [
        {"field": "bijlage volgformat.xlsx", "message": "heeft meer dan 5000 cellen"}
    ]


def _talk(port: int, *commands: str) -> list[tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("tester.example")
        return [smtp.docmd(command) for command in commands]


async def test_the_smtp_door_bounds_recipients_lines_and_sessions(door: Contracting) -> None:
    port = door.settings.SMTP_PORT
    recipients = [f"RCPT TO:<r{n}@zorginkoop.example>" for n in range(11)]
    answers = await asyncio.to_thread(_talk, port, "MAIL FROM:<a@zorggroep.example>", *recipients)
    assert [code for code, _ in answers[1:11]] == [250] * 10 and answers[11][0] == 452

    def long_line() -> int:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            try:
                smtp.sendmail("a@zorggroep.example", ["b@zorginkoop.example"], b"Subject: x\r\n\r\n" + b"y" * 20_000)
            except smtplib.SMTPResponseException as exc:
                return exc.smtp_code
            return 250

    assert await asyncio.to_thread(long_line) == 500

    def sessions() -> tuple[list[int], int]:
        held = [smtplib.SMTP("127.0.0.1", port, timeout=30) for _ in range(3)]
        try:
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=30)
                turned_away = 220
            except smtplib.SMTPConnectError as exc:
                turned_away = exc.smtp_code
            return [s.noop()[0] for s in held], turned_away
        finally:
            for s in held:
                s.quit()

    open_ones, turned_away = await asyncio.to_thread(sessions)
    assert open_ones == [250, 250, 250] and turned_away == 421

    async def free_again() -> bool:
        answers = await asyncio.to_thread(_talk, port, "NOOP")
        return answers == [(250, b"OK")]

    assert await eventually(free_again, timeout=10)  # the slots are given back


async def test_a_stuck_read_is_stopped_and_answered_with_a_problem(door: Contracting) -> None:
    """The reader's time limit: a read that takes too long gets its worker stopped, the intake a problem."""
    reader = door.pipeline.reader
    reader.timeout_s = 0.001  # nothing is read this fast, so every read times out
    try:
        posted = await door.post_mail(mail(body="AGB-code: 40000001\n"))
    finally:
        reader.timeout_s = door.settings.MAIL_READ_TIMEOUT_S
    intake = await door.intake(posted["intake_id"])
    assert intake["status"] == "rejected" and intake["problems"][0]["field"] == "e-mail"
    assert "duurde langer dan" in intake["problems"][0]["message"]
    again = await door.post_mail(mail(body="Hallo\n"))  # a new pool takes the next e-mail
    assert (await door.intake(again["intake_id"]))["problems"][0]["message"].startswith("geen volgformat gevonden")
