"""Dutch notation read leniently: euro amounts (`€ 81,93`), dates (`01-01-2023`) and form labels (errors in Dutch)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

_DATE_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_DATE_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_AMOUNT = re.compile(r"^-?\d{1,3}(?:[.\s]\d{3})*(?:,\d{1,2})?$|^-?\d+(?:[.,]\d{1,2})?$|^-?\d{1,3}(?:,\d{3})*\.\d{1,2}$")


def label_key(label: str) -> str:
    """A label as matched: ignoring case, spaces, hyphens and punctuation."""
    return re.sub(r"[\W_]+", "", label.casefold())


def parse_date(value: object) -> dt.date:
    """`DD-MM-YYYY`, `YYYY-MM-DD` (also with `/` or `.`), or a spreadsheet date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if " " in text and _DATE_YMD.match(text.split(" ")[0]):  # a spreadsheet timestamp written as text
        text = text.split(" ")[0]
    try:
        if match := _DATE_DMY.match(text):
            day, month, year = (int(g) for g in match.groups())
            return dt.date(year, month, day)
        if match := _DATE_YMD.match(text):
            year, month, day = (int(g) for g in match.groups())
            return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"{text!r} is geen bestaande datum") from exc
    raise ValueError(f"{text!r} is geen datum; schrijf DD-MM-JJJJ of JJJJ-MM-DD")


def parse_amount_cents(value: object) -> int:
    """Euros to cents: `€ 81,93`, `81.93`, `81,93`, `1.234,56`, `EUR 1234.56`, or a spreadsheet number."""
    if isinstance(value, bool):
        raise ValueError("is geen bedrag")
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    else:
        text = str(value).strip().replace("\u00a0", " ")
        text = re.sub(r"^(€|eur|euro)\s*", "", text, flags=re.IGNORECASE).strip()
        text = re.sub(r"\s*(€|eur|euro)$", "", text, flags=re.IGNORECASE).strip()
        if not text or not _AMOUNT.match(text):
            raise ValueError(f"{value!s:.40} is geen bedrag in euro's (bijvoorbeeld € 81,93)")
        if "," in text and ("." in text or " " in text) and text.rfind(",") > max(text.rfind("."), text.rfind(" ")):
            text = text.replace(".", "").replace(" ", "").replace(",", ".")  # 1.234,56
        elif "," in text and "." in text:
            text = text.replace(",", "")  # 1,234.56
        elif "," in text:
            text = text.replace(",", ".")  # 81,93
        elif re.match(r"^-?\d{1,3}(\.\d{3})+$", text):
            text = text.replace(".", "")  # 1.234 (thousands)
        text = text.replace(" ", "")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"{value!s:.40} is geen bedrag in euro's") from exc
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value!s:.40} heeft meer dan twee decimalen")
    return int(cents)


def euros(cents: int) -> str:
    """Cents as Dutch notation: 8193 -> `€ 81,93`."""
    whole, rest = divmod(abs(cents), 100)
    grouped = f"{whole:,}".replace(",", ".")
    return f"{'-' if cents < 0 else ''}€ {grouped},{rest:02d}"
