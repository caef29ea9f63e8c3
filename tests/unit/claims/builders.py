"""Events from other services that the claims read models take in, for the unit and integration tests."""

from __future__ import annotations

import datetime as dt

from zorg_common.events import ContractSigned, EligibilityDetermined, ProcurementClosed, ProcurementStarted


def eligible(agb: str, policy_id: str = "GLI-2023", verdict: bool = True) -> EligibilityDetermined:
    sector, year = policy_id.split("-")
    return EligibilityDetermined(
        agb=agb,
        evaluation_id=f"e-{agb}-{verdict}",
        policy_id=policy_id,
        sector=sector,  # type: ignore[arg-type]
        contract_year=int(year),
        eligible=verdict,
        route="follow" if verdict else None,
        criteria=[],
        evaluated_on=dt.date(2022, 9, 1),
    )


def procurement_started(procurement_id: str, agb: str, year: int = 2023) -> ProcurementStarted:
    return ProcurementStarted(
        agb=agb,
        procurement_id=procurement_id,
        policy_id=f"GLI-{year}",
        sector="GLI",
        contract_year=year,
        route="follow",
        started_on=dt.date(year - 1, 10, 1),
        cause="follow_format",
    )


def contract_signed(contract_id: str, procurement_id: str | None, agb: str, **tariffs: int) -> ContractSigned:
    """A GLI follow contract for 2023; ``GLI_TREATMENT_Q=18000`` is the tariff of GLI-TREATMENT-Q."""
    return ContractSigned(
        agb=agb,
        contract_id=contract_id,
        procurement_id=procurement_id,
        policy_id="GLI-2023",
        sector="GLI",
        route="follow",
        start_date=dt.date(2023, 1, 1),
        end_date=dt.date(2023, 12, 31),
        contract_years=[2023],
        tariffs=[{"prestation_code": code.replace("_", "-"), "amount_cents": cents} for code, cents in tariffs.items()],
        signed_on=dt.date(2022, 10, 20),
    )


def procurement_closed(procurement_id: str, agb: str) -> ProcurementClosed:
    return ProcurementClosed(
        agb=agb,
        procurement_id=procurement_id,
        policy_id="GLI-2023",
        sector="GLI",
        contract_year=2023,
        closed_on=dt.date(2022, 11, 2),
    )
