"""A policy document read by the one schema, whether a file or a draft sent to the API (issue 15): every
problem named by its field, and no document that unfolds or nests past reading."""

from __future__ import annotations

import json

import pytest
import yaml

from zorg_common.policy import MAX_POLICY_NODES, PolicyInvalid, parse_policy, policies


def gli_2023_text() -> str:
    return json.dumps(policies()["GLI-2023"].model_dump(mode="json"))


def test_a_policy_reads_the_same_as_yaml_and_as_json() -> None:
    as_json = parse_policy(gli_2023_text(), syntax="json")
    as_yaml = parse_policy(yaml.safe_dump(json.loads(gli_2023_text())))
    assert as_json == as_yaml == policies()["GLI-2023"]


def test_every_problem_is_named_by_its_field() -> None:
    draft = json.loads(gli_2023_text())
    draft["calendar"]["published"] = "2022-13-01"
    draft["criteria"][0]["rule"] = {"fact": "no_such_fact", "equals": True}
    del draft["routes"]
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(json.dumps(draft), syntax="json")
    fields = [field for field, _ in refused.value.errors]
    assert "calendar.published" in fields and "routes" in fields
    assert any(field.startswith("criteria.0.rule") for field in fields)


@pytest.mark.parametrize(
    ("text", "syntax", "says"),
    [
        (
            "a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
            + "".join(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 7)),
            "yaml",
            "unfolds",
        ),
        ("a: &a [*a]", "yaml", "unfolds"),  # a cycle never ends
        ("[" * 100_000, "yaml", "nested too deeply"),
        ("[" * 100_000, "json", "nested too deeply"),
        ("- one\n- two", "yaml", "mapping of fields"),
        ("{not json", "json", "cannot be read as JSON"),
    ],
)
def test_a_document_that_cannot_be_a_policy_is_refused_quickly(text: str, syntax: str, says: str) -> None:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(text, syntax=syntax)  # type: ignore[arg-type]
    assert says in str(refused.value)
    assert MAX_POLICY_NODES == 50_000
