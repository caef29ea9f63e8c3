"""`zorg providers import FILE.csv`: load a register extract, report every bad row, import the good ones.

Columns (header row, ``;`` or ``,``, UTF-8 or Windows-1252): ``agb``, ``kvk``, ``name``, ``kind``,
``sectors``, ``street``, ``postcode``, ``city``, ``care_forms``, optionally ``contact_emails`` (left
out or empty: the addresses on file stay) and one column per fact (see ``Facts``). Lists are
separated by ``|``. Yes/no facts read ``ja``/``nee``, ``true``/``false``, ``1``/``0``; an empty
cell is an unknown fact. ``serious_misconduct_on`` reads a date, or ``geen`` (none on file).
Importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from tqdm import tqdm

from zorg_common import csvfile
from zorg_common.identifiers import check_agb
from zorg_common.service import Runtime

from ..domain.provider import Facts, ProviderData
from ..service_layer.register import register_provider

CHUNK = 200
_TRUE = {"ja", "j", "yes", "y", "true", "1", "waar"}
_FALSE = {"nee", "n", "no", "false", "0", "onwaar"}
_NONE = {"geen", "none", "null", "-"}
_FACT_FIELDS = Facts.model_fields


@dataclass
class ImportReport:
    rows: int = 0
    registered: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, message)

    @property
    def refused_lines(self) -> int:
        return len({line for line, _, _ in self.refused})


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def _fact(name: str, value: str) -> Any:
    annotation = str(_FACT_FIELDS[name].annotation)
    lowered = value.lower()
    if "bool" in annotation:
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected ja/nee, true/false or 1/0 (empty: unknown)")
    if name == "serious_misconduct_on" and lowered in _NONE:
        return None
    if "list" in annotation:
        return _list(value)
    if "int" in annotation:
        try:
            return int(value)
        except ValueError:
            raise ValueError("expected a whole number") from None
    return value  # a date: pydantic parses and checks it


def parse_row(row: dict[str, str]) -> tuple[str, ProviderData]:
    """The AGB code and the provider of one row; raises ``ValueError`` listing every problem."""
    problems: list[tuple[str, str]] = []
    try:
        agb = check_agb(row.get("agb", ""))
    except ValueError as exc:
        problems.append(("agb", str(exc)))
        agb = ""
    facts: dict[str, Any] = {}
    for name in _FACT_FIELDS:
        if row.get(name):
            try:
                facts[name] = _fact(name, row[name])
            except ValueError as exc:
                problems.append((f"facts.{name}", str(exc)))
    unknown_columns = sorted(
        set(row)
        - set(_FACT_FIELDS)
        - {"agb", "kvk", "name", "kind", "sectors", "street", "postcode", "city", "care_forms", "contact_emails"}
    )
    problems += [(column, "unknown column") for column in unknown_columns]
    data: dict[str, Any] = {
        "kvk": row.get("kvk") or None,
        "name": row.get("name", ""),
        "kind": row.get("kind", ""),
        "sectors": _list(row.get("sectors", "")),
        "address": {
            "street": row.get("street") or None,
            "postcode": row.get("postcode") or None,
            "city": row.get("city") or None,
        },
        "care_forms": _list(row.get("care_forms", "")),
        "contact_emails": _list(row["contact_emails"]) if row.get("contact_emails") else None,
        "facts": facts,
    }
    provider: ProviderData | None = None
    try:
        provider = ProviderData.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            if not any(p[0] == where for p in problems):
                problems.append((where, err["msg"].removeprefix("Value error, ")))
    if problems or provider is None:
        raise RowError(problems)
    return agb, provider


class RowError(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


async def import_file(runtime: Runtime, path: Path, actor: str, *, progress: bool = True) -> ImportReport:
    report = ImportReport()
    rows = list(csvfile.rows(csvfile.decode(await asyncio.to_thread(path.read_bytes))))
    good: list[tuple[str, ProviderData]] = []
    for line, row in rows:
        report.rows += 1
        try:
            good.append(parse_row(row))
        except RowError as exc:
            report.refused += [(line, f, m) for f, m in exc.problems]
    with tqdm(total=len(rows), unit="row", desc="importing", disable=not progress) as bar:
        bar.update(len(rows) - len(good))
        for start in range(0, len(good), CHUNK):
            chunk = good[start : start + CHUNK]
            async with runtime.uow() as uow:
                for agb, provider in chunk:
                    result = await register_provider(uow, agb, provider, actor)
                    if result.created:
                        report.registered += 1
                    elif result.changed_fields:
                        report.updated += 1
                    else:
                        report.unchanged += 1
                await uow.commit()
            bar.update(len(chunk))
    return report


@click.group(name="providers")
def providers_cli() -> None:
    """The provider register (eligibility service)."""


@providers_cli.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="no progress bar")
def import_command(file: Path, quiet: bool) -> None:
    """Import a register extract (CSV); bad rows are reported with their line numbers, good ones imported.

    Exits 1 when any row was refused (the good rows are imported all the same).
    """
    from ..service import SPEC

    runtime = Runtime(SPEC)
    actor = f"import:{file.name}:{os.environ.get('USER', 'unknown')}"

    async def run() -> ImportReport:
        try:
            return await import_file(runtime, file, actor, progress=not quiet)
        finally:
            await runtime.close()

    report = asyncio.run(run())
    for line, where, message in report.refused:
        click.echo(f"{file.name}:{line}: {where}: {message}", err=True)
    click.echo(
        f"{report.rows} rows: {report.registered} registered, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.refused_lines} refused"
    )
    if report.refused:
        raise SystemExit(1)
