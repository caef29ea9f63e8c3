"""Schemathesis over each service's OpenAPI document, against the real app: no 5xx, and every answer as
the document says (status, content type, body, headers); input outside the document is refused.

Each service runs with its lifespan, served over HTTP by uvicorn on an event loop of its own
(schemathesis calls synchronously), on a fresh PostgreSQL database, migrated, beside the test broker.
Its demo data (or a little of it) goes in through its API first, and the ids of what it holds are
handed to the generator as dictionaries drawn half of the time, so that a route that reads one thing
reaches its handler and not only a 404. Workers stay off, except publication's consumer, the only way
data reaches its listing: what is fuzzed is the doors, and a worker racing the generator would make no
run repeatable. Two passes per service: a portal token of a demo provider over the routes that admit
portal tokens (``x-scopes``), then an ``admin`` token over every route. Deterministic (a fixed seed,
derandomized), with a bounded number of examples per operation.
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

from tests.conftest import Kafka, eventually
from tests.integration.backbone import settings_for
from tests.support import LoopThread, loop_thread, served
from tests.unit.publication.builders import produce, provider, signed
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

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies draw from `random`; Hypothesis warns about them, not about our code.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

#: The provider whose portal token the portal pass uses: the demo account's (it has claims, an
#: invitation and evaluations in the demos).
PORTAL_AGB = DEMO_ACCOUNT["agb"]
#: Examples per operation in the generating phase (the coverage phase adds its boundary cases).
MAX_EXAMPLES = 12
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)

# A raw e-mail (`POST /follow-formats`) goes as the bytes generated for it.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")


@dataclasses.dataclass
class Seeded:
    """A service running and loaded: its base URL, settings, a portal token, the values to draw from."""

    base: str
    settings: ServiceSettings
    portal_token: str
    values: dict[str, list[str]]  # parameter name (in the path, the query or the body) -> known values


def _token(settings: ServiceSettings, *scopes: str, agb: str | None = None) -> str:
    return issue_token(settings, scopes, agb=agb, subject="fuzz")


def _staff(settings: ServiceSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(settings, 'admin')}"}


def _tokens(settings: ServiceSettings) -> Callable[..., str]:
    """The token factory a demo loader takes."""

    def token(*scopes: str, agb: str | None = None) -> str:
        return _token(settings, *scopes, agb=agb)

    return token


def _serve(thread: LoopThread, spec: ServiceSpec, settings: ServiceSettings, *, workers: bool = False) -> str:
    base: str = thread.enter(served(create_app(spec, settings, workers=workers)))
    return base


async def _ids(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[str]:
    response = await client.get(path, params={"page_size": 200}, headers=headers)
    response.raise_for_status()
    return [item["id"] for item in response.json()["items"]]


def _eligibility(thread: LoopThread, make_url: Callable[[], str], kafka: Kafka, prefix: str) -> Seeded:
    """The demo providers, and the demo account logged in: its token is a real portal token."""
    url = make_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(EligibilitySettings, url, kafka, prefix)
    base = _serve(thread, ELIGIBILITY, settings)

    async def seed() -> Seeded:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            assert ELIGIBILITY.demo is not None
            await ELIGIBILITY.demo(client, _tokens(settings))
            login = await client.post(
                "/portal/token", data={"username": DEMO_ACCOUNT["email"], "password": DEMO_PASSWORD}
            )
            login.raise_for_status()
            accounts = await _ids(client, "/portal/accounts", _staff(settings))
        values = {
            "agb": [agb for agb, _ in demo_providers()],
            "account_id": accounts,
            "policy_id": ["GLI-2023", "GGZ-2021"],
        }
        return Seeded(base, settings, login.json()["access_token"], values)

    seeded: Seeded = thread.run(seed())
    return seeded


def _contracting(thread: LoopThread, make_url: Callable[[], str], kafka: Kafka, prefix: str) -> Seeded:
    """The contracting demo (follow formats, a negotiation, invitations), deciding with eligibility over HTTP
    and pricing offers with the volumes of a real claims service."""
    eligibility = _eligibility(thread, make_url, kafka, prefix)
    claims = _claims(thread, make_url, kafka, prefix)
    url = make_url()
    upgrade(CONTRACTING.migrations, url)
    # No SMTP listener: the mail door hands the same bytes to the same pipeline as POST /follow-formats.
    settings = settings_for(
        ContractingSettings,
        url,
        kafka,
        prefix,
        ELIGIBILITY_URL=eligibility.base,
        CLAIMS_URL=claims.base,
        SMTP_ENABLED=False,
    )
    base = _serve(thread, CONTRACTING, settings)

    async def seed() -> Seeded:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            assert CONTRACTING.demo is not None
            await CONTRACTING.demo(client, _tokens(settings))
            staff = _staff(settings)
            values = {
                "intake_id": await _ids(client, "/follow-formats", staff),
                "negotiation_id": await _ids(client, "/negotiations", staff),
                "invitation_id": await _ids(client, "/invitations", staff),
                "contract_id": await _ids(client, "/contracts", staff),
                "agb": eligibility.values["agb"],
                "policy_id": eligibility.values["policy_id"],
            }
        return Seeded(base, settings, _token(settings, "portal", agb=PORTAL_AGB), values)

    seeded: Seeded = thread.run(seed())
    return seeded


def _claims(thread: LoopThread, make_url: Callable[[], str], kafka: Kafka, prefix: str) -> Seeded:
    """The demo's claim lines (they stay `received`: adjudication is a worker, and workers are off)."""
    url = make_url()
    upgrade(CLAIMS.migrations, url)
    settings = settings_for(ClaimsSettings, url, kafka, prefix)
    base = _serve(thread, CLAIMS, settings)
    lines = demo_lines(clock.today())

    async def seed() -> Seeded:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            taken = await client.post("/claims/batch", json={"lines": lines}, headers=_staff(settings))
            taken.raise_for_status()
        values = {"claim_id": taken.json()["accepted"], "agb": sorted({line["agb"] for line in lines})}
        return Seeded(base, settings, _token(settings, "portal", agb=PORTAL_AGB), values)

    seeded: Seeded = thread.run(seed())
    return seeded


def _publication(thread: LoopThread, make_url: Callable[[], str], kafka: Kafka, prefix: str) -> Seeded:
    """Three providers with contracts for last year and this one, through the broker and the consumer."""
    url = make_url()
    upgrade(PUBLICATION.migrations, url)
    settings = settings_for(PublicationSettings, url, kafka, prefix)
    base = _serve(thread, PUBLICATION, settings, workers=True)
    year, agbs = clock.today().year, ["40000001", "40000002", PORTAL_AGB]

    async def seed() -> Seeded:
        events = [provider(agb, f"Zorggroep {agb}") for agb in agbs]
        await produce(kafka.bootstrap, prefix, *events, *(signed(agb, years=(year - 1, year)) for agb in agbs))
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=_staff(settings)) as client:

            async def listed() -> bool:
                preview = await client.get("/listings/preview", params={"year": year})
                return len(preview.json()["items"]) == len(agbs)

            await eventually(listed, timeout=60)
        return Seeded(base, settings, _token(settings, "portal", agb=PORTAL_AGB), {})

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
    admin = schemathesis.openapi.from_url(url, config=_config(seeded, _token(seeded.settings, "admin"), seeded.values))
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

    def stopped_at_the_door(self) -> list[str]:
        """Operations whose every answer was a 401: the token never got them to their handler."""
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
    "eligibility": _eligibility,
    "contracting": _contracting,
    "claims": _claims,
    "publication": _publication,
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
        assert not done.stopped_at_the_door(), f"{done.token} token: only ever 401: {done.stopped_at_the_door()}"
