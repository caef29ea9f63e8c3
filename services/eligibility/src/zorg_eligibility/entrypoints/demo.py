"""Demo data for `make run`: providers that between them reach every route and every criterion's failure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from zorg_common import clock

from ..domain.evaluation import years_before

log = logging.getLogger(__name__)

GLI_OK: dict[str, Any] = {
    "kvk_registered": True,
    "wtza_admitted": True,
    "ubo_known": True,
    "ubo_sanctioned": False,
    "blcn_registered": True,
    "vektis_lifestyle_coach": True,
    "programmes": ["Cool", "SLIMMER"],
    "in_fraud_register": False,
    "fraud_investigation": False,
    "enhanced_supervision": False,
    "sound_administration": True,
    "vecozo_certificate": True,
    "refuses_care": False,
    "serious_misconduct_on": None,
    "quality_concerns": False,
    "professional_standards": True,
    "co2_roadmap": True,
    "hybrid_care_published": True,
}
GGZ_OK: dict[str, Any] = {"quality_statute_ii_approved": True, "vecozo_certificate": True}

CITIES = [
    ("Groningen", "9711 LV"),
    ("Zwolle", "8011 CW"),
    ("Utrecht", "3511 AB"),
    ("Eindhoven", "5611 AA"),
    ("Rotterdam", "3011 AD"),
    ("Amsterdam", "1012 JS"),
    ("Nijmegen", "6511 JA"),
    ("Leeuwarden", "8911 BK"),
    ("Maastricht", "6211 CK"),
    ("Den Haag", "2511 BT"),
]


def _provider(
    n: int,
    name: str,
    kind: str,
    sectors: list[str],
    facts: dict[str, Any],
    care_forms: tuple[str, ...] = ("in_person",),
    contacts: tuple[str, ...] = (),
) -> tuple[str, dict[str, Any]]:
    city, postcode = CITIES[n % len(CITIES)]
    return f"{40000000 + n:08d}", {
        "kvk": f"{70000000 + n:08d}",
        "name": name,
        "kind": kind,
        "sectors": sectors,
        "address": {"street": f"Stationsplein {n + 1}", "postcode": postcode, "city": city},
        "care_forms": list(care_forms),
        # The addresses its follow formats may come from (the contracting demo and tests send from these).
        "contact_emails": list(contacts or (f"info@aanbieder{n}.example",)),
        "facts": facts,
    }


def demo_providers() -> list[tuple[str, dict[str, Any]]]:
    # GLI: one per route, then one care group per criterion that fails.
    items = [
        _provider(
            1,
            "Zorggroep Leefstijl Noord",
            "care_group",
            ["GLI"],
            GLI_OK,
            ("in_person", "hybrid"),
            ("info@zorggroep.example", "contracten@zorggroep.example"),
        ),
        _provider(
            2,
            "Gezondheidscentrum De Linde",
            "institution",
            ["GLI"],
            GLI_OK,
            ("in_person", "digital"),
            ("secretariaat@delinde.example", "inkoop@delinde.example"),
        ),
        _provider(3, "Leefstijlcoach J. de Vries", "individual", ["GLI"], GLI_OK, contacts=("info@devries.example",)),
    ]
    failures: dict[str, dict[str, Any]] = {
        "KVK_REGISTERED": {"kvk_registered": False},
        "WTZA_ADMITTED": {"wtza_admitted": False},
        "UBO_KNOWN_NOT_SANCTIONED": {"ubo_sanctioned": True},
        "LIFESTYLE_COACH_REGISTERED": {"blcn_registered": False, "vektis_lifestyle_coach": False},
        "RECOGNISED_PROGRAMME": {"programmes": ["Eigen beweegprogramma"]},
        "NOT_IN_FRAUD_REGISTERS": {"in_fraud_register": True},
        "NOT_UNDER_ENHANCED_SUPERVISION": {"enhanced_supervision": True},
        "SOUND_ADMINISTRATION": {"sound_administration": False},
        "VECOZO_CERTIFICATE": {"vecozo_certificate": False},
        "NO_REFUSAL_OF_CARE": {"refuses_care": True},
        # two years before the demo day, so inside the five-year window whatever ZORG_TODAY says
        "NO_SERIOUS_MISCONDUCT_5Y": {"serious_misconduct_on": years_before(clock.today(), 2).isoformat()},
        "NO_QUALITY_CONCERNS": {"quality_concerns": True},
        "PROFESSIONAL_STANDARDS": {"professional_standards": False},
        "CO2_ROADMAP and HYBRID_CARE_TRANSPARENT (warnings only)": {
            "co2_roadmap": False,
            "hybrid_care_published": False,
        },
    }
    # Beweeg N fails the N-th entry above (Beweeg 6: the fraud registers). A name is public (it travels
    # on zorg.providers to the listing): it never says which criterion fails, some are confidential.
    for i, change in enumerate(failures.values()):
        contact = f"contracten@beweeg{i + 1}.example"
        items.append(
            _provider(
                10 + i, f"Zorggroep Beweeg {i + 1}", "care_group", ["GLI"], {**GLI_OK, **change}, contacts=(contact,)
            )
        )
    # GGZ: every route, the size thresholds, and its two criteria failing.
    items += [
        _provider(30, "Psychologenpraktijk Van Dijk", "individual", ["GGZ"], GGZ_OK, ("in_person", "digital")),
        _provider(
            31,
            "GGZ Kleinschalig Oost",
            "institution",
            ["GGZ"],
            {**GGZ_OK, "claims_total_prev_year_cents": 45_000_000, "insured_treated_prev_year": 180},
        ),
        _provider(
            32,
            "GGZ Instelling Randstad",
            "institution",
            ["GGZ"],
            {**GGZ_OK, "claims_total_prev_year_cents": 420_000_000, "insured_treated_prev_year": 2_600},
            ("in_person", "digital", "hybrid"),
        ),
        _provider(33, "GGZ Nieuw Zuid (omvang onbekend)", "institution", ["GGZ"], GGZ_OK),
        _provider(
            34, "Praktijk Zonder Statuut", "individual", ["GGZ"], {**GGZ_OK, "quality_statute_ii_approved": False}
        ),
        _provider(35, "Praktijk Zonder VECOZO", "individual", ["GGZ"], {**GGZ_OK, "vecozo_certificate": False}),
        # Nothing on file yet: every criterion unknown.
        _provider(40, "Nieuwe Aanbieder (gegevens onbekend)", "care_group", ["GLI", "GGZ"], {}),
    ]
    return items


DEMO_IBANS = ("NL91ABNA0417164300", "NL20INGB0001234567", "NL44RABO0123456789")


def demo_bank_accounts() -> dict[str, dict[str, str]]:
    """The bank account of every fourth demo provider, by AGB code (the privacy test looks for these)."""
    return {
        agb: {"iban": DEMO_IBANS[n % len(DEMO_IBANS)], "holder": body["name"]}
        for n, (agb, body) in enumerate(demo_providers())
        if n % 4 == 0
    }


#: The demo account of Mijn Zorgverlener, at the GGZ practice that has claims and an invitation in the
#: demos of claims and contracting. Its password is public on purpose: it exists only in `make run`.
DEMO_ACCOUNT = {"agb": "40000030", "name": "M. van Dijk", "email": "demo@vandijk.example", "birth_date": "1980-04-01"}
DEMO_PASSWORD = "Portaal2023"


async def load_demo_account(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Create and activate the demo account (a second run finds it there) and say how to log in."""
    created = await client.post("/portal/accounts", json=DEMO_ACCOUNT, headers=headers)
    if created.status_code == 201:
        activation = {
            "code": created.json()["activation_code"],
            "birth_date": DEMO_ACCOUNT["birth_date"],
            "password": DEMO_PASSWORD,
        }
        (await client.post("/portal/activate", json=activation)).raise_for_status()
    elif created.status_code != 409:
        created.raise_for_status()
    return (
        f"  Mijn Zorgverlener: {client.base_url}/portal/\n"
        f"    e-mail {DEMO_ACCOUNT['email']}, wachtwoord {DEMO_PASSWORD} (Psychologenpraktijk Van Dijk)"
    )


async def load_demo(client: httpx.AsyncClient, token: Callable[..., str]) -> str:
    headers = {"Authorization": f"Bearer {token('providers:write', 'providers:read')}"}
    accounts = demo_bank_accounts()
    for agb, body in demo_providers():
        response = await client.put(f"/providers/{agb}", json=body, headers=headers)
        response.raise_for_status()
        if agb in accounts:
            (await client.put(f"/providers/{agb}/bank-account", json=accounts[agb], headers=headers)).raise_for_status()
    log.info("demo: %d providers registered", len(demo_providers()))
    return await load_demo_account(client, headers)
