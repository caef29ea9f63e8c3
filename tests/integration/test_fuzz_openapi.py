"""Schemathesis over each service's OpenAPI document, against the real app: no 5xx, and every answer as
the document says (status, content type, body, headers); input outside the document is refused.

Each service runs with its lifespan, served over HTTP by uvicorn on a loop of its own (schemathesis
calls synchronously), on a fresh PostgreSQL database, migrated, beside the test broker; its demo data
(or a little of it) is loaded through its API first, and the ids of what it holds are handed to the
generator as a dictionary, so that a route that reads one thing reaches its handler instead of 404.
Workers stay off except publication's consumer, the only way data reaches its listing: what is fuzzed
is the doors, and a worker racing the fuzzer makes no run reproducible. Every pass runs twice: with an
``admin`` token, and with a portal token of a demo provider over the routes that admit portal tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from unittest import SkipTest

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.schemas import BaseSchema

from tests.conftest import Kafka
from tests.integration.backbone import settings_for
from tests.support import LoopThread, loop_thread, served
from zorg_claims.entrypoints.demo import demo_lines
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common import clock
from zorg_common.app import create_app
from zorg_common.auth import issue_token
from zorg_common.migrations import upgrade
from zorg_common.service import ServiceSpec
from zorg_common.settings import ServiceSettings
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.settings import ContractingSettings
from zorg_eligibility.entrypoints.demo import DEMO_ACCOUNT, DEMO_PASSWORD, demo_providers
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.service import SPEC as PUBLICATION
from zorg_publication.settings import PublicationSettings

pytestmark = pytest.mark.integration

#: The provider whose portal token the second pass uses: the demo account's (it has claims, an
#: invitation and evaluations in the demos).
PORTAL_AGB = DEMO_ACCOUNT["agb"]
#: Examples per operation in the generating phase (the coverage phase adds its boundary cases).
MAX_EXAMPLES = 12

# A raw e-mail goes as the bytes generated for it (`POST /follow-formats`).
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)


@dataclasses.dataclass
class Seeded:
    """A service running and loaded: its base URL, the tokens, and the ids to draw from."""

    base: str
    settings: ServiceSettings
    portal_token: str
    values: dict[str, list[str]]  # parameter ("path.agb", "query.agb", "body.agb") -> known values


def _token(settings: ServiceSettings) -> Callable[..., str]:
    def token(*scopes: str, agb: str | None = None) -> str:
        return issue_token(settings, scopes, agb=agb, subject="fuzz-demo")

    return token


def _admin(settings: ServiceSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, ['admin'], subject='fuzz-admin')}"}


def _serve(thread: LoopThread, spec: ServiceSpec, settings: ServiceSettings, *, workers: bool = False) -> str:
    base: str = thread.enter(served(create_app(spec, settings, workers=workers)))
    return base


async def _ids(client: httpx.AsyncClient, path: str, headers: dict[str, str], field: str = "id") -> list[str]:
    response = await client.get(path, params={"page_size": 200}, headers=headers)
    response.raise_for_status()
    return [item[field] for item in response.json()["items"]]


def _eligibility(thread: LoopThread, url: str, kafka: Kafka, prefix: str) -> Seeded:
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(EligibilitySettings, url, kafka, prefix)
    base = _serve(thread, ELIGIBILITY, settings)

    async def seed() -> Seeded:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            assert ELIGIBILITY.demo is not None
            await ELIGIBILITY.demo(client, _token(settings))
            login = await client.post(
                "/portal/token", data={"username": DEMO_ACCOUNT["email"], "password": DEMO_PASSWORD}
            )
            login.raise_for_status()
            accounts = await _ids(client, "/portal/accounts", _admin(settings))
        agbs = [agb for agb, _ in demo_providers()]
        values = {"agb": agbs, "account_id": accounts, "policy_id": ["GLI-2023", "GGZ-2021"]}
        return Seeded(base, settings, login.json()["access_token"], values)

    seeded: Seeded = thread.run(seed())
    return seeded


def _contracting(thread: LoopThread, make_pg_url: Callable[[], str], kafka: Kafka, prefix: str) -> Seeded:
    eligibility = _eligibility(thread, make_pg_url(), kafka, prefix)
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    # No SMTP listener: the mail door is the same pipeline as POST /follow-formats, and not HTTP.
    settings = settings_for(
        ContractingSettings, url, kafka, prefix, ELIGIBILITY_URL=eligibility.base, SMTP_ENABLED=False
    )
    base = _serve(thread, CONTRACTING, settings)

    async def seed() -> Seeded:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            assert CONTRACTING.demo is not None
            await CONTRACTING.demo(client, _token(settings))
            staff = _admin(settings)
            values = {
                "intake_id": await _ids(client, "/follow-formats", staff),
                "negotiation_id": await _ids(client, "/negotiations", staff),
                "invitation_id": await _ids(client, "/invitations", staff),
                "contract_id": await _ids(client, "/contracts", staff),
                "agb": eligibility.values["agb"],
                "policy_id": eligibility.values["policy_id"],
            }
        portal = issue_token(settings, ["portal"], agb=PORTAL_AGB, subject="fuzz-portal")
        return Seeded(base, settings, portal, values)

    seeded: Seeded = thread.run(seed())
    return seeded


def _claims(thread: LoopThread, url: str, kafka: Kafka, prefix: str) -> Seeded:
    upgrade(CLAIMS.migrations, url)
    settings = settings_for(ClaimsSettings, url, kafka, prefix)
    base = _serve(thread, CLAIMS, settings)

    async def seed() -> Seeded:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            staff = _admin(settings)
            taken = await client.post("/claims/batch", json={"lines": demo_lines(clock.today())}, headers=staff)
            taken.raise_for_status()
            values = {
                "claim_id": taken.json()["accepted"],
                "agb": sorted({line["agb"] for line in demo_lines(clock.today())}),
            }
        portal = issue_token(settings, ["portal"], agb=PORTAL_AGB, subject="fuzz-portal")
        return Seeded(base, settings, portal, values)

    seeded: Seeded = thread.run(seed())
    return seeded


def _publication(thread: LoopThread, url: str, kafka: Kafka, prefix: str) -> Seeded:
    from tests.unit.publication.builders import produce, provider, signed

    upgrade(PUBLICATION.migrations, url)
    settings = settings_for(PublicationSettings, url, kafka, prefix)
    base = _serve(thread, PUBLICATION, settings, workers=True)
    year = clock.today().year

    async def seed() -> Seeded:
        agbs = ["40000001", "40000002", "40000030"]
        await produce(
            kafka.bootstrap,
            prefix,
            *(provider(agb, f"Zorggroep {agb}") for agb in agbs),
            *(signed(agb, years=(year - 1, year)) for agb in agbs),
        )
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:

            async def listed() -> bool:
                body = (await client.get("/listings/preview", params={"year": year}, headers=_admin(settings))).json()
                return len(body["items"]) == len(agbs)

            from tests.conftest import eventually

            await eventually(listed, timeout=60)
        portal = issue_token(settings, ["portal"], agb=PORTAL_AGB, subject="fuzz-portal")
        return Seeded(base, settings, portal, {})

    seeded: Seeded = thread.run(seed())
    return seeded


def _config(seeded: Seeded, token: str, values: dict[str, list[str]]) -> schemathesis.Config:
    """Deterministic, bounded, the checks named above; known values drawn half of the time."""
    return schemathesis.Config.from_dict(
        {
            "seed": 20231101,
            "base-url": seeded.base,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "headers": {"Authorization": f"Bearer {token}"},
            "dictionaries": {name: {"values": known} for name, known in values.items()},
            "parameters": {
                f"{where}.{name}": {"dictionary": name, "probability": 0.5}
                for name in values
                for where in ("path", "query", "body")
            },
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        }
    )


def _admits_portal(operation: dict[str, Any]) -> bool:
    return "portal" in operation.get("x-scopes", [])


def _schemas(seeded: Seeded) -> list[tuple[str, BaseSchema]]:
    """The passes: a portal token over the routes that admit one, if any (its own AGB code drawn half of
    the time), then ``admin`` over every route (after which the portal's account may be disabled)."""
    url = f"{seeded.base}/openapi.json"
    admin_token = issue_token(seeded.settings, ["admin"], subject="fuzz-admin")
    admin = schemathesis.openapi.from_url(url, config=_config(seeded, admin_token, seeded.values))
    operations = [op for ops in admin.raw_schema["paths"].values() for op in ops.values()]
    if not any(_admits_portal(op) for op in operations):
        return [("admin", admin)]
    portal = schemathesis.openapi.from_url(
        url, config=_config(seeded, seeded.portal_token, {**seeded.values, "agb": [PORTAL_AGB]})
    ).include(lambda ctx: _admits_portal(ctx.operation.definition.raw))
    return [("portal", portal), ("admin", admin)]


@dataclasses.dataclass
class Pass:
    """What one pass found, and the statuses it was answered with (proof that it reached the handlers)."""

    token: str
    failures: list[str] = dataclasses.field(default_factory=list)
    statuses: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def reached_the_handlers(self) -> list[str]:
        """Operations whose every answer was a 401: the token did not get them past the door."""
        return [label for label, seen in self.statuses.items() if set(seen) == {401}]


def fuzz(token: str, schema: BaseSchema) -> Pass:
    """Every operation of ``schema`` through schemathesis' phases; what failed, operation by operation."""
    load_all_checks()
    found = Pass(token)

    def call(case: Case[Any]) -> None:
        response = case.call_and_validate()
        found.statuses.setdefault(case.operation.label, []).append(response.status_code)

    # The operations one by one, as `schema.parametrize()` would (its lazy, fixture-fed form needs a
    # pytest internal that pytest 9.2 no longer has); a failure is kept and the next operation runs.
    for result in get_all_tests(schema=schema, test_func=call, settings=None, given_kwargs=None):
        if isinstance(result, Err):
            found.failures.append(f"invalid schema: {result.err()}")
            continue
        operation, test = result.ok()
        try:
            test()
        except SkipTest:
            continue
        except (FailureGroup, Exception) as exc:  # the checks that failed, or an error reaching the service
            found.failures.append(f"{token} token, {operation.label}: {exc}")
    return found


SEEDERS: dict[str, Callable[[LoopThread, Callable[[], str], Kafka, str], Seeded]] = {
    "eligibility": lambda thread, make_url, kafka, prefix: _eligibility(thread, make_url(), kafka, prefix),
    "contracting": _contracting,
    "claims": lambda thread, make_url, kafka, prefix: _claims(thread, make_url(), kafka, prefix),
    "publication": lambda thread, make_url, kafka, prefix: _publication(thread, make_url(), kafka, prefix),
}


@pytest.mark.parametrize("service", list(SEEDERS))
def test_every_door_answers_as_its_document_says(
    service: str, make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    with loop_thread() as thread:
        seeded = SEEDERS[service](thread, make_pg_url, kafka, topic_prefix)
        passes = [fuzz(token, schema) for token, schema in _schemas(seeded)]
    failures = [failure for done in passes for failure in done.failures]
    assert not failures, "\n\n".join(failures)
    for done in passes:
        assert done.statuses, f"{done.token}: no operation was called"
        assert not done.reached_the_handlers(), f"{done.token}: only ever 401: {done.reached_the_handlers()}"
