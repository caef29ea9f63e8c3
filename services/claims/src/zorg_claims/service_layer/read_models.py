"""What claims keeps of other services' events: providers, eligibility, bank accounts, contracts, procurements.

Signing a contract or closing a procurement releases the claims held for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from zorg_common.events import (
    BankAccountChanged,
    ContractSigned,
    ContractTerminated,
    EligibilityDetermined,
    Event,
    ProcurementClosed,
    ProcurementStarted,
    ProviderRegistered,
    ProviderUpdated,
)

from ..adapters.repository import ClaimsUnit
from .adjudicate import Review, release_holds

#: A read-model handler: the unit of work's claims side, and the event.
Handler = Callable[[ClaimsUnit, Event], Awaitable[None]]


async def provider_seen(unit: ClaimsUnit, event: Event) -> None:
    assert isinstance(event, ProviderRegistered | ProviderUpdated)
    current = await unit.claims.provider_version(event.agb)
    if current is None or event.version > current:
        await unit.claims.save_provider(event.agb, event.name, event.kind, event.version)


async def eligibility_determined(unit: ClaimsUnit, event: Event) -> None:
    assert isinstance(event, EligibilityDetermined)
    await unit.claims.save_eligibility(
        {
            "agb": event.agb,
            "policy_id": event.policy_id,
            "eligible": event.eligible,
            "route": event.route,
            "evaluated_on": event.evaluated_on,
            "evaluation_id": event.evaluation_id,
        }
    )


async def bank_account_changed(unit: ClaimsUnit, event: Event) -> None:
    assert isinstance(event, BankAccountChanged)
    await unit.claims.save_bank_account(
        {"agb": event.agb, "iban": event.iban, "holder": event.holder, "changed_on": event.changed_on}
    )


async def procurement_started(unit: ClaimsUnit, event: Event) -> None:
    assert isinstance(event, ProcurementStarted)
    await unit.claims.save_procurement(
        event.procurement_id, event.agb, event.sector, event.contract_year, "in_progress"
    )


async def contract_terminated(unit: ClaimsUnit, event: Event) -> None:
    assert isinstance(event, ContractTerminated)
    await unit.claims.terminate_contract(event.contract_id, event.effective_on)


def handlers(review: Callable[[], Review]) -> dict[str, Handler]:
    """The read-model handlers by event type; ``review`` gives the thresholds released claims are judged with."""

    async def contract_signed(unit: ClaimsUnit, event: Event) -> None:
        assert isinstance(event, ContractSigned)
        current = await unit.claims.contract_state(event.contract_id)
        if current is not None and (current[0] >= event.version or current[1] == "terminated"):
            return  # a double, an older version, or one already terminated: nothing changes
        await unit.claims.save_contract(
            {
                "contract_id": event.contract_id,
                "agb": event.agb,
                "sector": event.sector,
                "start_date": event.start_date,
                "end_date": event.end_date,
                "tariffs": {t.prestation_code: t.amount_cents for t in event.tariffs},
                "version": event.version,
                "status": "signed",
                "terminated_from": None,
            }
        )
        for year in event.contract_years:
            procurement_id = event.procurement_id or event.contract_id
            await unit.claims.save_procurement(procurement_id, event.agb, event.sector, year, "contracted")
        await release_holds(unit, event.agb, event.sector, event.contract_years, review())

    async def procurement_closed(unit: ClaimsUnit, event: Event) -> None:
        assert isinstance(event, ProcurementClosed)
        await unit.claims.save_procurement(event.procurement_id, event.agb, event.sector, event.contract_year, "closed")
        await release_holds(unit, event.agb, event.sector, [event.contract_year], review())

    return {
        ProviderRegistered.TYPE: provider_seen,
        ProviderUpdated.TYPE: provider_seen,
        EligibilityDetermined.TYPE: eligibility_determined,
        BankAccountChanged.TYPE: bank_account_changed,
        ProcurementStarted.TYPE: procurement_started,
        ContractSigned.TYPE: contract_signed,
        ContractTerminated.TYPE: contract_terminated,
        ProcurementClosed.TYPE: procurement_closed,
    }
