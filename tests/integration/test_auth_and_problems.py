"""Auth (401/403, portal tokens) and RFC 9457 problem responses, through a real service app."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support import running_app, spec_with_test_routes
from zorg_common.auth import issue_token
from zorg_eligibility.service import SPEC
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> EligibilitySettings:
    return EligibilitySettings(
        _env_file=None, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e.db", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"
    )


@pytest.fixture
async def client(settings: EligibilitySettings) -> AsyncIterator[httpx.AsyncClient]:
    from zorg_common.migrations import upgrade

    upgrade(SPEC.migrations, settings.database_url)
    async with running_app(spec_with_test_routes(SPEC), settings, workers=False) as c:
        yield c


def bearer(settings: EligibilitySettings, *scopes: str, agb: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, scopes, agb=agb)}"}


GOOD = {"name": "Zorggroep Noord", "address": {"street": "Markt 1", "postcode": "9711 AB", "city": "Groningen"}}


async def test_without_a_token_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.put("/test/providers/12345678", json=GOOD)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["type"].endswith("/unauthorized")


async def test_bad_expired_or_foreign_tokens_are_401(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    expired = issue_token(settings, ["providers:write"], ttl=dt.timedelta(seconds=-5))
    foreign = jwt.encode(
        {"sub": "x", "scope": "admin", "exp": 2_000_000_000, "iss": "zorginkoop", "aud": "zorginkoop"},
        "another-secret",
        algorithm="HS256",
    )
    for token in ("garbage", expired, foreign):
        response = await client.put("/test/providers/12345678", json=GOOD, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
    assert (
        "expired"
        in (
            await client.put("/test/providers/12345678", json=GOOD, headers={"Authorization": f"Bearer {expired}"})
        ).json()["detail"]
    )


async def test_without_the_scope_403(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    response = await client.put("/test/providers/12345678", json=GOOD, headers=bearer(settings, "providers:read"))
    assert response.status_code == 403
    assert "providers:write" in response.json()["detail"]


async def test_with_the_scope_or_admin_200(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    for scope in ("providers:write", "admin"):
        response = await client.put("/test/providers/12345678", json=GOOD, headers=bearer(settings, scope))
        assert response.status_code == 200, response.text


async def test_portal_token_sees_only_its_own_provider(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    headers = bearer(settings, "portal", agb="12345678")
    assert (await client.get("/test/providers/12345678", headers=headers)).status_code == 200
    assert (await client.get("/test/providers/87654321", headers=headers)).status_code == 403
    assert (await client.put("/test/providers/12345678", json=GOOD, headers=headers)).status_code == 403


async def test_bad_input_names_every_bad_field(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    body = {"address": {"street": "Markt 1", "postcode": "0000 XX", "city": "Groningen"}}
    response = await client.put("/test/providers/1234", json=body, headers=bearer(settings, "providers:write"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert set(fields) == {"agb", "name", "address.postcode"}
    assert "8 digits" in fields["agb"] and "postcode" in fields["address.postcode"]


async def test_errors_never_leak_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in response.text and "/srv" not in response.text and "Traceback" not in response.text
    missing = await client.get("/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")  # the broker at 127.0.0.1:1 is not there
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "database": "ok", "broker": "unreachable"}
    metrics = (await client.get("/metrics")).text
    assert 'zorg_http_requests_total{method="GET",route="/healthz",service="eligibility",status="200"}' in metrics
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200


async def test_a_database_outage_is_a_503_with_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/database-away")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in response.text and "refused" not in response.text
