"""`zorg migrate <service> --check`: what a deployment's init container waits on until the migrate job has run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from zorg_common.cli import main

pytestmark = pytest.mark.integration


def test_check_fails_until_the_migrations_ran_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLICATION_DATABASE_URL", f"sqlite:///{tmp_path}/publication.db")
    runner = CliRunner()

    before = runner.invoke(main, ["migrate", "publication", "--check"])
    assert before.exit_code == 1, before.output
    assert "behind the head revision" in before.output
    again = runner.invoke(main, ["migrate", "publication", "--check"])
    assert again.exit_code == 1, "a check must not migrate"

    assert runner.invoke(main, ["migrate", "publication"]).exit_code == 0
    after = runner.invoke(main, ["migrate", "publication", "--check"])
    assert after.exit_code == 0, after.output
    assert "at the head revision" in after.output
