"""What claims tells other services in one call, never per claim: volumes per provider and year, held claims
per hold. No person is in either (no BSN, no claim), so neither read is written to the access log."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from zorg_common.claims_api import HeldClaims, HeldCount, PrestationVolume, ProviderVolumes
from zorg_common.policy import policies

from ..adapters.repository import ClaimsUnit, VolumeRow
from ..domain.review import REVIEW_VOLUME

#: The reason a hold stands for (DOMAIN.md rule 7, and the fraud signal's review).
HOLD_REASONS = {"contract": "AWAITING_CONTRACT", "review": REVIEW_VOLUME}


def _provider(agb: str, year: int, rows: Sequence[VolumeRow]) -> ProviderVolumes:
    return ProviderVolumes.of(
        agb,
        year,
        [
            PrestationVolume(
                sector=row.sector,
                prestation_code=row.prestation_code,
                lines=row.totals.lines,
                quantity=row.totals.quantity,
                claimed_cents=row.totals.claimed_cents,
                paid_lines=row.totals.paid_lines,
                paid_quantity=row.totals.paid_quantity,
                allowed_cents=row.totals.allowed_cents,
            )
            for row in rows
        ],
    )


async def provider_volumes(
    unit: ClaimsUnit, year: int, agbs: Sequence[str] | None, sector: str | None, offset: int, limit: int
) -> tuple[int, list[ProviderVolumes]]:
    """A page of providers with claims in the contract year (``agbs``: only these), with their totals."""
    total, rows = await unit.claims.volumes(year, agbs, sector, offset, limit)
    return total, [_provider(agb, year, list(group)) for agb, group in groupby(rows, key=lambda r: r.agb)]


def dbc_codes(sector: str) -> list[str]:
    """The sector's DBC prestations: their contract year is their opening year (policy data)."""
    of_sector = [policy for policy in policies().values() if policy.sector == sector]
    return sorted({p.code for policy in of_sector for p in policy.prestations if p.kind == "DBC"})


async def held_claims(unit: ClaimsUnit, sector: str, year: int) -> HeldClaims:
    """The sector's claims held in the contract year, per hold (a procurement in progress, a person's review)."""
    found = {row.hold: row for row in await unit.claims.held_counts(sector, year, dbc_codes(sector))}
    holds = [
        HeldCount(
            hold=hold,
            reason=reason,
            claims=found[hold].claims if hold in found else 0,
            claimed_cents=found[hold].claimed_cents if hold in found else 0,
            providers=found[hold].providers if hold in found else 0,
        )
        for hold, reason in HOLD_REASONS.items()
    ]
    return HeldClaims(sector=sector, year=year, holds=holds, claims=sum(h.claims for h in holds))
