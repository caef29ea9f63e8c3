"""Mail as providers send it (Outlook's two bodies, formulas) and mail made to stall the reader: every limit."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.mail.make_fixtures import GOOD, huge_sheet_xlsx, many_parts_mail
from zorg_common.policy import policies
from zorg_contracting.adapters.mailbox import MailLimits, envelope_of, read_mail
from zorg_contracting.adapters.spreadsheet import SheetLimits, Unreadable, read_csv, read_xlsx
from zorg_contracting.domain.follow_format import check_format
from zorg_contracting.entrypoints.samples import GLI_TARIFFS, XLSX, format_fields, mail, xlsx_bytes

MAIL = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
LIMITS = MailLimits(attachment_max_bytes=2_000_000)
SHEET = LIMITS.sheet
GOOD_DAY = dt.date(2023, 3, 1)


def _problems(raw: bytes) -> list[tuple[str, str]]:
    parsed = read_mail(raw, LIMITS)
    found = list(parsed.problems)
    if parsed.form is not None:
        found += check_format(parsed.form, policies(), "3311", GOOD_DAY)[1]
    return [(p.field, p.message) for p in found]


@pytest.mark.parametrize("name", ["outlook_html.eml", "outlook_html_only.eml"])
def test_an_outlook_html_mail_is_one_body_and_each_field_counts_once(name: str) -> None:
    parsed = read_mail((MAIL / name).read_bytes(), LIMITS)
    assert parsed.problems == [] and parsed.form is not None
    assert [t[0] for t in parsed.form.tariffs] == ["GLI-INTAKE", "GLI-TREATMENT-Q", "GLI-MAINTENANCE-Q"]
    fmt, problems = check_format(parsed.form, policies(), "3311", GOOD_DAY)
    assert problems == [] and fmt is not None
    assert fmt.programmes == ("Cool", "SLIMMER") and fmt.tariffs[0].amount_cents == 8193  # &euro;&nbsp;81,93


def test_a_formula_without_a_stored_value_is_named_by_its_field_and_its_cell() -> None:
    problems = _problems((MAIL / "formula_xlsx.eml").read_bytes())
    # 12 label rows, a blank row, the header on row 14: GLI-TREATMENT-Q is on row 16, its amount in C.
    assert problems == [
        ("Tarief GLI-TREATMENT-Q", "cel C16 bevat een formule zonder opgeslagen waarde; stuur waarden, geen formules")
    ]


def test_a_field_computed_by_a_formula_is_named_too() -> None:
    fields = [(label, "=1+1" if label == "KvK-nummer" else value) for label, value in format_fields(*GOOD)]
    raw = mail(attachments=[("volgformat.xlsx", XLSX, xlsx_bytes(fields, GLI_TARIFFS))])
    assert _problems(raw) == [
        ("KvK-nummer", "cel B2 bevat een formule zonder opgeslagen waarde; stuur waarden, geen formules")
    ]


def test_every_problem_is_in_dutch() -> None:
    for name in ("bad_values.eml", "missing_fields.eml", "archive_zip.eml", "unknown_type_only.eml", "own_uzovi.eml"):
        for field, message in _problems((MAIL / name).read_bytes()):
            english = ("is missing", "is not", "listed twice", "cannot", "attach", "the limit", "unknown prestation")
            assert not any(word in message for word in english), (name, field, message)


def test_a_mail_of_a_hundred_thousand_parts_is_refused_without_parsing_them_all() -> None:
    raw = many_parts_mail(100_000)
    started = time.perf_counter()
    parsed = read_mail(raw, LIMITS)
    assert time.perf_counter() - started < 5  # parsing all of them takes far longer
    assert [(p.field, p.message) for p in parsed.problems] == [
        ("e-mail", "bestaat uit meer dan 100 delen; stuur een e-mail met alleen het volgformat")
    ]


def test_too_many_attachments() -> None:
    assert _problems((MAIL / "too_many_attachments.eml").read_bytes()) == [
        ("e-mail", "heeft meer dan 10 bijlagen; stuur alleen het volgformat")
    ]


def test_a_sheet_of_a_million_cells_is_refused_after_the_limit_and_quickly() -> None:
    data = huge_sheet_xlsx(1_000_000)
    assert len(data) < 100_000  # small on the wire
    started = time.perf_counter()
    with pytest.raises(Unreadable, match="meer dan 5000 cellen"):
        read_xlsx(data, SHEET)
    assert time.perf_counter() - started < 5


def test_too_many_rows_in_an_xlsx_and_in_a_csv() -> None:
    with pytest.raises(Unreadable, match="meer dan 500 rijen"):
        read_xlsx(huge_sheet_xlsx(600, per_row=1), SHEET)
    with pytest.raises(Unreadable, match="meer dan 20 rijen"):
        read_csv(b"a;b\r\n" * 21, SheetLimits(max_rows=20, max_cells=5_000))
    with pytest.raises(Unreadable, match="meer dan 100 cellen"):
        read_csv(b";".join([b"x"] * 101), SheetLimits(max_rows=20, max_cells=100))


def test_a_sheet_that_claims_a_huge_dimension_is_read_as_its_cells() -> None:
    data = huge_sheet_xlsx(3, per_row=1)  # <dimension ref="A1:XFD1048576"/> over three cells
    started = time.perf_counter()
    rows = read_xlsx(data, SHEET)
    assert [row[0] for row in rows] == [1, 1, 1] and all(len(row) == 10 for row in rows)  # ten columns read
    assert time.perf_counter() - started < 2  # no padding to 16,384 columns or a million rows


def test_a_zip_with_too_many_parts_or_a_dtd_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(600):
            archive.writestr(f"xl/x{n}.xml", b"")
    with pytest.raises(Unreadable, match="meer dan 500 onderdelen"):
        read_xlsx(out.getvalue(), SHEET)
    good = xlsx_bytes(format_fields(*GOOD), GLI_TARIFFS)
    out = io.BytesIO()
    laughs = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><worksheet>&a;</worksheet>'
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, laughs if item.filename == "xl/worksheets/sheet1.xml" else src.read(item.filename))
    with pytest.raises(Unreadable, match="niet te lezen"):
        read_xlsx(out.getvalue(), SHEET)


def test_html_and_lines_made_to_be_slow_read_in_linear_time() -> None:
    body = "<" * 2_000_000 + "\nAGB-code:" + " " * 2_000_000 + "x\n"
    raw = mail(body=None, html=body)
    started = time.perf_counter()
    read_mail(raw, LIMITS)
    assert time.perf_counter() - started < 10  # quadratic would be hours


def test_the_envelope_reads_only_the_header_section() -> None:
    raw = mail(body="x" * 20_000_000, headers=[("Authentication-Results", "mx.zorginkoop.example; dmarc=pass")])
    started = time.perf_counter()
    envelope = envelope_of(raw)
    assert time.perf_counter() - started < 1
    assert envelope.sender == "info@zorggroep.example"
    assert envelope.auth_results == ("mx.zorginkoop.example; dmarc=pass",)


def test_a_from_with_two_addresses_has_no_sender() -> None:
    raw = mail(sender="info@zorggroep.example, boef@elders.example")
    assert envelope_of(raw).sender is None
