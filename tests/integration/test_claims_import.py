"""`zorg claims import`: thousands of lines, bad ones reported by line, good ones stored with their event."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from zorg_claims.adapters.orm import claims
from zorg_claims.entrypoints.importer import import_claims
from zorg_claims.service import SPEC
from zorg_claims.settings import ClaimsSettings
from zorg_common.messaging import outbox
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime

pytestmark = pytest.mark.integration

HEADER = (
    "provider_reference;agb;bsn;sector;prestation_code;service_date;quantity;claimed_cents;programme;"
    "programme_start;diagnosis_code;privacy_statement\n"
)


async def test_import_a_claim_file_twice(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-06-01")
    upgrade(SPEC.migrations, pg_url)
    path = tmp_path / "claims.csv"
    lines = [
        f"L-{n};12345678;111222333;GLI;GLI-TREATMENT-Q;2023-0{1 + n % 5}-15;1;19380;SLIMMER;2023-01-01;"
        f"E11;{'ja' if n % 2 else 'nee'}"
        for n in range(3_000)
    ]
    lines.insert(100, "BAD;12345678;111222333;GLI;GLI-TREATMENT-Q;2023-07-01;1;19380;SLIMMER;2023-01-01;;nee")
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    runtime = Runtime(SPEC, ClaimsSettings(_env_file=None, DATABASE_URL=pg_url))
    try:
        report = await import_claims(runtime, path, progress=False)
        assert (report.lines, report.taken, report.known) == (3_001, 3_000, 0)
        assert report.refused == [(102, "service_date", "after the date of receipt 2023-06-01 (Vektis 8176)")]
        again = await import_claims(runtime, path, progress=False)
        assert (again.taken, again.known) == (0, 3_000)
        async with runtime.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(claims)) == 3_000
            assert await conn.scalar(select(func.count()).select_from(outbox)) == 3_000  # one ClaimSubmitted each
            kept = await conn.scalar(select(func.count()).where(claims.c.diagnosis_code.is_not(None)))
        assert kept == 1_500  # only the lines without a privacy statement keep their diagnosis
    finally:
        await runtime.close()
