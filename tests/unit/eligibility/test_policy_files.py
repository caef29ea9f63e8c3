"""Policies are data: the loader accepts a new year's file and refuses a malformed one clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from zorg_common.policy import PolicyFileError, load_policies, policy_dirs, policy_for

BUNDLED = policy_dirs()[0]


def gli_2024() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((BUNDLED / "GLI-2023.yaml").read_text())
    data.update(id="GLI-2024", contract_year=2024)
    data["calendar"] = {
        "published": "2023-04-01",
        "contracting_deadline": "2023-11-01",
        "publication": "2023-11-12",
        "claims_processed_by": "2023-12-31",
    }
    return data


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_bundled_policies() -> None:
    loaded = load_policies([BUNDLED])
    assert list(loaded) == ["GGZ-2021", "GLI-2023"]
    gli = loaded["GLI-2023"]
    assert str(gli.calendar.publication) == "2022-11-12"
    assert gli.prestation("GLI-INTAKE").max_tariff_cents == 8193  # type: ignore[union-attr]
    assert loaded["GGZ-2021"].non_contracted_reimbursement_pct == 75


def test_next_years_policy_is_a_new_file_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "GLI-2024", gli_2024())
    monkeypatch.setenv("ZORG_POLICY_DIRS", str(tmp_path))
    loaded = load_policies()
    assert set(loaded) == {"GGZ-2021", "GLI-2023", "GLI-2024"}
    assert policy_for("GLI", 2025, loaded).id == "GLI-2024"  # type: ignore[union-attr]
    assert policy_for("GLI", 2023, loaded).id == "GLI-2023"  # type: ignore[union-attr]
    assert policy_for("GGZ", 2020, loaded) is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("calendar"), "calendar: Field required"),
        (lambda d: d["criteria"][0].update(code="kvk registered"), "criteria.0.code"),
        (lambda d: d["criteria"][0]["rule"].update(fact="shoe_size"), "unknown fact 'shoe_size'"),
        (lambda d: d["criteria"].append(dict(d["criteria"][0])), "criteria listed twice: KVK_REGISTERED"),
        (lambda d: d["prestations"][0].update(max_tariff_cents=-1), "greater than 0"),
        (lambda d: d["routes"][0].update(route="lottery"), "routes.0.route"),
        (lambda d: d.update(contract_year=2030), "must be <sector>-<contract year>"),
        (lambda d: d.update(surprise=1), "surprise: Extra inputs are not permitted"),
    ],
    ids=[
        "missing-calendar",
        "bad-code",
        "unknown-fact",
        "duplicate-criterion",
        "negative-tariff",
        "unknown-route",
        "id-year-mismatch",
        "unknown-field",
    ],
)
def test_a_malformed_policy_is_refused_with_a_clear_message(tmp_path: Path, mutate: object, message: str) -> None:
    data = gli_2024()
    mutate(data)  # type: ignore[operator]
    write(tmp_path, "GLI-2024", data)
    with pytest.raises(PolicyFileError) as refused:
        load_policies([tmp_path])
    assert "GLI-2024.yaml" in str(refused.value) and message in str(refused.value)


def test_not_yaml_wrong_name_and_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "GLI-2024", "id: [unclosed")
    with pytest.raises(PolicyFileError, match="cannot be read as YAML"):
        load_policies([tmp_path])
    (tmp_path / "GLI-2024.yaml").unlink()
    write(tmp_path, "next-year", gli_2024())
    with pytest.raises(PolicyFileError, match=r"named after its id, GLI-2024\.yaml"):
        load_policies([tmp_path])
    (tmp_path / "next-year.yaml").unlink()
    write(tmp_path, "GLI-2023", yaml.safe_load((BUNDLED / "GLI-2023.yaml").read_text()))
    with pytest.raises(PolicyFileError, match="already defined"):
        load_policies([BUNDLED, tmp_path])


def test_a_policy_lists_each_programme_once_and_compares_spellings_one_way(tmp_path: Path) -> None:
    from zorg_common.policy import programme_key

    assert {programme_key(n) for n in ("de BeweegKuur", "Beweegkuur", "BEWEEGKUUR", "Beweeg-Kuur")} == {"beweegkuur"}
    gli = load_policies([BUNDLED])["GLI-2023"]
    assert [p.name for p in gli.programmes] == ["Cool", "BeweegKuur", "SLIMMER", "Samen Sportief in Beweging"]
    assert gli.recognised_programme("de beweegkuur").name == "BeweegKuur"  # type: ignore[union-attr]
    assert gli.recognised_programme("Eigen programma") is None and gli.recognised_programme(None) is None
    twice = gli_2024()
    twice["programmes"] = [{"name": "BeweegKuur"}, {"name": "Sportief", "spellings": ["de Beweegkuur"]}]
    write(tmp_path, "GLI-2024", twice)
    with pytest.raises(PolicyFileError, match="two programmes spelled alike: beweegkuur"):
        load_policies([tmp_path])
    none_listed = gli_2024()
    none_listed["programmes"] = []
    write(tmp_path, "GLI-2024", none_listed)
    with pytest.raises(PolicyFileError, match="lists no programmes"):
        load_policies([tmp_path])


def test_gli_without_a_contract_is_paid_75_percent_and_specialised_ggz_has_a_care_type() -> None:
    loaded = load_policies([BUNDLED])
    assert loaded["GLI-2023"].non_contracted_reimbursement_pct == 75
    specialised = [p for p in loaded["GGZ-2021"].prestations if p.specialised]
    assert [(p.code, p.care_type) for p in specialised] == [("DBC-SGGZ-TRAJECT", "sggz")]


def test_the_confidential_criteria_and_their_facts_are_policy_data() -> None:
    gli = load_policies([BUNDLED])["GLI-2023"]
    assert gli.confidential_criteria() == {"NOT_IN_FRAUD_REGISTERS", "NO_QUALITY_CONCERNS"}
    assert gli.confidential_facts() == {"in_fraud_register", "fraud_investigation", "quality_concerns"}
    ggz = load_policies([BUNDLED])["GGZ-2021"]
    assert ggz.confidential_criteria() == frozenset() and ggz.max_kpi_incentive_pct == 2
    assert [q.answer for q in ggz.questionnaire] == ["yes_no", "yes_no", "number", "text"]


def test_a_question_asked_twice_is_refused(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load((BUNDLED / "GGZ-2021.yaml").read_text())
    data["questionnaire"].append(dict(data["questionnaire"][0]))
    write(tmp_path, "GGZ-2021", data)
    with pytest.raises(PolicyFileError, match="questionnaire listed twice: WACHTTIJDEN_GEPUBLICEERD"):
        load_policies([tmp_path])
