"""The AsyncAPI document: generated from the event models, checked in, valid AsyncAPI 3, and complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in requirements-dev.txt
import yaml
from click.testing import CliRunner

from zorg_common.asyncapi import document, render
from zorg_common.cli import main, services
from zorg_common.events import DLQ_SUFFIX, EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "asyncapi.yaml"
SCHEMA = ROOT / "docs" / "schemas" / "asyncapi-3.0.0.json"


def _doc() -> dict[str, Any]:
    return document(services())


def test_the_checked_in_document_equals_the_event_models() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render(_doc()), "run: zorg asyncapi -o docs/asyncapi.yaml"


def test_it_is_a_valid_asyncapi_3_document() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(CHECKED_IN.read_text(encoding="utf-8")))


def test_every_event_type_is_a_message_on_its_topic_and_every_topic_has_a_dead_letter_channel() -> None:
    doc = _doc()
    addresses = {channel["address"]: channel for channel in doc["channels"].values()}
    for name, model in EVENT_TYPES.items():
        assert name in doc["components"]["messages"]
        assert name in addresses[model.TOPIC]["messages"]
        assert doc["components"]["schemas"][name]["properties"].keys() == model.model_fields.keys()
        assert model.TOPIC + DLQ_SUFFIX in addresses


def test_every_consumer_group_and_every_publishing_service_is_an_operation() -> None:
    doc = _doc()
    operations = doc["operations"]
    for spec in services().values():
        for topic in spec.publishes:
            title = f"{spec.name} sends {topic}"
            assert [o["action"] for o in operations.values() if o["title"] == title] == ["send"]
        for consumer in spec.consumers:
            received = [
                o for o in operations.values() if o["action"] == "receive" and f"({consumer.group})" in o["title"]
            ]
            assert received, f"{consumer.group} of {spec.name} is not in the document"
    # Every message reference of an operation points at a message of its own channel.
    for operation in operations.values():
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[1]
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel_id}/messages/")
            assert ref["$ref"].rsplit("/", 1)[1] in doc["channels"][channel_id]["messages"]


def test_every_topic_is_written_by_exactly_one_service() -> None:
    writers: dict[str, list[str]] = {}
    for spec in services().values():
        for topic in spec.publishes:
            writers.setdefault(topic, []).append(spec.name)
    assert {m.TOPIC for m in EVENT_TYPES.values()} == set(writers)
    assert all(len(names) == 1 for names in writers.values()), writers


def test_the_command_writes_and_checks_the_file(tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.yaml"
    runner = CliRunner()
    assert runner.invoke(main, ["asyncapi", "--check", "-o", str(target)]).exit_code == 1  # missing
    assert runner.invoke(main, ["asyncapi", "-o", str(target)]).exit_code == 0
    assert runner.invoke(main, ["asyncapi", "--check", "-o", str(target)]).exit_code == 0
    target.write_text(target.read_text() + "# edited by hand\n")
    result = runner.invoke(main, ["asyncapi", "--check", "-o", str(target)])
    assert result.exit_code == 1 and "differs" in result.output
