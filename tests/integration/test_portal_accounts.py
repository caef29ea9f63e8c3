"""Mijn Zorgverlener over HTTP on PostgreSQL: accounts, activation, log-in, lockout, password change
and reset, the bank account with the password asked again, and what a portal token sees."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, text, update

from tests.conftest import eventually
from tests.integration.test_eligibility_api import CARE_GROUP, auth, client, settings
from zorg_common.auth import decode_token
from zorg_eligibility.adapters.orm import portal_accounts, providers
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration
__all__ = ["client", "settings"]  # the fixtures, shared with the register's tests

AGB = "12345678"
PERSON = {"agb": AGB, "name": "A. de Boer", "email": "A.deBoer@Noord.example ", "birth_date": "1975-06-15"}
PASSWORD = "Leefstijl23"


async def register(client: httpx.AsyncClient, settings: EligibilitySettings, agb: str = AGB, **changes: Any) -> None:
    response = await client.put(f"/providers/{agb}", json={**CARE_GROUP, **changes}, headers=auth(settings, "admin"))
    assert response.status_code in (200, 201), response.text


async def new_account(client: httpx.AsyncClient, settings: EligibilitySettings, **changes: Any) -> dict[str, Any]:
    response = await client.post("/portal/accounts", json={**PERSON, **changes}, headers=auth(settings, "admin"))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def active_account(client: httpx.AsyncClient, settings: EligibilitySettings, **changes: Any) -> dict[str, Any]:
    account = await new_account(client, settings, **changes)
    body = {"code": account["activation_code"], "birth_date": PERSON["birth_date"], "password": PASSWORD}
    assert (await client.post("/portal/activate", json=body)).status_code == 204
    return account


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/portal/token", data={"username": email, "password": password})


async def portal_headers(client: httpx.AsyncClient, email: str = "a.deboer@noord.example") -> dict[str, str]:
    response = await log_in(client, email, PASSWORD)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def engine_of(client: httpx.AsyncClient) -> Any:
    return client.app.state.runtime.engine  # type: ignore[attr-defined]


async def test_staff_create_list_and_disable_accounts(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    await register(client, settings)
    created = await new_account(client, settings)
    assert created["status"] == "pending" and created["email"] == "a.deboer@noord.example"
    assert len(created["activation_code"]) == 19  # XXXX-XXXX-XXXX-XXXX
    expires = dt.datetime.fromisoformat(created["activation_code_expires_at"])
    assert dt.timedelta(days=13, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=14)
    assert "birth_date" not in created and "password_hash" not in created

    staff = auth(settings, "providers:write", "providers:read")
    again = await client.post("/portal/accounts", json={**PERSON, "email": "a.deboer@noord.example"}, headers=staff)
    assert again.status_code == 409
    unknown = await client.post("/portal/accounts", json={**PERSON, "agb": "99999999"}, headers=staff)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "agb"
    bad = await client.post(
        "/portal/accounts", json={**PERSON, "email": "geen adres", "birth_date": "2999-01-01"}, headers=staff
    )
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"email", "birth_date"}
    assert (
        await client.post("/portal/accounts", json=PERSON, headers=auth(settings, "claims:read"))
    ).status_code == 403
    portal = auth(settings, "portal", agb=AGB)
    assert (await client.post("/portal/accounts", json=PERSON, headers=portal)).status_code == 403
    assert (await client.get("/portal/accounts", headers=portal)).status_code == 403

    listed = (await client.get(f"/portal/accounts?agb={AGB}", headers=staff)).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]
    assert (await client.get("/portal/accounts?agb=87654321", headers=staff)).json()["total"] == 0
    disabled = await client.post(f"/portal/accounts/{created['id']}/disable", headers=staff)
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert (await client.post("/portal/accounts/nope/disable", headers=staff)).status_code == 404
    # A disabled account cannot be activated: the same answer as a wrong code.
    activation = {"code": created["activation_code"], "birth_date": PERSON["birth_date"], "password": PASSWORD}
    assert (await client.post("/portal/activate", json=activation)).status_code == 400


async def test_activation_names_every_broken_rule_and_answers_wrong_inputs_alike(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    await register(client, settings)
    account = await new_account(client, settings)
    code = account["activation_code"]

    weak = await client.post(
        "/portal/activate", json={"code": code, "birth_date": PERSON["birth_date"], "password": "<kort>"}
    )
    assert weak.status_code == 422
    messages = [e["message"] for e in weak.json()["errors"]]
    assert {e["field"] for e in weak.json()["errors"]} == {"password"}
    assert any("te kort" in m for m in messages) and any("cijfer" in m for m in messages)
    assert any("< >" in m for m in messages) and not any("letter" in m for m in messages)
    assert "<kort>" not in weak.text  # the password is never echoed

    wrong_date = await client.post(
        "/portal/activate", json={"code": code, "birth_date": "1975-06-16", "password": PASSWORD}
    )
    wrong_code = await client.post(
        "/portal/activate",
        json={"code": "AAAA-BBBB-CCCC-DDDD", "birth_date": PERSON["birth_date"], "password": PASSWORD},
    )
    assert wrong_date.status_code == wrong_code.status_code == 400
    assert wrong_date.json() == wrong_code.json()

    typed_loosely = code.lower().replace("-", " ")  # as a person may type it
    ok = await client.post(
        "/portal/activate", json={"code": typed_loosely, "birth_date": PERSON["birth_date"], "password": PASSWORD}
    )
    assert ok.status_code == 204, ok.text
    used = await client.post(
        "/portal/activate", json={"code": code, "birth_date": PERSON["birth_date"], "password": PASSWORD}
    )
    assert used.status_code == 400 and used.json() == wrong_code.json()


async def test_log_in_gives_a_fifteen_minute_portal_token_that_another_service_accepts(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    await register(client, settings)
    account = await active_account(client, settings)

    wrong_password = await log_in(client, "a.deboer@noord.example", "Verkeerd123")
    unknown = await log_in(client, "niemand@noord.example", PASSWORD)
    not_an_address = await log_in(client, "x", PASSWORD)
    assert wrong_password.status_code == unknown.status_code == not_an_address.status_code == 400
    assert wrong_password.json() == unknown.json() == not_an_address.json()

    response = await log_in(client, "  A.DEBOER@noord.example", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900 and body["scope"] == "portal"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] == account["id"] and claims["agb"] == AGB and claims["scope"] == "portal"
    assert claims["iss"] == settings.ZORG_PORTAL_ISSUER and "email" not in claims
    # Any service verifies it with the settings it already has (here: a claims service's settings).
    from zorg_claims.settings import ClaimsSettings

    principal = decode_token(ClaimsSettings(_env_file=None), body["access_token"])  # type: ignore[call-arg]
    assert principal.is_portal and principal.agb == AGB

    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get(f"/providers/{AGB}", headers=headers)).status_code == 200
    await register(client, settings, agb="87654321", name="Ander")
    assert (await client.get("/providers/87654321", headers=headers)).status_code == 403

    # The OAuth2 form is what FastAPI's docs (and any OAuth2 client) use.
    schema = (await client.get("/openapi.json")).json()
    flows = [s.get("flows", {}) for s in schema["components"]["securitySchemes"].values()]
    assert any(f.get("password", {}).get("tokenUrl") == "/portal/token" for f in flows)


async def test_five_failures_lock_the_account_for_fifteen_minutes(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    await register(client, settings)
    account = await active_account(client, settings)
    email = "a.deboer@noord.example"
    refused = (await log_in(client, email, "Verkeerd1")).json()
    for _ in range(4):
        assert (await log_in(client, email, "Verkeerd1")).status_code == 400
    locked = await log_in(client, email, PASSWORD)  # the right password, but locked
    assert locked.status_code == 400 and locked.json() == refused
    listed = (await client.get(f"/portal/accounts?agb={AGB}", headers=auth(settings, "admin"))).json()["items"][0]
    until = dt.datetime.fromisoformat(listed["locked_until"])
    assert dt.timedelta(minutes=14) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=15)

    async with engine_of(client).begin() as conn:  # fifteen minutes pass
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await conn.execute(
            update(portal_accounts).where(portal_accounts.c.id == account["id"]).values(locked_until=past)
        )
    assert (await log_in(client, email, PASSWORD)).status_code == 200
    # A success starts the count again: four failures do not lock.
    for _ in range(4):
        await log_in(client, email, "Verkeerd1")
    assert (await log_in(client, email, PASSWORD)).status_code == 200


async def test_password_change_and_reset_by_mail(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    await register(client, settings)
    await active_account(client, settings)
    email, admin = "a.deboer@noord.example", auth(settings, "admin")
    headers = await portal_headers(client)

    weak = await client.post(
        "/portal/password", json={"current_password": PASSWORD, "new_password": "alleenletters"}, headers=headers
    )
    assert weak.status_code == 422 and {e["field"] for e in weak.json()["errors"]} == {"new_password"}
    wrong = await client.post(
        "/portal/password", json={"current_password": "Verkeerd1", "new_password": "Nieuw2024ab"}, headers=headers
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    changed = await client.post(
        "/portal/password", json={"current_password": PASSWORD, "new_password": "Nieuw2024ab"}, headers=headers
    )
    assert changed.status_code == 204
    assert (await log_in(client, email, "Nieuw2024ab")).status_code == 200
    not_an_account = auth(settings, "portal", agb=AGB)  # a `zorg token` portal token has no account
    assert (
        await client.post(
            "/portal/password", json={"current_password": "x", "new_password": "Nieuw2024ab"}, headers=not_an_account
        )
    ).status_code == 403

    assert (await client.post("/portal/password-reset", json={"email": "niemand@noord.example"})).status_code == 202
    assert (await client.post("/portal/password-reset", json={"email": email.upper()})).status_code == 202
    assert (await client.post("/portal/password-reset", json={"email": email})).status_code == 202  # no second mail
    kept = (await client.get(f"/portal/mail?email={email}", headers=admin)).json()
    assert [m["purpose"] for m in kept] == ["reset"] and kept[0]["sent_at"] is None  # no relay: kept
    code = next(line.strip() for line in kept[0]["body"].splitlines() if line.startswith("    "))
    assert (await client.get("/portal/mail?email=niemand@noord.example", headers=admin)).json() == []
    assert (
        await client.get(f"/portal/mail?email={email}", headers=auth(settings, "providers:write"))
    ).status_code == 403

    confirm = {"code": code, "birth_date": "1975-01-01", "password": "Hersteld99"}
    wrong_date = await client.post("/portal/password-reset/confirm", json=confirm)
    assert wrong_date.status_code == 400
    ok = await client.post("/portal/password-reset/confirm", json={**confirm, "birth_date": PERSON["birth_date"]})
    assert ok.status_code == 204
    assert (await log_in(client, email, "Nieuw2024ab")).status_code == 400
    assert (await log_in(client, email, "Hersteld99")).status_code == 200
    again = await client.post("/portal/password-reset/confirm", json={**confirm, "birth_date": PERSON["birth_date"]})
    assert again.status_code == 400  # a code is used once


async def test_bank_account_change_asks_the_password_again_and_sends_a_notice(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    await register(client, settings)
    await active_account(client, settings)
    headers = await portal_headers(client)
    new = {"iban": "NL91ABNA0417164300", "holder": "ZG Noord"}
    missing = await client.put(f"/providers/{AGB}/bank-account", json=new, headers=headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "password"
    wrong = await client.put(f"/providers/{AGB}/bank-account", json={**new, "password": "Verkeerd1"}, headers=headers)
    assert wrong.status_code == 422 and "Verkeerd1" not in wrong.text
    provider = (await client.get(f"/providers/{AGB}", headers=headers)).json()
    assert provider["bank_account"] is None  # nothing changed

    ok = await client.put(f"/providers/{AGB}/bank-account", json={**new, "password": PASSWORD}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["iban"] == "NL91ABNA0417164300"
    mail = (await client.get("/portal/mail?email=a.deboer@noord.example", headers=auth(settings, "admin"))).json()
    assert [m["purpose"] for m in mail] == ["bank_account"]
    assert "…4300" in mail[0]["body"] and "NL91ABNA0417164300" not in mail[0]["body"]
    # Staff change it without a password; a token without an account cannot change it at all.
    staff = await client.put(
        f"/providers/{AGB}/bank-account", json={**new, "holder": "Noord"}, headers=auth(settings, "admin")
    )
    assert staff.status_code == 200
    no_account = await client.put(
        f"/providers/{AGB}/bank-account", json={**new, "password": PASSWORD}, headers=auth(settings, "portal", agb=AGB)
    )
    assert no_account.status_code == 403
    # Wrong tries count here too: five in a row lock the account, also for this change.
    for _ in range(5):
        await client.put(f"/providers/{AGB}/bank-account", json={**new, "password": "Verkeerd1"}, headers=headers)
    locked = await client.put(f"/providers/{AGB}/bank-account", json={**new, "password": PASSWORD}, headers=headers)
    assert locked.status_code == 422


async def test_a_portal_token_never_sees_the_confidential_criteria_or_their_facts(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    flagged = {**CARE_GROUP["facts"], "in_fraud_register": True, "quality_concerns": True}
    await register(client, settings, facts=flagged)
    await active_account(client, settings)
    headers = await portal_headers(client)
    hidden = (
        "in_fraud_register",
        "fraud_investigation",
        "quality_concerns",
        "NOT_IN_FRAUD_REGISTERS",
        "NO_QUALITY_CONCERNS",
    )

    provider = await client.get(f"/providers/{AGB}", headers=headers)
    listed = await client.get("/providers", headers=headers)
    history = await client.get(f"/providers/{AGB}/evaluations", headers=headers)
    asked = await client.post("/evaluations", json={"agb": AGB, "policy_id": "GLI-2023"}, headers=headers)
    for response in (provider, listed, history, asked):
        assert response.status_code in (200, 201), response.text
        assert not any(word in response.text for word in hidden), response.text
    evaluation = asked.json()
    assert evaluation["eligible"] is False and "Zorginkoop" in evaluation["notice"]
    assert provider.json()["facts"]["wtza_admitted"] is True  # the other facts are there

    staff = await client.get(f"/providers/{AGB}/evaluations", headers=auth(settings, "admin"))
    assert "NOT_IN_FRAUD_REGISTERS" in staff.text and staff.json()["items"][0]["notice"] is None


async def test_hostile_bodies_are_refused_at_the_door(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    huge = await client.post("/portal/token", data={"username": "x" * 10_000, "password": "y"})
    assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"

    async def stream() -> Any:
        yield b'{"email": "' + b"a" * 8_000 + b'"}'

    chunked = await client.post(
        "/portal/password-reset", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    long_password = await client.post(
        "/portal/activate", json={"code": "X", "birth_date": "1975-06-15", "password": "a1" * 200}
    )
    assert long_password.status_code == 422
    assert (await client.post("/portal/token", data={"username": "x"})).status_code == 422
    garbage = await client.post("/portal/activate", content=b"\xff\x00{", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422 and garbage.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in garbage.json()["errors"]] == ["body"]  # not UTF-8: bad input like any other
    assert (
        await client.post("/portal/activate", json={"code": "X", "birth_date": "gisteren", "password": "a"})
    ).status_code == 422


async def test_a_portal_change_never_reverts_a_concurrent_staff_change(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    """Issue 10: the portal sends the record it read; a staff change in between must survive."""

    await register(client, settings)
    await active_account(client, settings)
    headers = await portal_headers(client)
    read = await client.get(f"/providers/{AGB}", headers=headers)
    etag, seen = read.headers["ETag"], read.json()
    moved = {k: seen[k] for k in ("kvk", "name", "kind", "sectors", "care_forms", "facts")}
    moved["address"] = {**seen["address"], "street": "Vismarkt 2"}

    # A staff change that landed after the portal read: the portal's stale write is refused.
    staff = {**CARE_GROUP, "name": "Zorggroep Noord (nieuwe naam)"}
    assert (await client.put(f"/providers/{AGB}", json=staff, headers=auth(settings, "admin"))).status_code == 200
    stale = await client.put(f"/providers/{AGB}", json=moved, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"

    # A staff change still in its transaction while the portal writes: the portal waits for the
    # row lock, then finds a newer version and is refused; the staff change stands.
    fresh = await client.get(f"/providers/{AGB}", headers=headers)
    engine = engine_of(client)
    async with engine.connect() as staff_conn:
        transaction = await staff_conn.begin()
        row = (await staff_conn.execute(select(providers).where(providers.c.agb == AGB).with_for_update())).one()
        await staff_conn.execute(
            update(providers)
            .where(providers.c.agb == AGB)
            .values(
                name="Zorggroep Noord (staff)", facts={**row.facts, "quality_concerns": True}, version=row.version + 1
            )
        )
        portal_write = asyncio.create_task(
            client.put(f"/providers/{AGB}", json=moved, headers={**headers, "If-Match": fresh.headers["ETag"]})
        )

        async def portal_waits_for_the_lock() -> bool:
            async with engine.connect() as probe:
                waiting = await probe.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            return bool(waiting)

        await eventually(portal_waits_for_the_lock, timeout=20)
        await transaction.commit()
    answer = await portal_write
    assert answer.status_code == 412, answer.text
    on_file = (await client.get(f"/providers/{AGB}", headers=auth(settings, "admin"))).json()
    assert on_file["name"] == "Zorggroep Noord (staff)" and on_file["facts"]["quality_concerns"] is True
    assert on_file["address"]["street"] == CARE_GROUP["address"]["street"]

    # Read again, the portal's change applies onto the staff's record.
    current = await client.get(f"/providers/{AGB}", headers=headers)
    again = {k: current.json()[k] for k in ("kvk", "name", "kind", "sectors", "care_forms", "facts")}
    again["address"] = {**current.json()["address"], "street": "Vismarkt 2"}
    applied = await client.put(
        f"/providers/{AGB}", json=again, headers={**headers, "If-Match": current.headers["ETag"]}
    )
    assert applied.status_code == 200 and applied.json()["changed_fields"] == ["street"]
    on_file = (await client.get(f"/providers/{AGB}", headers=auth(settings, "admin"))).json()
    assert on_file["name"] == "Zorggroep Noord (staff)" and on_file["facts"]["quality_concerns"] is True
    assert on_file["address"]["street"] == "Vismarkt 2"


async def test_with_a_relay_the_reset_code_goes_out_by_mail_and_leaves_the_database(
    settings: EligibilitySettings,
) -> None:
    from aiosmtpd.controller import Controller

    from tests.integration.test_contracting_outage import _Relay
    from tests.support import running_app
    from zorg_common.broker import free_port
    from zorg_eligibility.service import SPEC

    relay, port = _Relay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with_relay = settings.model_copy(update={"REPLY_SMTP_HOST": "127.0.0.1", "REPLY_SMTP_PORT": port})
        async with running_app(SPEC, with_relay) as client:
            await register(client, settings)
            await active_account(client, settings)
            email = "a.deboer@noord.example"
            assert (await client.post("/portal/password-reset", json={"email": email})).status_code == 202

            async def delivered() -> bool:
                return bool(relay.messages)

            await eventually(delivered, timeout=20)
            message = relay.messages[0].decode()
            assert f"To: {email}" in message and "From: mijnzorgverlener@zorginkoop.example" in message
            code = next(line.strip() for line in message.splitlines() if line.startswith("    ") and "-" in line)

            async def sent() -> list[Any] | None:
                kept = (await client.get(f"/portal/mail?email={email}", headers=auth(settings, "admin"))).json()
                return kept if kept[0]["sent_at"] else None

            [row] = await eventually(sent, timeout=10)
            assert row["body"] == ""  # the code does not stay in the database
            reset = {"code": code, "birth_date": PERSON["birth_date"], "password": "Hersteld99"}
            assert (await client.post("/portal/password-reset/confirm", json=reset)).status_code == 204
            assert (await log_in(client, email, "Hersteld99")).status_code == 200
    finally:
        controller.stop()
