"""`zorg providers import`: thousands of rows, every bad row reported, good rows in, twice changes nothing."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from zorg_common.messaging import outbox
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_eligibility.adapters.orm import evaluations, providers
from zorg_eligibility.entrypoints.importer import import_file
from zorg_eligibility.service import SPEC
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration

COLUMNS = [
    "agb",
    "kvk",
    "name",
    "kind",
    "sectors",
    "street",
    "postcode",
    "city",
    "care_forms",
    "kvk_registered",
    "vecozo_certificate",
    "programmes",
    "serious_misconduct_on",
    "quality_statute_ii_approved",
    "claims_total_prev_year_cents",
]


def write_extract(path: Path, good: int, *, delimiter: str = ";", encoding: str = "utf-8") -> dict[int, str]:
    """``good`` valid rows and a few bad ones; returns {line number: what is wrong} of the bad ones."""
    bad: dict[int, str] = {}
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(COLUMNS)
        line = 1
        for n in range(good):
            line += 1
            kind = ("care_group", "individual", "institution")[n % 3]
            writer.writerow(
                [
                    f"{30000000 + n}",
                    f"{60000000 + n}",
                    f"Zorgaanbieder {n} — Café",
                    kind,
                    "GLI|GGZ" if n % 2 else "GLI",
                    "Dorpsstraat 1",
                    "1234 AB",
                    "Ede",
                    "in_person|digital",
                    "ja",
                    "ja" if n % 5 else "nee",
                    "Cool|SLIMMER",
                    "geen" if n % 7 else "2021-01-01",
                    "",
                    str(n * 1000),
                ]
            )
            if n in (10, 500, 1500):
                line += 1
                writer.writerow(
                    [
                        "1234",
                        "x",
                        "",
                        "hospital",
                        "GLI|XYZ",
                        "",
                        "0000 AA",
                        "",
                        "",
                        "misschien",
                        "",
                        "",
                        "gisteren",
                        "",
                        "-5",
                    ]
                )
                bad[line] = "agb"
    return bad


@pytest.fixture
def runtime(pg_url: str) -> Runtime:
    upgrade(SPEC.migrations, pg_url)
    return Runtime(SPEC, EligibilitySettings(_env_file=None, DATABASE_URL=pg_url))


async def count(runtime: Runtime, table: object) -> int:
    async with runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_import_thousands_report_bad_rows_and_twice_changes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    bad = write_extract(path, 2_000, encoding="cp1252")
    try:
        report = await import_file(runtime, path, "test", progress=False)
        assert report.rows == 2_003 and report.registered == 2_000 and report.refused_lines == 3
        refused_fields = {(line, where) for line, where, _ in report.refused}
        for line in bad:
            for where in (
                "agb",
                "kvk",
                "name",
                "kind",
                "sectors.1",
                "address.postcode",
                "facts.kvk_registered",
                "facts.serious_misconduct_on",
                "facts.claims_total_prev_year_cents",
            ):
                assert (line, where) in refused_fields, (line, where, sorted(refused_fields))
        assert await count(runtime, providers) == 2_000
        events, stored = await count(runtime, outbox), await count(runtime, evaluations)
        assert stored == 3_000  # one policy per sector offered: 1,000 GLI-only, 1,000 GLI and GGZ
        assert events == 2_000 + stored  # ProviderRegistered and one EligibilityDetermined per evaluation
        async with runtime.engine.connect() as conn:
            name = await conn.scalar(select(providers.c.name).where(providers.c.agb == "30000003"))
        assert name == "Zorgaanbieder 3 — Café"  # Windows-1252 read as such

        again = await import_file(runtime, path, "test", progress=False)
        assert (again.registered, again.updated, again.unchanged) == (0, 0, 2_000)
        assert await count(runtime, outbox) == events and await count(runtime, evaluations) == stored
    finally:
        await runtime.close()


def test_the_command_reports_lines_and_exits_1_on_refused_rows(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    bad = write_extract(path, 20, delimiter=",")
    env = dict(os.environ, ZORG_DATA_DIR=str(tmp_path), DATABASE_URL="", ELIGIBILITY_DATABASE_URL="")
    migrate = subprocess.run(
        [sys.executable, "-m", "zorg_common.cli", "migrate", "eligibility"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    result = subprocess.run(
        [sys.executable, "-m", "zorg_common.cli", "providers", "import", str(path), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    [line] = bad
    assert f"register.csv:{line}: agb: an AGB code is 8 digits" in result.stderr
    assert "21 rows: 20 registered, 0 updated, 0 unchanged, 1 refused" in result.stdout
