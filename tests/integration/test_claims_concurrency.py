"""Two workers on one insured person's lines at two providers (two partitions): one programme run, one count."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import insert

from zorg_claims.adapters.orm import eligibility, known_providers
from zorg_claims.adapters.repository import SqlClaimsUnit
from zorg_claims.domain.claim import ClaimLine
from zorg_claims.service import SPEC
from zorg_claims.service_layer.adjudicate import Review, adjudicate_claims
from zorg_claims.service_layer.intake import submit
from zorg_claims.settings import ClaimsSettings
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime

pytestmark = pytest.mark.integration

COACHES = ("12345678", "23456789")


def intake(reference: str, agb: str, service_date: str) -> ClaimLine:
    return ClaimLine.model_validate(
        {
            "provider_reference": reference,
            "agb": agb,
            "bsn": "111222333",
            "sector": "GLI",
            "prestation_code": "GLI-INTAKE",
            "service_date": service_date,
            "quantity": 1,
            "claimed_cents": 8193,
            "programme": "Cool",
            "programme_start": "2023-01-15",
        }
    )


async def test_a_worker_waits_for_another_deciding_the_same_insured_persons_run(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-06-01")
    upgrade(SPEC.migrations, pg_url)
    runtime = Runtime(SPEC, ClaimsSettings(_env_file=None, DATABASE_URL=pg_url))
    review = Review(3.0, 50)
    try:
        async with runtime.uow() as uow:
            for agb in COACHES:
                await uow.session.execute(
                    insert(known_providers).values(agb=agb, name=agb, kind="individual", version=1)
                )
                await uow.session.execute(
                    insert(eligibility).values(
                        agb=agb,
                        policy_id="GLI-2023",
                        eligible=True,
                        route="restitution",
                        evaluated_on=dt.date(2022, 9, 1),
                        evaluation_id=f"e-{agb}",
                    )
                )
            lines = [intake("I-1", COACHES[0], "2023-02-01"), intake("I-2", COACHES[1], "2023-02-02")]
            first, second = (await submit(SqlClaimsUnit(uow), lines, dt.date(2023, 6, 1))).ids
            await uow.commit()

        async with runtime.uow() as one:  # the first worker decides its line and has not committed yet
            [decided] = await adjudicate_claims(SqlClaimsUnit(one), [first], review)
            assert decided.status == "approved"

            async def other_worker() -> str:
                async with runtime.uow() as two:
                    [made] = await adjudicate_claims(SqlClaimsUnit(two), [second], review)
                    await two.commit()
                    return made.reasons[0] if made.reasons else made.status

            waiting = asyncio.create_task(other_worker())
            # Time for the other worker to reach its read: without the lock it would read now, see no
            # intake yet, and pay a second one.
            done, _ = await asyncio.wait({waiting}, timeout=1.0)
            assert not done, "the second worker did not wait for the first"
            await one.commit()
        assert await waiting == "PRESTATION_LIMIT_EXCEEDED"
    finally:
        await runtime.close()
