"""The replies to follow-format e-mails (Dutch, as providers write them), composed from the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .follow_format import FollowFormat, Problem
from .notation import euros

_SIGN_OFF = "\nMet vriendelijke groet,\n\nAfdeling overeenkomsten\nzorg.overeenkomsten@zorginkoop.example\n"


@dataclass(frozen=True)
class Reply:
    to: str
    subject: str
    body: str


def _subject(original: str | None, outcome: str) -> str:
    base = (original or "uw volgformat").strip().replace("\r", " ").replace("\n", " ")[:150]
    return f"{outcome}: {base}"


def _no_message_id_note(derived: bool) -> str:
    if not derived:
        return ""
    return (
        "\nLet op: uw e-mail had geen Message-ID. We hebben er een afgeleid van de inhoud;"
        " stuur dezelfde e-mail nogmaals en we herkennen hem.\n"
    )


def rejected(
    to: str, original_subject: str | None, problems: Sequence[Problem], intake_id: str, derived_id: bool
) -> Reply:
    lines = "\n".join(f"  - {p.field}: {p.message}" for p in problems)
    body = (
        "Geachte heer/mevrouw,\n\n"
        "Wij hebben uw volgformat ontvangen, maar kunnen het niet verwerken. Wat er niet klopt:\n\n"
        f"{lines}\n\n"
        "Wilt u het gecorrigeerde volgformat opnieuw naar ons sturen?\n"
        f"{_no_message_id_note(derived_id)}\nKenmerk: {intake_id}\n{_SIGN_OFF}"
    )
    return Reply(to, _subject(original_subject, "Afgewezen"), body)


def followed(
    to: str, original_subject: str | None, fmt: FollowFormat, contract_id: str, intake_id: str, derived_id: bool
) -> Reply:
    tariffs = "\n".join(f"  - {t.prestation_code} {t.description}: {euros(t.amount_cents)}" for t in fmt.tariffs)
    body = (
        "Geachte heer/mevrouw,\n\n"
        f"Wij volgen de overeenkomst van {fmt.name} (AGB {fmt.agb}) met {fmt.preferred_insurer}"
        f" (UZOVI {fmt.uzovi}) op grond van het landelijk volgbeleid.\n\n"
        f"Looptijd: {fmt.start_date:%d-%m-%Y} tot en met {fmt.end_date:%d-%m-%Y}\n"
        f"Tarieven:\n{tariffs}\n\n"
        f"Overeenkomst: {contract_id}\n"
        f"{_no_message_id_note(derived_id)}\nKenmerk: {intake_id}\n{_SIGN_OFF}"
    )
    return Reply(to, _subject(original_subject, "Bevestiging"), body)


def in_review(
    to: str, original_subject: str | None, intake_id: str, derived_id: bool, change_request: bool = False
) -> Reply:
    change = (
        "U heeft voor dit jaar al een overeenkomst met ons; wij behandelen dit volgformat als een verzoek"
        " om die overeenkomst te wijzigen.\n"
        if change_request
        else ""
    )
    body = (
        "Geachte heer/mevrouw,\n\n"
        f"Wij hebben uw volgformat ontvangen. {change}"
        "Een medewerker beoordeelt het; u hoort zo snel mogelijk van ons.\n"
        f"{_no_message_id_note(derived_id)}\nKenmerk: {intake_id}\n{_SIGN_OFF}"
    )
    return Reply(to, _subject(original_subject, "Ontvangen"), body)


def review_rejected(to: str, original_subject: str | None, note: str | None, intake_id: str) -> Reply:
    body = (
        "Geachte heer/mevrouw,\n\n"
        "Na beoordeling volgen wij de overeenkomst uit uw volgformat niet."
        + (f"\n\nToelichting: {note}" if note else "")
        + f"\n\nKenmerk: {intake_id}\n{_SIGN_OFF}"
    )
    return Reply(to, _subject(original_subject, "Afgewezen"), body)
