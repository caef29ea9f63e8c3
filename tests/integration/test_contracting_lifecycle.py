"""The procurement lifecycle: a rejection keeps it open, the deadline closes it by itself (and claims follow),
extensions and all-year contract requests, and the GGZ year: questionnaire, no second invitation, contract requests."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import Kafka, eventually
from tests.integration import test_contracting_harness as harness
from tests.integration.backbone import settings_for
from tests.integration.claims_world import gli_line
from tests.integration.test_contracting_harness import MAIL, Contracting, contracting_settings
from tests.support import running_app
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common import clock
from zorg_common.auth import issue_token
from zorg_common.migrations import upgrade
from zorg_common.policy import policies, policy_dirs
from zorg_contracting.adapters.eligibility import EligibilityClient
from zorg_contracting.entrypoints.deadline import deadline_closer
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.service_layer.pipeline import Pipeline
from zorg_contracting.service_layer.procurements import close_at_deadline
from zorg_eligibility.entrypoints.demo import load_demo
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration
contracting, eligibility = harness.contracting, harness.eligibility  # the fixtures
PRACTITIONER, SMALL, LARGE, SIZE_UNKNOWN, NO_STATUTE = "40000030", "40000031", "40000032", "40000033", "40000034"
ANSWERS = [
    {"question": "WACHTTIJDEN_GEPUBLICEERD", "answer": True},
    {"question": "ROM_DEELNAME", "answer": "ja"},
    {"question": "AANTAL_BEHANDELAARS", "answer": 3},
]


async def _close_due(c: Contracting) -> list[str]:
    """What the deadline worker does on each round, once."""
    runtime = c.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.uow() as uow:
        closed = await close_at_deadline(uow, clock.today(), policies())
        await uow.commit()
    return closed


async def test_a_rejected_format_keeps_the_procurement_and_the_corrected_one_is_followed_under_it(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2022-10-15")
    first = await c.intake((await c.post_mail((MAIL / "missing_fields.eml").read_bytes()))["intake_id"])
    assert first["status"] == "rejected" and first["procurement_id"]  # the provider may resend until the deadline
    corrected = await c.intake((await c.post_mail((MAIL / "good_xlsx.eml").read_bytes()))["intake_id"])
    assert corrected["status"] == "accepted" and corrected["procurement_id"] == first["procurement_id"]
    events = await c.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]  # never closed in between


async def test_after_the_deadline_a_rejected_format_opens_nothing(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2022-11-02")
    late = await c.intake((await c.post_mail((MAIL / "missing_fields.eml").read_bytes()))["intake_id"])
    assert late["status"] == "rejected" and late["procurement_id"] is None and late["reply"]


async def test_an_extension_moves_the_close_and_a_new_institutions_request_is_not_closed_by_the_deadline(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    await c.earlier_agreement(LARGE, 2020)  # not new: its negotiation is bound to the deadline
    monkeypatch.setenv("ZORG_TODAY", "2020-09-01")
    negotiation = (
        await c.client.post("/negotiations", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    ).json()["id"]
    asked = await c.client.post("/contract-requests", json={"agb": SMALL, "policy_id": "GGZ-2021"}, headers=c.staff)
    assert asked.json()["outcome"] == "invited"
    run = await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    assert run.json()["count"] == 1 and run.json()["already_invited"] == 1  # the practitioner; SMALL asked already
    extended = await c.client.post(
        f"/negotiations/{negotiation}/deadline-extension", json={"until": "2020-11-20"}, headers=c.staff
    )
    assert extended.status_code == 200
    monkeypatch.setenv("ZORG_TODAY", "2020-11-01")
    assert await _close_due(c) == []  # the deadline day itself is still in time
    monkeypatch.setenv("ZORG_TODAY", "2020-11-02")
    assert len(await _close_due(c)) == 1  # the practitioner's invitation; not the extension, not the request
    invitations = {i["agb"]: i["status"] for i in (await c.client.get("/invitations", headers=c.staff)).json()["items"]}
    assert invitations == {PRACTITIONER: "closed", SMALL: "invited"}
    monkeypatch.setenv("ZORG_TODAY", "2020-11-21")
    assert len(await _close_due(c)) == 1  # the extension is over
    assert (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["state"] == "closed"
    monkeypatch.setenv("ZORG_TODAY", "2021-03-01")
    assert await _close_due(c) == []
    mine = c.auth("portal", agb=SMALL)
    invitation = asked.json()["invitation_id"]
    signed = await c.client.post(f"/invitations/{invitation}/accept", json={"answers": ANSWERS}, headers=mine)
    assert signed.status_code == 200 and signed.json()["status"] == "accepted"  # a new institution, all year
    events = await c.events(6)  # three started, two closed, one signed
    closed = sorted(
        (e["data"]["agb"], e["data"]["reason"], e["data"]["closed_on"])
        for e in events
        if e["type"] == "ProcurementClosed"
    )
    assert closed == [(PRACTITIONER, "deadline", "2020-11-01"), (LARGE, "deadline", "2020-11-20")]


async def test_contract_requests_all_year(contracting: Contracting, monkeypatch: pytest.MonkeyPatch) -> None:
    c = contracting

    async def ask(agb: str, headers: dict[str, str] | None = None, policy_id: str = "GGZ-2021") -> httpx.Response:
        return await c.client.post(
            "/contract-requests", json={"agb": agb, "policy_id": policy_id}, headers=headers or c.staff
        )

    monkeypatch.setenv("ZORG_TODAY", "2020-12-01")  # after the deadline
    late = await ask(PRACTITIONER, c.auth("portal", agb=PRACTITIONER))
    assert late.status_code == 409 and "only a new institution" in late.json()["detail"]
    invited = await ask(SMALL, c.auth("portal", agb=SMALL))
    assert invited.status_code == 200 and invited.json()["outcome"] == "invited"
    again = await ask(SMALL)
    assert again.json() == invited.json()  # asking twice changes nothing
    negotiation = await ask(LARGE)
    assert negotiation.json()["outcome"] == "negotiation" and negotiation.json()["negotiation_id"]
    assert (await ask(LARGE)).json()["negotiation_id"] == negotiation.json()["negotiation_id"]
    not_eligible = (await ask(NO_STATUTE)).json()
    assert not_eligible["outcome"] == "not_eligible"
    assert [r["field"] for r in not_eligible["reasons"]] == [
        "criterium QUALITY_STATUTE_II_APPROVED",
        "Voorwaarden inkoopbeleid",
    ]
    assert (await ask(SIZE_UNKNOWN)).status_code == 409
    assert (await ask("49999999")).status_code == 404
    assert (await ask(SMALL, c.auth("portal", agb=PRACTITIONER))).status_code == 403  # only for itself
    assert (await ask("40000001", policy_id="GLI-2023")).status_code == 409  # the follow route: send a format
    assert (await ask(SMALL, policy_id="GGZ-1999")).status_code == 422
    accepted = await c.client.post(
        f"/invitations/{invited.json()['invitation_id']}/accept", headers=c.auth("portal", agb=SMALL)
    )  # no body: it is optional
    assert accepted.status_code == 200, accepted.text
    contracted = (await ask(SMALL)).json()
    assert contracted["outcome"] == "already_contracted" and contracted["contract_id"] == accepted.json()["contract_id"]


async def test_an_invitation_carries_the_questionnaire_and_the_answers_stay_with_the_contract(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-09-01")
    await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    portal = c.auth("portal", agb=PRACTITIONER)
    [invitation] = (await c.client.get("/invitations", headers=portal)).json()["items"]
    assert [q["id"] for q in invitation["questionnaire"]] == [
        "WACHTTIJDEN_GEPUBLICEERD",
        "ROM_DEELNAME",
        "AANTAL_BEHANDELAARS",
        "TOELICHTING",
    ]
    url = f"/invitations/{invitation['id']}/accept"
    bad = await c.client.post(url, json={"answers": [{"question": "ROM_DEELNAME", "answer": "soms"}]}, headers=portal)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["answers[0].answer", "answers"]  # and two unanswered
    signed = await c.client.post(url, json={"signatory": "Drs. Van Dijk", "answers": ANSWERS}, headers=portal)
    assert signed.status_code == 200, signed.text
    contract = (await c.client.get(f"/contracts/{signed.json()['contract_id']}", headers=portal)).json()
    assert contract["answers"] == [
        {"question": "WACHTTIJDEN_GEPUBLICEERD", "answer": True},
        {"question": "ROM_DEELNAME", "answer": True},
        {"question": "AANTAL_BEHANDELAARS", "answer": 3},
    ]


@pytest.fixture
def ggz_2022(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Next year's GGZ policy, added as data (a file), for the second year of a two-year contract."""
    data: dict[str, Any] = yaml.safe_load((policy_dirs()[0] / "GGZ-2021.yaml").read_text())
    data.update(id="GGZ-2022", contract_year=2022)
    data["calendar"] = {
        "published": "2021-07-01",
        "contracting_deadline": "2021-11-01",
        "publication": "2021-11-12",
        "claims_processed_by": "2021-12-31",
    }
    (tmp_path / "GGZ-2022.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("ZORG_POLICY_DIRS", str(tmp_path))
    policies.cache_clear()
    yield
    monkeypatch.delenv("ZORG_POLICY_DIRS")
    policies.cache_clear()


async def test_a_provider_whose_contract_covers_the_year_is_not_invited_again(
    ggz_2022: None, contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-09-01")
    await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    portal = c.auth("portal", agb=PRACTITIONER)
    [invitation] = (await c.client.get("/invitations", headers=portal)).json()["items"]
    signed = await c.client.post(f"/invitations/{invitation['id']}/accept", json={"answers": ANSWERS}, headers=portal)
    assert signed.json()["status"] == "accepted"  # two years: 2021-2022
    monkeypatch.setenv("ZORG_TODAY", "2021-09-01")
    run = (await c.client.post("/invitations", json={"policy_id": "GGZ-2022"}, headers=c.staff)).json()
    assert (run["count"], run["already_contracted"]) == (1, 1)  # the small institution; not the practitioner
    listed = (await c.client.get("/invitations?policy_id=GGZ-2022", headers=c.staff)).json()["items"]
    assert [i["agb"] for i in listed] == [SMALL]


@pytest.fixture
async def platform(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Contracting, httpx.AsyncClient]]:
    """Eligibility (with its relay: providers and evaluations reach claims), contracting, and claims."""
    monkeypatch.setenv("ZORG_TODAY", "2022-10-15")
    eligibility_url, contracting_url, claims_url = make_pg_url(), make_pg_url(), make_pg_url()
    for spec, url in ((ELIGIBILITY, eligibility_url), (CONTRACTING, contracting_url), (CLAIMS, claims_url)):
        upgrade(spec.migrations, url)
    eligibility_settings = settings_for(EligibilitySettings, eligibility_url, kafka, topic_prefix)
    claims_settings = settings_for(ClaimsSettings, claims_url, kafka, topic_prefix)
    settings = contracting_settings(contracting_url, kafka, topic_prefix)
    async with (
        running_app(ELIGIBILITY, eligibility_settings) as eligibility_client,
        running_app(CONTRACTING, settings) as client,
        running_app(CLAIMS, claims_settings) as claims,
    ):

        def token(*scopes: str, agb: str | None = None) -> str:
            return issue_token(eligibility_settings, scopes, agb=agb, subject="test-demo")

        await load_demo(eligibility_client, token)
        pipeline: Pipeline = client.app.state.contracting  # type: ignore[attr-defined]
        await pipeline.eligibility.close()
        pipeline.eligibility = EligibilityClient(settings, http=eligibility_client)
        yield Contracting(client, eligibility_client, settings, kafka), claims


async def test_the_deadline_closes_a_procurement_and_the_held_claim_is_released_without_any_call(
    platform: tuple[Contracting, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, claims = platform
    claims_staff = {"Authorization": c.auth("claims:read", "claims:write")["Authorization"]}
    rejected = await c.post_mail((MAIL / "missing_fields.eml").read_bytes())  # 15 October: procurement open
    assert rejected["status"] == "rejected"
    monkeypatch.setenv("ZORG_TODAY", "2023-02-10")
    line = gli_line("DL-1", agb="40000001")  # a care group's 2023 intake, received in February 2023
    attempts = iter(_bsns())

    async def held() -> str | None:
        """A new line once claims has the procurement: it waits for it (each try another person, no duplicate)."""
        response = await claims.post(
            "/claims",
            json={**line, "provider_reference": f"DL-{dt.datetime.now().timestamp()}", "bsn": next(attempts)},
            headers=claims_staff,
        )
        claim = str(response.json()["id"])

        async def decided() -> dict[str, Any] | None:
            body: dict[str, Any] = (await claims.get(f"/claims/{claim}", headers=claims_staff)).json()
            return body if body["status"] != "received" else None

        return claim if (await eventually(decided, timeout=30))["reasons"] == ["AWAITING_CONTRACT"] else None

    claim_id = await eventually(held, timeout=60, interval=1)
    # Nobody calls anything: the worker finds the deadline passed and closes the procurement.
    stop = asyncio.Event()
    worker = asyncio.create_task(deadline_closer(c.client.app.state.runtime, stop))  # type: ignore[attr-defined]
    try:

        async def released() -> dict[str, Any] | None:
            body: dict[str, Any] = (await claims.get(f"/claims/{claim_id}", headers=claims_staff)).json()
            return body if body["status"] != "pending" else None

        decided = await eventually(released, timeout=60, interval=0.5)
    finally:
        stop.set()
        await worker
    assert "AWAITING_CONTRACT" not in decided["reasons"]  # judged without a contract: the non-contracted rate
    events = await c.events(2)
    closed = [e["data"] for e in events if e["type"] == "ProcurementClosed"]
    assert [(d["agb"], d["reason"], d["closed_on"]) for d in closed] == [("40000001", "deadline", "2022-11-01")]


def _bsns() -> Iterator[str]:
    """BSNs that pass the elfproef."""
    for n in range(100_000_000, 999_999_999):
        digits = [int(d) for d in f"{n:09d}"]
        if (sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]) % 11 == 0:
            yield f"{n:09d}"
