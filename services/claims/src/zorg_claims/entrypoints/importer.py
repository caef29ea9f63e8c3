"""`zorg claims import FILE.csv`: a claim file in bulk, with a progress bar; bad lines reported by line number.

Columns are the fields of a claim line (CONTRACT.md): ``provider_reference``, ``agb``, ``bsn``,
``sector``, ``prestation_code``, ``service_date``, ``opening_date``, ``quantity``, ``claimed_cents``,
and as needed ``programme``, ``programme_start``, ``referral``, ``authorisation_number``,
``diagnosis_code``, ``privacy_statement`` (``ja``/``nee``, ``true``/``false``, ``1``/``0``). Lines already
received (same provider and reference) are not taken twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from zorg_common import clock, csvfile
from zorg_common.service import Runtime

from ..adapters.repository import SqlClaimsUnit
from ..domain.claim import ClaimLine
from ..service_layer.intake import door_check, submit

CHUNK = 1000
_FLAGS = {"referral", "privacy_statement"}
_TRUE, _FALSE = {"ja", "j", "true", "1", "yes", "y"}, {"nee", "n", "false", "0", "no", ""}


@dataclass
class ClaimsImport:
    lines: int = 0
    taken: int = 0
    known: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)


def _raw(row: dict[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, value in row.items():
        if key in _FLAGS:
            lowered = value.lower()
            raw[key] = True if lowered in _TRUE else False if lowered in _FALSE else value
        elif value != "":
            raw[key] = value
    return raw


async def import_claims(runtime: Runtime, path: Path, *, progress: bool = True) -> ClaimsImport:
    report = ClaimsImport()
    received_on = clock.today()
    rows = list(csvfile.rows(csvfile.decode(await asyncio.to_thread(path.read_bytes))))
    good: list[ClaimLine] = []
    for line_number, row in rows:
        report.lines += 1
        checked = door_check(_raw(row), received_on)
        if isinstance(checked, ClaimLine):
            good.append(checked)
        else:
            report.refused += [(line_number, e.field, e.message) for e in checked]
    with tqdm(total=len(rows), unit="line", desc="importing", disable=not progress) as bar:
        bar.update(len(rows) - len(good))
        for start in range(0, len(good), CHUNK):
            chunk = good[start : start + CHUNK]
            async with runtime.uow() as uow:
                result = await submit(SqlClaimsUnit(uow), chunk, received_on)
                await uow.commit()
            report.taken += result.created
            report.known += len(chunk) - result.created
            bar.update(len(chunk))
    return report


@click.group(name="claims")
def claims_cli() -> None:
    """Claims (claims service)."""


@claims_cli.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="no progress bar")
def import_command(file: Path, quiet: bool) -> None:
    """Import a claim file (CSV); exits 1 when any line was refused (the good lines are taken all the same).

    The lines are adjudicated by the claims service's workers, as lines through the API are.
    """
    from ..service import SPEC

    runtime = Runtime(SPEC)

    async def run() -> ClaimsImport:
        try:
            return await import_claims(runtime, file, progress=not quiet)
        finally:
            await runtime.close()

    report = asyncio.run(run())
    for line, where, message in report.refused:
        click.echo(f"{file.name}:{line}: {where}: {message}", err=True)
    refused_lines = len({line for line, _, _ in report.refused})
    click.echo(f"{report.lines} lines: {report.taken} taken, {report.known} received before, {refused_lines} refused")
    if report.refused:
        raise SystemExit(1)
