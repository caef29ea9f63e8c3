"""Validation of Dutch identifiers (AGB, KvK, BSN, IBAN, postcode, UZOVI) and e-mail addresses as pydantic types."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from stdnum import iban as _iban
from stdnum.exceptions import ValidationError as _StdnumError
from stdnum.nl import bsn as _bsn

_AGB = re.compile(r"^\d{8}$")
_KVK = re.compile(r"^\d{8}$")
_UZOVI = re.compile(r"^\d{4}$")
_POSTCODE = re.compile(r"^([1-9]\d{3})\s?([A-Z]{2})$")
#: An addr-spec as people write it (local@domain.tld); no display name, no comments, no spaces.
_EMAIL = re.compile(r"^[^@\s<>\"(),;:\[\]]+@[^@\s<>\"(),;:\[\]]+\.[A-Za-z]{2,}$")
EMAIL_MAX_LENGTH = 254


def is_agb(value: object) -> bool:
    """An AGB code exactly as given (a string of 8 digits, nothing around it)."""
    return isinstance(value, str) and _AGB.fullmatch(value) is not None


def check_agb(value: str) -> str:
    value = value.strip()
    if not _AGB.match(value):
        raise ValueError("an AGB code is 8 digits")
    return value


def check_kvk(value: str) -> str:
    value = value.strip()
    if not _KVK.match(value):
        raise ValueError("a KvK number is 8 digits")
    return value


def check_uzovi(value: str) -> str:
    value = value.strip()
    if not _UZOVI.match(value):
        raise ValueError("a UZOVI code is 4 digits")
    return value


def check_bsn(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"\d{9}", value):
        raise ValueError("a BSN is 9 digits")
    try:
        _bsn.validate(value)
    except _StdnumError as exc:
        raise ValueError("the BSN fails the elfproef (check digit)") from exc
    return value


def check_iban(value: str) -> str:
    try:
        return str(_iban.validate(value))
    except _StdnumError as exc:
        raise ValueError(f"not a valid IBAN: {exc}") from exc


def is_email_address(value: str) -> bool:
    return len(value) <= EMAIL_MAX_LENGTH and bool(_EMAIL.match(value))


def check_email_address(value: str) -> str:
    value = value.strip()
    if not is_email_address(value):
        raise ValueError("is not an e-mail address (name@domain.nl)")
    return value


def address_key(address: str) -> str:
    """An addr-spec as compared: ignoring case (DOMAIN.md, who may send a follow format)."""
    return address.strip().casefold()


def check_postcode(value: str) -> str:
    match = _POSTCODE.match(value.strip().upper())
    if not match:
        raise ValueError("a Dutch postcode is four digits (not starting with 0) and two letters, e.g. 3511 AB")
    return f"{match.group(1)} {match.group(2)}"


Agb = Annotated[str, AfterValidator(check_agb)]
Kvk = Annotated[str, AfterValidator(check_kvk)]
Uzovi = Annotated[str, AfterValidator(check_uzovi)]
Bsn = Annotated[str, AfterValidator(check_bsn)]
Iban = Annotated[str, AfterValidator(check_iban)]
Postcode = Annotated[str, AfterValidator(check_postcode)]
EmailAddress = Annotated[str, AfterValidator(check_email_address)]
