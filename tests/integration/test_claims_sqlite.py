"""The claims service's bulk paths on SQLite, the embedded default of `make run` (PostgreSQL has its own)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from zorg_claims.adapters.orm import access_log, claim_volume, claims, decisions, eligibility, known_providers
from zorg_claims.adapters.repository import SqlClaimsUnit
from zorg_claims.domain.claim import ClaimLine
from zorg_claims.service import SPEC
from zorg_claims.service_layer.adjudicate import Review, adjudicate_claims
from zorg_claims.service_layer.intake import submit
from zorg_claims.settings import ClaimsSettings
from zorg_common.messaging import outbox
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime

pytestmark = pytest.mark.integration


def _line(reference: str, bsn: str, **changes: object) -> ClaimLine:
    raw = {
        "provider_reference": reference,
        "agb": "12345678",
        "bsn": bsn,
        "sector": "GLI",
        "prestation_code": "GLI-INTAKE",
        "service_date": "2023-02-01",
        "quantity": 1,
        "claimed_cents": 8193,  # the maximum tariff of GLI-INTAKE
        "programme": "Cool",
        "programme_start": "2023-01-15",
        **changes,
    }
    return ClaimLine.model_validate(raw)


async def test_intake_and_adjudication_in_bulk_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-06-01")
    url = f"sqlite:///{tmp_path}/claims.db"
    upgrade(SPEC.migrations, url)
    runtime = Runtime(SPEC, ClaimsSettings(_env_file=None, DATABASE_URL=url))
    try:
        async with runtime.uow() as uow:
            await uow.session.execute(
                insert(known_providers).values(agb="12345678", name="Coach", kind="individual", version=1)
            )
            await uow.session.execute(
                insert(eligibility).values(
                    agb="12345678",
                    policy_id="GLI-2023",
                    eligible=True,
                    route="follow",
                    evaluated_on=dt.date(2022, 9, 1),
                    evaluation_id="e-1",
                )
            )
            lines = [_line("S-1", "111222333"), _line("S-2", "111222333"), _line("S-3", "123456782")]
            taken = await submit(SqlClaimsUnit(uow), lines, dt.date(2023, 6, 1))
            await uow.commit()
        async with runtime.uow() as uow:
            made = await adjudicate_claims(SqlClaimsUnit(uow), taken.ids, Review(3.0, 50))
            await uow.commit()
        assert [(d.status, d.reasons, d.allowed_cents) for d in made] == [
            ("approved", (), 8193),
            ("rejected", ("DUPLICATE",), 0),  # the same person, prestation and date as S-1
            ("approved", (), 8193),
        ]
        async with runtime.engine.connect() as conn:
            stored = (await conn.execute(select(claims.c.id, claims.c.status, claims.c.decision_no))).all()
            recorded = (await conn.execute(select(decisions.c.claim_id, decisions.c.status))).all()
            volume = (await conn.execute(select(claim_volume.c.month, claim_volume.c.lines))).all()
            events = (await conn.execute(select(outbox.c.event_type))).scalars().all()
        assert {row.id: (row.status, row.decision_no) for row in stored} == {
            claim_id: (decision.status, 1) for claim_id, decision in zip(taken.ids, made, strict=True)
        }
        assert sorted(recorded) == sorted((claim_id, d.status) for claim_id, d in zip(taken.ids, made, strict=True))
        assert volume == [(dt.date(2023, 6, 1), 3)]
        assert sorted(events) == ["ClaimAdjudicated"] * 3 + ["ClaimSubmitted"] * 3
        # The access log is append-only on SQLite too (the embedded default of `make run`).
        async with runtime.engine.begin() as conn:
            await conn.execute(
                insert(access_log).values(
                    at=dt.datetime.now(dt.UTC),
                    actor="t",
                    actor_kind="staff",
                    via="claim",
                    claim_id=taken.ids[0],
                    agb="12345678",
                    bsn="111222333",
                )
            )
        for statement in (update(access_log).values(actor="x"), delete(access_log)):
            with pytest.raises(DBAPIError, match="append-only"):
                async with runtime.engine.begin() as conn:
                    await conn.execute(statement)
    finally:
        await runtime.close()
