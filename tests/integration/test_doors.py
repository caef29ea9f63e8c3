"""Every door refuses bad input with a 4xx, over real HTTP and PostgreSQL: bodies past their limit (413,
with a length or chunked), page numbers and cursors past any real one (422), tokens whose claims have
the wrong type (401), text with a NUL, bodies that cannot be read, values not in their JSON type (422)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, Request

from tests.conftest import Kafka
from tests.integration.backbone import settings_for
from tests.integration.test_contracting_harness import contracting_settings
from tests.support import served
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common.app import create_app
from zorg_common.auth import issue_token
from zorg_common.migrations import upgrade
from zorg_common.paging import MAX_PAGE
from zorg_common.problems import NUL_REFUSED, UNREADABLE_BODY
from zorg_common.settings import DEVELOPMENT_JWT_SECRET
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.service import SPEC as PUBLICATION
from zorg_publication.settings import PublicationSettings

pytestmark = pytest.mark.integration

SMALL = 1024  # HTTP_MAX_BODY_BYTES in these tests: every body past it is refused unless its route allows more

careless = APIRouter()


@careless.post("/careless")
async def swallows_every_error(request: Request) -> dict[str, Any]:
    """A route that catches everything while it reads: the refusal must still be a 413."""
    try:
        return {"read": len(await request.body())}
    except Exception:
        return {"read": "whatever came"}


async def chunks(size: int, piece: int = 512) -> AsyncIterator[bytes]:
    """A body without Content-Length (Transfer-Encoding: chunked)."""
    for start in range(0, size, piece):
        yield b" " * min(piece, size - start)


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413 and problem["title"] == "Payload too large"
    assert f"{limit:,} bytes" in problem["detail"]


@pytest.fixture
async def eligibility(make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str) -> AsyncIterator[Any]:
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(EligibilitySettings, url, kafka, topic_prefix, HTTP_MAX_BODY_BYTES=SMALL)
    spec = dataclasses.replace(ELIGIBILITY, routers=[*ELIGIBILITY.routers, careless])
    async with (
        served(create_app(spec, settings, workers=False)) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        client.headers["Authorization"] = f"Bearer {issue_token(settings, ['admin'])}"
        yield client


async def test_a_body_past_the_default_limit_is_413_with_a_length_or_chunked(eligibility: httpx.AsyncClient) -> None:
    provider = {"kvk": "12345678", "name": "x" * 4000, "kind": "individual", "sectors": ["GLI"]}
    assert_too_large(await eligibility.put("/providers/12345678", json=provider), SMALL)  # Content-Length
    body = json.dumps(provider).encode()

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    assert_too_large(
        await eligibility.put("/providers/12345678", content=stream(), headers={"Content-Type": "application/json"}),
        SMALL,
    )
    assert_too_large(await eligibility.post("/careless", content=chunks(4 * SMALL)), SMALL)
    assert (await eligibility.post("/careless", content=chunks(SMALL))).json() == {"read": SMALL}
    assert (await eligibility.get("/providers/12345678")).status_code == 404  # nothing was stored


async def test_claims_batches_have_a_larger_limit_of_their_own(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade(CLAIMS.migrations, url)
    limit = 16 * SMALL
    settings = settings_for(
        ClaimsSettings, url, kafka, topic_prefix, HTTP_MAX_BODY_BYTES=SMALL, CLAIMS_BATCH_MAX_BYTES=limit
    )
    token = {"Authorization": f"Bearer {issue_token(settings, ['claims:write'])}"}
    line = {"provider_reference": "r", "agb": "12345678", "bsn": "111222333", "sector": "GLI"}
    async with (
        served(create_app(CLAIMS, settings, workers=False)) as base,
        httpx.AsyncClient(base_url=base, timeout=30, headers=token) as client,
    ):
        within = {"lines": [line] * 60}  # about 6 KiB: past the default, within the batch's own limit
        answered = await client.post("/claims/batch", json=within)
        assert answered.status_code in (202, 422) and answered.status_code != 413, answered.text
        past = {"lines": [line] * 300}
        assert_too_large(await client.post("/claims/batch", json=past), limit)
        assert_too_large(await client.post("/claims/batch", content=chunks(2 * limit)), limit)
        assert_too_large(await client.post("/claims", json={**line, "note": "x" * 4 * SMALL}), SMALL)


async def test_a_raw_email_may_be_as_large_as_mail_max_bytes(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    settings = contracting_settings(url, kafka, topic_prefix, HTTP_MAX_BODY_BYTES=SMALL, MAIL_MAX_BYTES=8 * SMALL)
    token = {"Authorization": f"Bearer {issue_token(settings, ['contracts:write'])}", "Content-Type": "message/rfc822"}
    mail = b"From: a@example.nl\r\nSubject: volgformat\r\n\r\n" + b"AGB-code: 12345678\r\n" * 200
    async with (
        served(create_app(CONTRACTING, settings, workers=False)) as base,
        httpx.AsyncClient(base_url=base, timeout=30, headers=token) as client,
    ):
        assert 2 * SMALL < len(mail) < 8 * SMALL
        assert (await client.post("/follow-formats", content=mail)).status_code == 202
        assert_too_large(await client.post("/follow-formats", content=mail * 3), 8 * SMALL)
        assert_too_large(await client.post("/follow-formats", content=chunks(16 * SMALL)), 8 * SMALL)


async def test_page_numbers_past_any_real_page_are_422_never_a_500(eligibility: httpx.AsyncClient) -> None:
    for page in (10**30, MAX_PAGE + 1, 0, -1):
        response = await eligibility.get("/providers", params={"page": page})
        assert response.status_code == 422, (page, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["page"]
    last = await eligibility.get("/providers", params={"page": MAX_PAGE, "page_size": 200})
    assert last.status_code == 200 and last.json()["items"] == []


async def test_the_public_listing_refuses_pages_and_cursors_past_any_real_one(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade(PUBLICATION.migrations, url)
    settings = settings_for(PublicationSettings, url, kafka, topic_prefix)
    async with (
        served(create_app(PUBLICATION, settings, workers=False)) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        for path, params in [
            ("/listings", {"page": 10**30}),
            ("/listings/changes", {"since": 10**30}),
            ("/listings/changes", {"since": 2**63}),
        ]:
            response = await client.get(path, params=params)
            assert response.status_code == 422, (path, params, response.text)
        page = await client.get("/", params={"page": str(10**30)})
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
        nul = await client.get("/listings", params={"q": "Noord\x00"})
        assert nul.status_code == 422 and nul.json()["errors"] == [{"field": "q", "message": NUL_REFUSED}]
        page = await client.get("/", params={"q": "Noord\x00"})  # the page answers in HTML, whatever comes
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")


def signed(**claims: Any) -> str:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    base: dict[str, Any] = {
        "iss": "zorginkoop",
        "aud": "zorginkoop",
        "sub": "staff",
        "scope": "admin",
        "exp": now + 600,
    }
    # Signed as raw JSON: PyJWT's encode would refuse some of these claims before any service sees them.
    return jwt.PyJWS().encode(json.dumps({**base, **claims}).encode(), DEVELOPMENT_JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": 7},
        {"scope": {"admin": True}},
        {"scope": ["admin", 7]},
        {"scp": 1.5, "scope": None},
        {"agb": ["12345678"], "scope": "portal"},
        {"agb": 12345678, "scope": "portal"},
        {"agb": "1234", "scope": "portal"},
        {"sub": 42},
        {"sub": ""},
        {"sub": None},
        {"exp": "2000000000"},
        {"exp": True},
        {"iat": "yesterday"},
        {"nbf": [1]},
        {"aud": 1},
        {"iss": ["zorginkoop"]},
    ],
)
async def test_tokens_with_claims_of_the_wrong_type_are_401(eligibility: httpx.AsyncClient, claims: Any) -> None:
    token = signed(**claims)
    for path in ("/providers", "/providers/12345678"):
        response = await eligibility.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (claims, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await eligibility.get("/providers", headers={"Authorization": f"Bearer {signed()}"})).status_code == 200


async def test_a_nul_character_anywhere_is_422_naming_where_it_was(eligibility: httpx.AsyncClient) -> None:
    """PostgreSQL stores no NUL: found by the fuzzer as a 500 on GET /portal/mail?email=..%00.."""
    for path, params, field in [
        ("/portal/mail", {"email": "a\x00@example.nl"}, "email"),
        ("/providers", {"q": "Noord\x00"}, "q"),
    ]:
        response = await eligibility.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [{"field": field, "message": NUL_REFUSED}]
    provider = {"name": "Praktijk\x00Noord", "kind": "individual", "sectors": ["GLI"]}
    response = await eligibility.put("/providers/12345678", json=provider)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "body", "message": NUL_REFUSED}]
    assert (await eligibility.get("/providers/12345678")).status_code == 404  # nothing was stored


async def test_a_body_that_cannot_be_read_is_422_naming_the_body(eligibility: httpx.AsyncClient) -> None:
    """FastAPI answers a body that is not UTF-8 with a 400 of its own, without `errors`: found by the fuzzer."""
    json_type = {"Content-Type": "application/json"}
    for body in (b'{"name": "\xff\xfe"}', b"\x80"):
        response = await eligibility.put("/providers/12345678", content=body, headers=json_type)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [{"field": "body", "message": UNREADABLE_BODY}]
    broken = await eligibility.put("/providers/12345678", content=b'{"name": ', headers=json_type)
    assert broken.status_code == 422
    [error] = broken.json()["errors"]
    assert error["field"] == "body" and error["message"].startswith("is not valid JSON")


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({"insured_treated_prev_year": False}, "facts.insured_treated_prev_year"),
        ({"claims_total_prev_year_cents": "1000"}, "facts.claims_total_prev_year_cents"),
        ({"ubo_known": 0}, "facts.ubo_known"),
        ({"wtza_admitted": "true"}, "facts.wtza_admitted"),
        ({"serious_misconduct_on": 0}, "facts.serious_misconduct_on"),
        ({"serious_misconduct_on": "1700000000"}, "facts.serious_misconduct_on"),
    ],
)
async def test_facts_take_only_their_json_types(
    eligibility: httpx.AsyncClient, facts: dict[str, Any], field: str
) -> None:
    """Found by the fuzzer: `false` was taken as 0 patients, `0` as an error on 1 January 1970."""
    provider = {"name": "Praktijk", "kind": "institution", "sectors": ["GGZ"], "facts": facts}
    response = await eligibility.put("/providers/12345678", json=provider)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_facts_in_their_json_types_are_taken(eligibility: httpx.AsyncClient) -> None:
    facts = {"insured_treated_prev_year": 0, "ubo_known": False, "serious_misconduct_on": "2018-03-02"}
    provider = {"name": "Praktijk", "kind": "institution", "sectors": ["GGZ"], "facts": facts}
    response = await eligibility.put("/providers/12345678", json=provider)
    assert response.status_code == 201, response.text
    assert response.json()["provider"]["facts"] == facts
    assert (await eligibility.post("/portal/accounts", json={**ACCOUNT, "birth_date": 0})).status_code == 422
    created = await eligibility.post("/portal/accounts", json=ACCOUNT)
    assert created.status_code == 201, created.text


ACCOUNT = {"agb": "12345678", "name": "M. de Vries", "email": "m@praktijk.example", "birth_date": "1980-04-01"}


async def test_an_unknown_policy_id_is_404_and_a_long_one_422(eligibility: httpx.AsyncClient) -> None:
    assert (await eligibility.get("/policies/GLI-2099")).status_code == 404
    response = await eligibility.get("/policies/" + "x" * 41)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "policy_id"
