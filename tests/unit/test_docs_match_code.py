"""The README and .env.example name every setting the services read."""

from pathlib import Path

import pytest

from zorg_common.cli import services

ROOT = Path(__file__).resolve().parents[2]


def all_settings() -> set[str]:
    names: set[str] = set()
    for spec in services().values():
        names |= set(spec.settings_cls.model_fields)
    return names


def test_four_services_are_installed_with_their_ports() -> None:
    assert {name: spec.port for name, spec in services().items()} == {
        "eligibility": 8001,
        "contracting": 8002,
        "claims": 8003,
        "publication": 8004,
    }


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = sorted(name for name in all_settings() if name not in text)
    assert not missing, f"{document} does not mention {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text()[:1200]
    assert "make run" in head and "make test" in head


def test_every_command_is_in_the_readme() -> None:
    from zorg_common.cli import main

    text = (ROOT / "README.md").read_text()
    missing = sorted(name for name in main.commands if f"`zorg {name}" not in text)
    assert not missing, f"README.md does not show the commands {missing}"
