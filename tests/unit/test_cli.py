"""The `zorg` command line: tokens, migrations, and clear errors."""

from pathlib import Path

import jwt
from click.testing import CliRunner

from zorg_common.cli import main
from zorg_common.settings import DEVELOPMENT_JWT_SECRET


def test_token_carries_scopes_and_agb() -> None:
    result = CliRunner().invoke(main, ["token", "--scope", "portal", "--scope", "claims:read", "--agb", "12345678"])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), DEVELOPMENT_JWT_SECRET, algorithms=["HS256"], audience="zorginkoop")
    assert claims["scope"] == "claims:read portal" and claims["agb"] == "12345678"


def test_token_refuses_unknown_scopes_and_portal_without_agb() -> None:
    bad = CliRunner().invoke(main, ["token", "--scope", "everything"])
    assert bad.exit_code == 2 and "unknown scope" in bad.output
    portal = CliRunner().invoke(main, ["token", "--scope", "portal"])
    assert portal.exit_code == 2 and "--agb" in portal.output


def test_migrate_every_service_on_sqlite(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"ZORG_DATA_DIR": str(tmp_path), "DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    for name in ("eligibility", "contracting", "claims", "publication"):
        assert (tmp_path / f"{name}.db").exists()
        assert f"migrating {name}" in result.output


def test_unknown_service_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["migrate", "billing"])
    assert result.exit_code == 2 and "unknown service 'billing'" in result.output
