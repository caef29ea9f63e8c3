"""Dutch identifiers: AGB, KvK, UZOVI, BSN (elfproef), IBAN and postcode."""

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from zorg_common.identifiers import Agb, Bsn, Iban, Kvk, Postcode, Uzovi


def valid(kind: Any, value: str) -> str:
    result: str = TypeAdapter(kind).validate_python(value)
    return result


def test_agb_is_eight_digits() -> None:
    assert valid(Agb, "12345678") == "12345678"
    for bad in ("1234567", "123456789", "1234567a", ""):
        with pytest.raises(ValidationError, match="8 digits"):
            valid(Agb, bad)


def test_kvk_is_eight_digits_and_uzovi_four() -> None:
    assert valid(Kvk, " 69599084 ") == "69599084"
    assert valid(Uzovi, "3311") == "3311"
    with pytest.raises(ValidationError):
        valid(Kvk, "6959908")
    with pytest.raises(ValidationError):
        valid(Uzovi, "33110")


def test_bsn_passes_the_elfproef() -> None:
    assert valid(Bsn, "111222333") == "111222333"
    assert valid(Bsn, "123456782") == "123456782"
    with pytest.raises(ValidationError, match="elfproef"):
        valid(Bsn, "123456789")
    with pytest.raises(ValidationError, match="9 digits"):
        valid(Bsn, "12345678")


def test_iban_check_digits() -> None:
    assert valid(Iban, "NL91 ABNA 0417 1643 00") == "NL91ABNA0417164300"
    with pytest.raises(ValidationError, match="IBAN"):
        valid(Iban, "NL92ABNA0417164300")


def test_postcode_is_normalised() -> None:
    assert valid(Postcode, "3511ab") == "3511 AB"
    for bad in ("0123 AB", "3511", "3511 A1"):
        with pytest.raises(ValidationError):
            valid(Postcode, bad)


def test_a_moment_is_iso_text_and_never_a_number() -> None:
    import datetime as dt

    from pydantic import TypeAdapter, ValidationError

    from zorg_common.values import IsoDateTime

    moment = TypeAdapter(IsoDateTime)
    assert moment.validate_python("2023-06-01") == dt.datetime(2023, 6, 1)
    assert moment.validate_python("2023-06-01T09:30:00+02:00").utcoffset() == dt.timedelta(hours=2)
    for wrong in ("0.5", "1700000000", 0, "01-06-2023"):
        with pytest.raises(ValidationError, match="ISO 8601"):
            moment.validate_python(wrong)
