"""The follow format read from Dutch notation, and checked field by field (every problem at once)."""

from __future__ import annotations

import datetime as dt

import pytest

from zorg_common.policy import policies
from zorg_contracting.domain.follow_format import RawForm, check_format, form_from_rows, form_from_text
from zorg_contracting.domain.notation import euros, label_key, parse_amount_cents, parse_date
from zorg_contracting.entrypoints.samples import GLI_TARIFFS, body_text, format_fields

TODAY = dt.date(2023, 3, 1)


@pytest.mark.parametrize(
    ("text", "cents"),
    [("€ 81,93", 8193), ("81.93", 8193), ("81,93", 8193), ("EUR 1.234,56", 123456), ("1,234.56", 123456), ("90", 9000)],
)
def test_amounts_in_dutch_and_english_notation(text: str, cents: int) -> None:
    assert parse_amount_cents(text) == cents


@pytest.mark.parametrize("text", ["tachtig", "81,935", "", "€", "1.2.3"])
def test_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount_cents(text)


def test_dates_in_both_notations_and_a_date_that_does_not_exist() -> None:
    assert parse_date("01-01-2023") == parse_date("2023-01-01") == dt.date(2023, 1, 1)
    assert parse_date(dt.datetime(2023, 1, 1, 0, 0)) == dt.date(2023, 1, 1)
    with pytest.raises(ValueError, match="geen bestaande datum"):
        parse_date("31-02-2023")
    with pytest.raises(ValueError):
        parse_date("1 januari 2023")


def test_labels_match_ignoring_case_spaces_hyphens_and_punctuation() -> None:
    assert label_key("E-mail contactpersoon") == label_key("e mail CONTACTPERSOON:") == "emailcontactpersoon"
    assert label_key("Programma’s") == label_key("programmas")
    assert euros(123456) == "€ 1.234,56"


def _form(**changes: str) -> RawForm:
    return form_from_text(
        body_text(format_fields("40000001", "Zorggroep Leefstijl Noord", "70000001", **changes), GLI_TARIFFS)  # type: ignore[arg-type]
    )


def test_a_good_format_has_no_problems_and_takes_the_policy_of_its_start_year() -> None:
    fmt, problems = check_format(_form(), policies(), "3311", TODAY)
    assert problems == [] and fmt is not None
    assert fmt.policy_id == "GLI-2023" and fmt.contract_year == 2023
    assert [t.amount_cents for t in fmt.tariffs] == [8193, 19380, 9829]
    assert fmt.programmes == ("Cool", "SLIMMER")


def test_programmes_are_recognised_in_any_spelling_of_the_policys_one_list() -> None:
    fmt, problems = check_format(_form(programmes="de BeweegKuur, Beweegkuur; cool"), policies(), "3311", TODAY)
    assert problems == [] and fmt is not None
    _, problems = check_format(_form(programmes="Beweegkuur, Eigen programma"), policies(), "3311", TODAY)
    assert [(p.field, p.message) for p in problems] == [
        (
            "Programma's",
            "'Eigen programma' is geen erkend programma (Cool, BeweegKuur, SLIMMER, Samen Sportief in Beweging)",
        )
    ]


def test_rows_and_body_lines_give_the_same_form() -> None:
    fields = format_fields("40000001", "Zorggroep Leefstijl Noord", "70000001")
    rows = [[label, value] for label, value in fields] + [["Prestatiecode", "Omschrijving", "Tarief"]]
    rows += [list(t) for t in GLI_TARIFFS]
    from_rows, _ = check_format(form_from_rows(rows), policies(), "3311", TODAY)
    from_text, _ = check_format(_form(), policies(), "3311", TODAY)
    assert from_rows == from_text


def test_every_problem_is_collected_before_deciding() -> None:
    form = _form(contact="geen-adres", uzovi="3311", end="31-02-2023", programmes="Cool, Eigen programma")
    form.tariffs.append(("GLI-ONBEKEND", "", "€ 1,00"))
    form.tariffs.append(("GLI-INTAKE", "", "€ 1,00"))
    form.tariffs[0] = ("GLI-INTAKE", "Intake", "€ 90,13")  # max 81,93 + 10% = 90,12
    fmt, problems = check_format(form, policies(), "3311", TODAY)
    assert fmt is None
    fields = [p.field for p in problems]
    assert fields == [
        "E-mail contactpersoon",
        "UZOVI preferente verzekeraar",
        "Einddatum",
        "Programma's",
        "Tarief GLI-INTAKE",
        "Tarief GLI-ONBEKEND",
        "Tarief GLI-INTAKE",
    ]


def test_the_maximum_tariff_plus_ten_percent_is_allowed() -> None:
    form = _form()
    form.tariffs[0] = ("GLI-INTAKE", "Intake", "€ 90,12")
    assert check_format(form, policies(), "3311", TODAY)[1] == []


def test_unknown_policy_year_and_a_sector_without_follow_route() -> None:
    _, problems = check_format(_form(start="01-01-2031", end="31-12-2031"), policies(), "3311", TODAY)
    assert [p.field for p in problems] == ["Ingangsdatum"]
    _, problems = check_format(_form(sector="GGZ", start="01-01-2021", end="31-12-2021"), policies(), "3311", TODAY)
    assert problems[0].field == "Sector" and "kent geen landelijk volgbeleid" in problems[0].message


def test_missing_fields_and_a_signing_date_in_the_future() -> None:
    form = _form(signed_on="01-06-2023")
    del form.values["kvk"]
    form.values["name"] = "  "
    _, problems = check_format(form, policies(), "3311", TODAY)
    assert [(p.field, p.message) for p in problems] == [
        ("KvK-nummer", "ontbreekt"),
        ("Naam", "ontbreekt"),
        ("Datum ondertekening preferente verzekeraar", "ligt in de toekomst"),
    ]


def test_end_date_before_start_and_beyond_the_contract_year() -> None:
    _, problems = check_format(_form(end="31-12-2022"), policies(), "3311", TODAY)
    assert problems[0].field == "Einddatum" and "vóór" in problems[0].message
    _, problems = check_format(_form(end="31-12-2024"), policies(), "3311", TODAY)
    assert problems[0].field == "Einddatum" and "tot en met 31-12-2023" in problems[0].message


def test_a_format_without_tariffs_is_a_problem() -> None:
    form = _form()
    form.tariffs.clear()
    _, problems = check_format(form, policies(), "3311", TODAY)
    assert [p.field for p in problems] == ["Tarieven"]
