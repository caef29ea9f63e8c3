"""Demo data for `make run`: follow-format e-mails (good, broken, not eligible, spoofed, for review, a change
request), a contract request that becomes a negotiation, invitations.

Uses the providers of the eligibility demo (AGB 4000xxxx) and sends from their contact addresses
on file (except the spoofed one). The formats are for GLI-2023 and the negotiation and invitations
for GGZ-2021, the two policies there are; their dates are in the past whatever today is, so every
outcome is the same on any day (signing dates are never after today).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import httpx

from zorg_common import clock

from . import samples

log = logging.getLogger(__name__)


def _signed_on() -> str:
    return min(dt.date(2022, 10, 3), clock.today()).strftime("%d-%m-%Y")


def demo_mails() -> list[tuple[str, bytes]]:
    """(what it shows, the raw e-mail); fixed Message-IDs, so a second `make run` changes nothing."""
    signed = _signed_on()
    good_fields = samples.format_fields("40000001", "Zorggroep Leefstijl Noord", "70000001", signed_on=signed)
    csv_fields = samples.format_fields(
        "40000002", "Gezondheidscentrum De Linde", "70000002", contact="inkoop@delinde.example", signed_on=signed
    )
    broken_fields = samples.format_fields("4000001", "Zorggroep Onvolledig", "7000", uzovi="3311", signed_on=signed)
    broken_tariffs = [("GLI-INTAKE", "Intake", "€ 95,00"), ("GLI-ONBEKEND", "Onbekend", "€ 10,00")]
    # Beweeg 6 is in the fraud register (eligibility demo).
    fraud_fields = samples.format_fields("40000015", "Zorggroep Beweeg 6", "70000015", signed_on=signed)
    review_fields = samples.format_fields(
        "40000023", "Beweeggroep Zuid", "70000023", contact="contracten@beweeg14.example", signed_on=signed
    )
    # Zorggroep Leefstijl Noord again, a year it has a contract for: a change request (the tariff up 5%).
    change_tariffs = [("GLI-INTAKE", "Intake", "€ 86,03"), *samples.GLI_TARIFFS[1:]]
    return [
        (
            "good (.xlsx): followed",
            samples.mail(
                subject="Volgformat GLI 2023 Zorggroep Leefstijl Noord",
                attachments=[("volgformat.xlsx", samples.XLSX, samples.xlsx_bytes(good_fields, samples.GLI_TARIFFS))],
                message_id="<demo-good-xlsx@zorginkoop.example>",
            ),
        ),
        (
            "good (.csv): followed",
            samples.mail(
                sender="secretariaat@delinde.example",
                # De Linde has no maintenance phase: its contract leaves that prestation out.
                attachments=[("volgformat.csv", "text/csv", samples.csv_bytes(csv_fields, samples.GLI_TARIFFS[:2]))],
                message_id="<demo-good-csv@zorginkoop.example>",
            ),
        ),
        (
            "broken (body lines, no AGB code to read): rejected, every problem listed, nobody to answer",
            samples.mail(
                body=samples.body_text(broken_fields, broken_tariffs), message_id="<demo-broken@zorginkoop.example>"
            ),
        ),
        (
            "not eligible (fraud register): rejected, the confidential criterion not named in the reply",
            samples.mail(
                sender="contracten@beweeg6.example",
                attachments=[("volgformat.xlsx", samples.XLSX, samples.xlsx_bytes(fraud_fields, samples.GLI_TARIFFS))],
                message_id="<demo-not-eligible@zorginkoop.example>",
            ),
        ),
        (
            "name differs from the register: needs_review",
            samples.mail(
                sender="contracten@beweeg14.example",
                attachments=[("volgformat.xlsx", samples.XLSX, samples.xlsx_bytes(review_fields, samples.GLI_TARIFFS))],
                message_id="<demo-review@zorginkoop.example>",
            ),
        ),
        (
            "spoofed sender (name and KvK right, address not on file): needs_review, nothing signed, no reply",
            samples.mail(
                sender="Zorggroep Leefstijl Noord <contracten@zorggroep-noord.example>",
                attachments=[("volgformat.xlsx", samples.XLSX, samples.xlsx_bytes(good_fields, samples.GLI_TARIFFS))],
                message_id="<demo-spoofed@zorginkoop.example>",
            ),
        ),
        (
            "a second format of a contracted provider: a change request for review, no procurement",
            samples.mail(
                subject="Gewijzigd volgformat GLI 2023 Zorggroep Leefstijl Noord",
                attachments=[("volgformat.xlsx", samples.XLSX, samples.xlsx_bytes(good_fields, change_tariffs))],
                message_id="<demo-change-request@zorginkoop.example>",
            ),
        ),
        (
            "garbage: rejected",
            samples.mail(body="\x00\x01 ??? lorem ipsum ###", message_id="<demo-garbage@zorginkoop.example>"),
        ),
    ]


async def load_demo(client: httpx.AsyncClient, token: Callable[..., str]) -> None:
    staff = {"Authorization": f"Bearer {token('contracts:read', 'contracts:write')}"}
    for what, raw in demo_mails():
        response = await client.post(
            "/follow-formats", content=raw, headers={**staff, "Content-Type": "message/rfc822"}
        )
        response.raise_for_status()
        log.info("demo follow format (%s): %s", what, response.json()["status"])
    # A new large institution asks for a contract (all year): a negotiation, with an offer and a counter-offer.
    asked = await client.post("/contract-requests", json={"agb": "40000032", "policy_id": "GGZ-2021"}, headers=staff)
    if asked.status_code == 503:  # eligibility unreachable (ELIGIBILITY_URL): the platform runs on without it
        log.warning("demo: no contract request, the eligibility service cannot be reached")
        return
    asked.raise_for_status()
    negotiation = asked.json()["negotiation_id"]
    rounds = (await client.get(f"/negotiations/{negotiation}", headers=staff)).json()["rounds"]
    if not rounds:  # a second run finds the offers made already
        insurer = {
            "party": "insurer",
            "tariffs": [
                {"prestation_code": "CO0042", "amount_cents": 1100},
                {"prestation_code": "DBC-BASIS-KORT", "amount_cents": 45000},
            ],
            "ceiling_cents": 400_000_000,
            "kpis": [{"code": "WACHTTIJD", "description": "Wachttijd binnen de Treeknorm", "incentive_pct": 1.5}],
        }
        (await client.post(f"/negotiations/{negotiation}/offers", json=insurer, headers=staff)).raise_for_status()
        provider = {**insurer, "party": "provider", "ceiling_cents": 440_000_000}
        portal = {"Authorization": f"Bearer {token('portal', agb='40000032')}"}
        (await client.post(f"/negotiations/{negotiation}/offers", json=provider, headers=portal)).raise_for_status()
    invited = await client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=staff)
    if invited.status_code == 503:  # eligibility unreachable (ELIGIBILITY_URL): the platform runs on without them
        log.warning("demo: no invitations issued, the eligibility service cannot be reached")
        return
    invited.raise_for_status()
    log.info("demo: %d invitation(s) issued under GGZ-2021", invited.json()["count"])
