"""Reading the sample e-mails (tests/fixtures/mail) without any service: never a crash, a clear outcome each."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.fixtures.mail.make_fixtures import EXPECTED
from zorg_common.policy import policies
from zorg_contracting.adapters.mailbox import MailLimits, envelope_of, message_key, read_mail
from zorg_contracting.domain.follow_format import check_format

MAIL = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
LIMIT = MailLimits(attachment_max_bytes=20_000)


def test_there_are_at_least_fifteen_sample_mails_each_with_an_expected_outcome() -> None:
    files = sorted(p.name for p in MAIL.glob("*.eml"))
    assert len(files) >= 15 and set(files) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_reads_to_its_format_or_its_problems(name: str) -> None:
    status, fields, _ = EXPECTED[name]
    parsed = read_mail((MAIL / name).read_bytes(), LIMIT)
    problems = list(parsed.problems)
    if parsed.form is not None:
        problems += check_format(parsed.form, policies(), "3311", dt.date(2026, 1, 1))[1]
    found = [p.field for p in problems]
    if status in ("accepted", "needs_review") or name in ("not_eligible.eml", "restitution_provider.eml"):
        assert found == []  # decided by the register, the sender and eligibility, not by the format
    for field in fields:
        if field not in ("Voorwaarden inkoopbeleid", "Route"):
            assert field in found, (name, field, found)


def test_hostile_bytes_never_raise() -> None:
    for raw in (
        b"",
        b"\x00" * 100,
        b"From: <<<>>>\r\nSubject: =?utf-8?b?////?=\r\n\r\n\xff\xfe",
        b"Content-Type: multipart/mixed\r\n\r\n--",
    ):
        parsed = read_mail(raw, LIMIT)
        assert parsed.form is None and parsed.problems


def test_a_missing_message_id_is_derived_from_the_bytes() -> None:
    raw = (MAIL / "no_message_id.eml").read_bytes()
    envelope = envelope_of(raw)
    assert envelope.message_id_derived and envelope.sender == "info@zorggroep.example"
    assert envelope_of(raw).message_id == envelope.message_id
    assert envelope_of(raw + b"\n").message_id != envelope.message_id
    assert message_key(" <a@b> ") == message_key("<a@b>")


def test_the_windows_1252_body_is_read_as_such() -> None:
    parsed = read_mail((MAIL / "wrong_charset_body.eml").read_bytes(), LIMIT)
    assert parsed.form is not None and parsed.form.values["signatory"] == "José Müller, bestuurder"


def test_a_zip_bomb_dressed_as_xlsx_is_refused_before_it_is_unpacked() -> None:
    import io
    import zipfile

    from zorg_contracting.adapters.spreadsheet import Unreadable, read_xlsx

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * 60_000_000)
    assert len(out.getvalue()) < 200_000
    with pytest.raises(Unreadable, match="uitgepakt groter dan"):
        read_xlsx(out.getvalue(), LIMIT.sheet)


def test_a_csv_in_windows_1252_with_the_euro_sign() -> None:
    from zorg_contracting.adapters.spreadsheet import read_csv

    rows = read_csv(
        "Naam;Café De Linde\r\nPrestatiecode;Omschrijving;Tarief\r\nGLI-INTAKE;Intake;€ 81,93\r\n".encode("cp1252"),
        LIMIT.sheet,
    )
    assert rows[0] == ["Naam", "Café De Linde"] and rows[2][2] == "€ 81,93"
    assert read_csv(b"a,b\r\nc,d\r\n", LIMIT.sheet) == [["a", "b"], ["c", "d"]]
