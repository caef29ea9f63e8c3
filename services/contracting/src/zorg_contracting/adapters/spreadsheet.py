"""Reading a follow format's attachment: the first sheet of an .xlsx (values, never formulas) or a .csv."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl  # type: ignore[import-untyped]

#: Unpacked size an .xlsx may have before it is refused (a zip bomb is small on the wire).
MAX_UNPACKED_BYTES = 50_000_000
MAX_ROWS = 500


class Unreadable(ValueError):
    """The attachment cannot be used; the message says why, for the reply."""


def read_csv(data: bytes) -> list[list[object]]:
    """`;` or `,` separated, UTF-8 (with or without BOM) or Windows-1252."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise Unreadable("is not a text file (binary content)")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    rows: list[list[object]] = []
    for n, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
        if n >= MAX_ROWS:
            raise Unreadable(f"has more than {MAX_ROWS} rows")
        rows.append(list(row))
    return rows


def read_xlsx(data: bytes) -> list[list[object]]:
    """The first sheet's cell values; macros, formulas without a computed value and zip bombs are refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unreadable("cannot be read as an .xlsx workbook") from exc
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise Unreadable("contains macros; send the format as a plain .xlsx without macros")
    if unpacked > MAX_UNPACKED_BYTES:
        raise Unreadable(f"unpacks to more than {MAX_UNPACKED_BYTES // 1_000_000} MB")
    try:
        values = _rows(data, data_only=True)
        formulas = _rows(data, data_only=False) if _has_formulas(archive, names) else values
    except Unreadable:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise Unreadable("cannot be read as an .xlsx workbook") from exc
    for r, (value_row, formula_row) in enumerate(zip(values, formulas, strict=False), start=1):
        for c, (value, formula) in enumerate(zip(value_row, formula_row, strict=False), start=1):
            if isinstance(formula, str) and formula.startswith("=") and value is None:
                cell = f"{openpyxl.utils.get_column_letter(c)}{r}"
                raise Unreadable(f"cell {cell} holds a formula without a computed value; send values, not formulas")
    return values


def _has_formulas(archive: zipfile.ZipFile, names: list[str]) -> bool:
    """Whether any worksheet holds a formula (a second, slower read finds where)."""
    for name in names:
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            with archive.open(name) as sheet:
                content = sheet.read(MAX_UNPACKED_BYTES)
            if b"<f>" in content or b"<f " in content or b":f>" in content or b":f " in content:
                return True
    return False


def _rows(data: bytes, *, data_only: bool) -> list[list[object]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
    try:
        if not workbook.worksheets:
            raise Unreadable("has no sheet")
        rows: list[list[object]] = []
        for n, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True)):
            if n >= MAX_ROWS:
                raise Unreadable(f"has more than {MAX_ROWS} rows")
            rows.append(list(row[:10]))
        return rows
    finally:
        workbook.close()
