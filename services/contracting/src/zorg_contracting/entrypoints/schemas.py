"""Request and response bodies shared by the contract, negotiation and invitation routes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class TariffIn(BaseModel):
    prestation_code: str = Field(min_length=1, max_length=40)
    amount_cents: int = Field(gt=0, le=100_000_000)


class KpiIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=1, max_length=500)
    incentive_pct: float = Field(ge=0, le=100)


class PrognosisOut(BaseModel):
    period: str
    amount_cents: int
    exceeds_ceiling: bool
    recorded_at: dt.datetime


class ContractOut(BaseModel):
    id: str
    agb: str
    policy_id: str
    sector: str
    route: str
    start_date: dt.date
    end_date: dt.date
    contract_years: list[int]
    status: str
    tariffs: list[TariffIn]
    ceiling_cents: int | None
    kpis: list[KpiIn]
    version: int
    signed_on: dt.date | None
    signatory: str | None
    procurement_id: str | None
    source: str
    source_id: str
    renegotiation: bool = Field(description="a prognosis exceeded the ceiling by more than 10%")
    terminated_reason: str | None
    terminated_on: dt.date | None
    answers: list[dict[str, Any]] | None = Field(description="the questionnaire as answered when signing (digital)")


def contract_out(row: Any) -> ContractOut:
    data = dict(row._mapping)
    data["contract_years"] = list(range(row.start_date.year, row.end_date.year + 1))
    return ContractOut.model_validate({k: data[k] for k in ContractOut.model_fields})
