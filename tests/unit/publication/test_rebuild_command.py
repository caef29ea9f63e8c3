"""`zorg publication rebuild` is attached to the `zorg` command and fails with a plain message."""

from pathlib import Path

from click.testing import CliRunner

from zorg_common.cli import main


def test_the_command_is_there() -> None:
    result = CliRunner().invoke(main, ["publication", "rebuild", "--help"])
    assert result.exit_code == 0 and "zorg.providers and zorg.contracts" in result.output


def test_an_unmigrated_database_is_a_plain_error(tmp_path: Path) -> None:
    env = {"PUBLICATION_DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    result = CliRunner().invoke(main, ["publication", "rebuild"], env=env)
    assert result.exit_code == 1 and "zorg migrate publication" in result.output


def test_an_unreachable_broker_is_a_plain_error(tmp_path: Path) -> None:
    env = {"PUBLICATION_DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    assert CliRunner().invoke(main, ["migrate", "publication"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["publication", "rebuild", "--timeout", "5"], env=env)
    assert result.exit_code == 1 and "broker 127.0.0.1:1" in result.output
