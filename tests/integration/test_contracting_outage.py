"""The eligibility service as a real process, down then up: the intake waits (across a restart) and completes.

Also: in production the replies go out by SMTP to the configured relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import Kafka, eventually
from tests.integration.test_contracting_harness import MAIL, Contracting, contracting_settings, listening
from tests.support import running_app
from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.migrations import upgrade
from zorg_common.settings import ServiceSettings
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_eligibility.entrypoints.demo import load_demo
from zorg_eligibility.service import SPEC as ELIGIBILITY

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def eligibility_process(url: str, kafka: Kafka, prefix: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        ELIGIBILITY_DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
        LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "zorg_common.cli", "serve", "eligibility", "--port", str(port), "--no-workers"], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, "eligibility exited at start"
            time.sleep(0.2)
        else:
            raise AssertionError("eligibility did not start")
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


async def _register_demo(port: int) -> None:
    settings = ServiceSettings(_env_file=None)  # type: ignore[call-arg]

    def token(*scopes: str, agb: str | None = None) -> str:
        return issue_token(settings, scopes, agb=agb, subject="test")

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        await load_demo(client, token)


async def test_eligibility_down_then_up_the_intake_waits_survives_a_restart_and_completes(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    eligibility_url, contracting_url = make_pg_url(), make_pg_url()
    upgrade(ELIGIBILITY.migrations, eligibility_url)
    upgrade(CONTRACTING.migrations, contracting_url)
    port = free_port()
    with eligibility_process(eligibility_url, kafka, topic_prefix, port):
        await _register_demo(port)
    # eligibility is down now
    settings = contracting_settings(
        contracting_url,
        kafka,
        topic_prefix,
        ELIGIBILITY_URL=f"http://127.0.0.1:{port}",
        ELIGIBILITY_TIMEOUT_S=2.0,
        ELIGIBILITY_RETRIES=1,
    )
    async with running_app(CONTRACTING, settings) as client:
        c = Contracting(client, client, settings, kafka)
        posted = await c.post_mail((MAIL / "good_xlsx.eml").read_bytes())
        assert posted["status"] == "received"
        waiting = await c.intake(posted["intake_id"])
        assert waiting["status"] == "received" and waiting["attempts"] >= 1 and waiting["waiting_for"]
        assert waiting["reply"] is None and waiting["problems"] == []
        await eventually(lambda: _attempts_at_least(c, posted["intake_id"], 2), timeout=30)  # the loop retries
    # contracting restarts while eligibility is still down: the intake is still there, waiting
    async with running_app(CONTRACTING, settings) as client:
        c = Contracting(client, client, settings, kafka)
        assert (await c.intake(posted["intake_id"]))["status"] == "received"
        with eligibility_process(eligibility_url, kafka, topic_prefix, port):

            async def decided() -> Any:
                intake = await c.intake(posted["intake_id"])
                return intake if intake["status"] != "received" else None

            done = await eventually(decided, timeout=60, interval=0.5)
            assert done["status"] == "accepted" and done["contract_id"] and done["reply"]
            events = await c.events(2)
            assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]  # started once, signed once


async def _attempts_at_least(c: Contracting, intake_id: str, n: int) -> bool:
    intake = await c.intake(intake_id)
    return bool(intake["attempts"] >= n and intake["status"] == "received")


class _Relay:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 OK"


async def test_in_production_replies_go_out_to_the_relay(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    relay = _Relay()
    relay_port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=relay_port)
    controller.start()
    try:
        eligibility_url, contracting_url = make_pg_url(), make_pg_url()
        upgrade(ELIGIBILITY.migrations, eligibility_url)
        upgrade(CONTRACTING.migrations, contracting_url)
        port = free_port()
        secret = "x" * 40
        monkeypatch.setenv("ZORG_JWT_SECRET", secret)  # the eligibility process must accept our tokens
        settings = contracting_settings(
            contracting_url,
            kafka,
            topic_prefix,
            ZORG_ENV="production",
            ZORG_JWT_SECRET=secret,
            ELIGIBILITY_URL=f"http://127.0.0.1:{port}",
            REPLY_SMTP_HOST="127.0.0.1",
            REPLY_SMTP_PORT=relay_port,
        )
        with eligibility_process(eligibility_url, kafka, topic_prefix, port):
            await _register_demo_with(port, secret)
            async with running_app(CONTRACTING, settings) as client:
                c = Contracting(client, client, settings, kafka)
                posted = await c.post_mail((MAIL / "not_eligible.eml").read_bytes())

                async def sent() -> Any:
                    intake = await c.intake(posted["intake_id"])
                    return intake if intake["reply"] and intake["reply"]["sent_at"] else None

                intake = await eventually(sent, timeout=30)
        assert len(relay.messages) == 1
        reply = message_from_bytes(relay.messages[0], policy=email_policy.default)
        assert reply["To"] == "contracten@beweeg6.example"  # the sender, on file (the format's contact is not)
        assert reply["In-Reply-To"] == "<noteligible@fixtures.zorginkoop.example>"
        text = reply.get_body().get_content()  # type: ignore[union-attr]
        assert "NOT_IN_FRAUD_REGISTERS" not in text and "voldoet niet aan de voorwaarden" in text
        assert intake["status"] == "rejected"
    finally:
        controller.stop()


async def _register_demo_with(port: int, secret: str) -> None:
    settings = ServiceSettings(_env_file=None, ZORG_JWT_SECRET=secret)  # type: ignore[call-arg]

    def token(*scopes: str, agb: str | None = None) -> str:
        return issue_token(settings, scopes, agb=agb, subject="test")

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        await load_demo(client, token)
    await asyncio.sleep(0)


async def test_an_e_mail_over_the_size_limit_is_refused_at_the_smtp_door_and_the_listener_goes_on(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    settings = contracting_settings(url, kafka, topic_prefix, MAIL_MAX_BYTES=5_000)
    async with running_app(CONTRACTING, settings) as client:
        c = Contracting(client, client, settings, kafka)
        await eventually(lambda: listening(settings.SMTP_PORT), timeout=30)  # the worker starts the listener

        def send() -> tuple[int, bool]:
            with smtplib.SMTP("127.0.0.1", settings.SMTP_PORT, timeout=30) as smtp:
                try:
                    smtp.sendmail(
                        "a@zorggroep.example", ["b@zorginkoop.example"], b"Subject: x\r\n\r\n" + b"y" * 10_000
                    )
                    code = 250
                except smtplib.SMTPResponseException as exc:
                    code = exc.smtp_code
            with smtplib.SMTP("127.0.0.1", settings.SMTP_PORT, timeout=30) as smtp:
                smtp.sendmail("a@zorggroep.example", ["b@zorginkoop.example"], (MAIL / "garbage_body.eml").read_bytes())
            return code, True

        code, _ = await asyncio.to_thread(send)
        assert code == 552

        async def one_rejected() -> Any:
            items = (await client.get("/follow-formats", headers=c.staff)).json()["items"]
            return items if len(items) == 1 and items[0]["status"] == "rejected" else None

        await eventually(one_rejected, timeout=30)
