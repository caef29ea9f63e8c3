"""Reading the CSV files people export: UTF-8 (with or without BOM) or Windows-1252, ``;`` or ``,``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {lower-cased header: stripped cell}) per data row; empty cells are ``""``."""
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if reader.fieldnames is None:
        return
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames]
    for row in reader:
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
