"""The clock (ZORG_TODAY) and settings that refuse development secrets in production."""

import datetime as dt

import pytest

from zorg_common import clock
from zorg_common.settings import DEVELOPMENT_JWT_SECRET, ServiceSettings


class DemoSettings(ServiceSettings):
    SERVICE = "demo"


def test_zorg_today_fixes_the_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-11-12")
    assert clock.today() == dt.date(2022, 11, 12)
    assert clock.now().date() == dt.date(2022, 11, 12)
    assert clock.now().tzinfo is not None


def test_real_clock_without_zorg_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZORG_TODAY", raising=False)
    assert clock.today() == dt.datetime.now(dt.UTC).date()


def test_bad_zorg_today_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "12-11-2022")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        clock.today()


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValueError, match="development JWT secret"):
        DemoSettings(_env_file=None, ZORG_ENV="production")
    with pytest.raises(ValueError, match="at least 32"):
        DemoSettings(_env_file=None, ZORG_ENV="production", ZORG_JWT_SECRET="short")
    ok = DemoSettings(_env_file=None, ZORG_ENV="production", ZORG_JWT_SECRET="x" * 40)
    assert ok.ZORG_JWT_SECRET != DEVELOPMENT_JWT_SECRET


def test_production_with_a_public_key_needs_the_key() -> None:
    with pytest.raises(ValueError, match="ZORG_JWT_PUBLIC_KEY"):
        DemoSettings(_env_file=None, ZORG_ENV="production", ZORG_JWT_ALGORITHM="RS256")


def test_database_url_defaults_to_sqlite_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DEMO_DATABASE_URL", raising=False)
    settings = DemoSettings(_env_file=None, ZORG_DATA_DIR="/tmp/x")
    assert settings.database_url == "sqlite+aiosqlite:////tmp/x/demo.db"


def test_service_specific_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a/shared")
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://a/demo")
    assert DemoSettings(_env_file=None).database_url == "postgresql://a/demo"


def test_an_explicit_database_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://a/demo")
    assert DemoSettings(_env_file=None, DATABASE_URL="sqlite:///x.db").database_url == "sqlite:///x.db"
