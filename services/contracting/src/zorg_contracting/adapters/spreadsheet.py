"""Reading a follow format's attachment: the first sheet of an .xlsx (values, never formulas) or a .csv.

A workbook is a zip of XML parts, and a hostile one is cheap to make: a few kilobytes that unpack
to gigabytes, a sheet of a million cells, a dimension that claims a million rows. So before
openpyxl opens anything, the zip's own directory is checked (how many parts, how big unpacked:
no part is inflated to find out) and the first sheet and the shared strings are streamed once
(defusedxml: no DTD, no entities), counting rows and cells and stopping at the limit. That pass
also finds the formula cells without a stored value, which become ``FormulaWithoutValue`` in the
rows so that the check names them by field and cell. Messages are Dutch: they reach the provider
in the reply.
"""

from __future__ import annotations

import csv
import io
import posixpath
import zipfile
from dataclasses import dataclass

import openpyxl  # type: ignore[import-untyped]
from defusedxml import ElementTree  # type: ignore[import-untyped]
from openpyxl.utils.cell import coordinate_to_tuple  # type: ignore[import-untyped]

from ..domain.follow_format import FormulaWithoutValue

#: Unpacked size a whole workbook may have (a zip bomb is small on the wire).
MAX_UNPACKED_BYTES = 20_000_000
#: Parts a workbook may consist of.
MAX_MEMBERS = 500
#: Columns read (label, value; code, description, amount): the rest of a row is never looked at.
COLUMNS = 10
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


class Unreadable(ValueError):
    """The attachment cannot be used; the message says why, in Dutch, for the reply."""


@dataclass(frozen=True)
class SheetLimits:
    max_rows: int
    max_cells: int


def read_csv(data: bytes, limits: SheetLimits) -> list[list[object]]:
    """`;` or `,` separated, UTF-8 (with or without BOM) or Windows-1252."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise Unreadable("is geen tekstbestand (binaire inhoud)")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    rows: list[list[object]] = []
    cells = 0
    for n, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
        if n >= limits.max_rows:
            raise Unreadable(f"heeft meer dan {limits.max_rows} rijen")
        cells += len(row)
        if cells > limits.max_cells:
            raise Unreadable(f"heeft meer dan {limits.max_cells} cellen")
        rows.append(list(row[:COLUMNS]))
    return rows


def read_xlsx(data: bytes, limits: SheetLimits) -> list[list[object]]:
    """The first sheet's cell values; macros, zip bombs and oversized sheets are refused unopened."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unreadable("is niet te lezen als .xlsx-werkmap") from exc
    if any(info.filename.lower().endswith("vbaproject.bin") for info in infos):
        raise Unreadable("bevat macro's; stuur het volgformat als gewone .xlsx zonder macro's")
    if len(infos) > MAX_MEMBERS:
        raise Unreadable(f"bestaat uit meer dan {MAX_MEMBERS} onderdelen")
    if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:  # the sizes the directory declares
        raise Unreadable(f"is uitgepakt groter dan {MAX_UNPACKED_BYTES // 1_000_000} MB")
    try:
        sheet = _first_worksheet(archive)
        formulas = _scan_sheet(archive, sheet, limits)
        _count_shared_strings(archive, limits)
        return _values(data, formulas, limits)
    except Unreadable:
        raise
    except Exception as exc:  # zipfile, expat and openpyxl raise many kinds on a damaged workbook
        raise Unreadable("is niet te lezen als .xlsx-werkmap") from exc


def _first_worksheet(archive: zipfile.ZipFile) -> str:
    """The part of the first worksheet (the one openpyxl calls ``worksheets[0]``; chart sheets skipped)."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"), forbid_dtd=True)
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"), forbid_dtd=True)
    targets = {
        rel.get("Id"): rel.get("Target", "")
        for rel in rels.iter(f"{_RELS}Relationship")
        if rel.get("Type", "").endswith("/worksheet")
    }
    for sheet in workbook.iter(f"{_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_DOC_RELS}id"))
        if target:
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    raise Unreadable("heeft geen werkblad")


def _scan_sheet(archive: zipfile.ZipFile, part: str, limits: SheetLimits) -> set[tuple[int, int]]:
    """Stream the sheet once: refuse it past the row or cell limit; the formula cells without a value."""
    rows = cells = 0
    row_number = column = 0  # where we are: `r` attributes are optional, positions then follow on
    formulas: set[tuple[int, int]] = set()
    with archive.open(part) as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                if element.tag == f"{_MAIN}row":
                    row_number = int(element.get("r") or row_number + 1)
                    column = 0
                continue
            if element.tag == f"{_MAIN}c":
                cells += 1
                if cells > limits.max_cells:
                    raise Unreadable(f"heeft meer dan {limits.max_cells} cellen")
                ref = element.get("r")
                row_number, column = coordinate_to_tuple(ref) if ref else (row_number, column + 1)
                if element.find(f"{_MAIN}f") is not None and not (element.findtext(f"{_MAIN}v") or "").strip():
                    formulas.add((row_number, column))
            elif element.tag == f"{_MAIN}row":
                rows += 1
                if rows > limits.max_rows:
                    raise Unreadable(f"heeft meer dan {limits.max_rows} rijen")
                element.clear()  # its cells are counted; keep memory flat
    return formulas


def _count_shared_strings(archive: zipfile.ZipFile, limits: SheetLimits) -> None:
    """openpyxl reads every shared string before the first cell: refuse a table larger than a sheet may be."""
    if "xl/sharedStrings.xml" not in archive.namelist():
        return
    count = 0
    with archive.open("xl/sharedStrings.xml") as stream:
        for _, element in ElementTree.iterparse(stream, events=("end",), forbid_dtd=True):
            if element.tag == f"{_MAIN}si":
                count += 1
                if count > limits.max_cells:
                    raise Unreadable(f"heeft meer dan {limits.max_cells} teksten")
                element.clear()


def _values(data: bytes, formulas: set[tuple[int, int]], limits: SheetLimits) -> list[list[object]]:
    """The values of the first ``COLUMNS`` columns, row by row from row 1 (gaps as empty rows)."""
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if not workbook.worksheets:
            raise Unreadable("heeft geen werkblad")
        sheet = workbook.worksheets[0]
        # Explicit bounds: openpyxl would otherwise pad every row to the width the sheet claims.
        found = sheet.iter_rows(min_row=1, max_row=limits.max_rows, max_col=COLUMNS, values_only=True)
        rows: list[list[object]] = []
        for r, row in enumerate(found, start=1):
            rows.append(
                [
                    FormulaWithoutValue(openpyxl.utils.get_column_letter(c) + str(r)) if (r, c) in formulas else value
                    for c, value in enumerate(row, start=1)
                ]
            )
        while rows and all(v is None for v in rows[-1]):  # the padding up to max_row
            rows.pop()
        return rows
    finally:
        workbook.close()
