"""A register extract's row: the optional contact addresses (left empty, the addresses on file stay)."""

from __future__ import annotations

import pytest

from zorg_eligibility.entrypoints.importer import RowError, parse_row

ROW = {"agb": "12345678", "kvk": "69599084", "name": "Zorggroep", "kind": "care_group", "sectors": "GLI"}


def test_contact_addresses_are_read_ignoring_case_and_left_out_when_empty() -> None:
    _, provider = parse_row({**ROW, "contact_emails": "Info@Zorggroep.nl | contracten@zorggroep.nl"})
    assert provider.contact_emails == ["contracten@zorggroep.nl", "info@zorggroep.nl"]
    _, provider = parse_row({**ROW, "contact_emails": ""})
    assert provider.contact_emails is None  # the addresses on file stay as they are
    with pytest.raises(RowError) as refused:
        parse_row({**ROW, "contact_emails": "geen adres"})
    assert refused.value.problems[0][0] == "contact_emails.0"
