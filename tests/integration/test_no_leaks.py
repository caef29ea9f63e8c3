"""Nothing leaked: SQL parameters never reach a log or an error, and no exception text reaches a field a
client can read (the detail stays in the log and in internal columns)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import Kafka, eventually
from tests.integration.test_contracting_harness import MAIL, contracting_settings
from tests.support import running_app
from zorg_common.app import UowDep
from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.db import create_engine, describe_error
from zorg_common.migrations import upgrade
from zorg_contracting.entrypoints.follow_formats import WAITING_FOR_ELIGIBILITY
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.service_layer import intake as intake_module
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BSN = "999999990"


async def test_sql_parameters_never_reach_a_log_or_an_error(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine(pg_url, echo=True)  # DATABASE_ECHO=true: every statement is logged
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT :bsn || 'x'"), {"bsn": BSN})
            await conn.execute(text("CREATE TEMP TABLE person (bsn text PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO person VALUES (:bsn)"), {"bsn": BSN})
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("INSERT INTO person VALUES (:bsn)"), {"bsn": BSN})
    finally:
        await engine.dispose()
    assert "parameters hidden" in str(caught.value)
    assert BSN not in str(caught.value).split("DETAIL")[0]  # SQLAlchemy's own text
    assert BSN not in describe_error(caught.value)  # what logs and dead letters carry (no DETAIL)
    assert "unique constraint" in describe_error(caught.value)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "INSERT INTO person" in logged and BSN not in logged


def test_every_engine_is_made_by_create_engine() -> None:
    """``zorg_common.db.create_engine`` hides the parameters; nothing builds an engine past it."""
    sources = [*ROOT.glob("libs/common/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources
        if path.name != "db.py"
        and re.search(r"from sqlalchemy[.\w]* import[^\n]*create_(async_)?engine", path.read_text())
    ]
    assert offenders == []


async def test_a_waiting_or_failed_intake_shows_clients_a_fixed_text(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    away = free_port()  # nothing listens: every call to eligibility fails with a connection error
    settings = contracting_settings(
        url, kafka, topic_prefix, ELIGIBILITY_URL=f"http://127.0.0.1:{away}", ELIGIBILITY_RETRIES=0
    )
    staff = {"Authorization": f"Bearer {issue_token(settings, ['contracts:read', 'contracts:write'])}"}
    async with running_app(CONTRACTING, settings) as client:
        posted = await client.post(
            "/follow-formats",
            content=(MAIL / "good_xlsx.eml").read_bytes(),
            headers={**staff, "Content-Type": "message/rfc822"},
        )
        intake_id = posted.json()["intake_id"]
        waiting = await client.get(f"/follow-formats/{intake_id}", headers=staff)
        body = waiting.json()
        assert body["status"] == "received" and body["waiting_for"] == WAITING_FOR_ELIGIBILITY
        assert str(away) not in waiting.text and "ConnectError" not in waiting.text

        invited = await client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=staff)
        assert invited.status_code == 503
        assert str(away) not in invited.text and "ConnectError" not in invited.text

        async def broken(*_: Any, **__: Any) -> str:
            raise RuntimeError(f"SELECT bsn FROM claims WHERE bsn = '{BSN}' (/srv/zorg/intake.py)")

        monkeypatch.setattr(intake_module, "process", broken)
        second = await client.post(
            "/follow-formats",
            content=(MAIL / "good_csv_utf8.eml").read_bytes(),
            headers={**staff, "Content-Type": "message/rfc822"},
        )
        failed_id = second.json()["intake_id"]

        async def in_review() -> Any:
            answer = await client.get(f"/follow-formats/{failed_id}", headers=staff)
            return answer if answer.json()["status"] == "needs_review" else None

        failed = await eventually(in_review, timeout=30)
        assert failed.json()["review_reasons"] == [
            "could not be processed automatically; the service log has the details of this intake"
        ]
        for leak in (BSN, "SELECT", "/srv", "RuntimeError"):
            assert leak not in failed.text, leak


async def test_an_unexpected_database_error_is_logged_without_the_values_it_quotes(pg_url: str) -> None:
    """PostgreSQL's DETAIL quotes the row ("Key (bsn)=(...) already exists"): the 500's log line names
    the error and where it happened, not the values; the client gets a fixed problem."""
    router = APIRouter()

    @router.post("/twice")
    async def twice(uow: UowDep) -> None:
        await uow.session.execute(text("CREATE TEMP TABLE person (bsn text PRIMARY KEY)"))
        for _ in range(2):
            await uow.session.execute(text("INSERT INTO person VALUES (:bsn)"), {"bsn": BSN})

    upgrade(ELIGIBILITY.migrations, pg_url)
    settings = EligibilitySettings(_env_file=None, DATABASE_URL=pg_url, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")  # type: ignore[call-arg]
    spec = dataclasses.replace(ELIGIBILITY, routers=[router])
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    async with running_app(spec, settings, workers=False) as client:
        logging.getLogger("zorg_common.problems").addHandler(handler)  # after create_app set up logging
        try:
            response = await client.post("/twice")
        finally:
            logging.getLogger("zorg_common.problems").removeHandler(handler)
    assert response.status_code == 500 and BSN not in response.text
    (record,) = records
    logged = record.getMessage() + str(record.exc_info or "")
    assert "IntegrityError" in logged and "unique constraint" in logged and "in twice" in logged
    assert BSN not in logged and "DETAIL" not in logged
