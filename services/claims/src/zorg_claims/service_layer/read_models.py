"""What claims keeps of other services' events: providers, eligibility, bank accounts, contracts, procurements.

Signing a contract or closing a procurement releases the claims held for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common.events import (
    BankAccountChanged,
    CloudEvent,
    ContractSigned,
    ContractTerminated,
    EligibilityDetermined,
    Event,
    ProcurementClosed,
    ProcurementStarted,
    ProviderRegistered,
    ProviderUpdated,
)
from zorg_common.uow import UnitOfWork

from ..adapters.orm import bank_accounts, contracts, eligibility, known_providers, procurements
from .adjudicate import Review, release_holds


async def upsert(session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    insert_new = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert_new(table).values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    await session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


async def provider_seen(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
    assert isinstance(event, ProviderRegistered | ProviderUpdated)
    current = await uow.session.scalar(select(known_providers.c.version).where(known_providers.c.agb == event.agb))
    if current is None or event.version > current:
        await upsert(
            uow.session, known_providers, {"agb": event.agb, "name": event.name, "version": event.version}, ["agb"]
        )


async def eligibility_determined(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
    assert isinstance(event, EligibilityDetermined)
    await upsert(
        uow.session,
        eligibility,
        {
            "agb": event.agb,
            "policy_id": event.policy_id,
            "eligible": event.eligible,
            "route": event.route,
            "evaluated_on": event.evaluated_on,
            "evaluation_id": event.evaluation_id,
        },
        ["agb", "policy_id"],
    )


async def bank_account_changed(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
    assert isinstance(event, BankAccountChanged)
    await upsert(
        uow.session,
        bank_accounts,
        {"agb": event.agb, "iban": event.iban, "holder": event.holder, "changed_on": event.changed_on},
        ["agb"],
    )


async def procurement_started(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
    assert isinstance(event, ProcurementStarted)
    await upsert(
        uow.session,
        procurements,
        {
            "agb": event.agb,
            "sector": event.sector,
            "contract_year": event.contract_year,
            "procurement_id": event.procurement_id,
            "status": "in_progress",
        },
        ["agb", "sector", "contract_year"],
    )


def handlers(review: Callable[[], Review]) -> dict[str, Any]:
    """The read-model handlers; ``review`` gives the thresholds the released claims are judged with."""

    async def contract_signed(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
        assert isinstance(event, ContractSigned)
        current = (
            await uow.session.execute(
                select(contracts.c.version, contracts.c.status).where(contracts.c.contract_id == event.contract_id)
            )
        ).first()
        if current is not None and (current.version >= event.version or current.status == "terminated"):
            return  # a double, an older version, or one already terminated: nothing changes
        await upsert(
            uow.session,
            contracts,
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
            },
            ["contract_id"],
        )
        for year in event.contract_years:
            await upsert(
                uow.session,
                procurements,
                {
                    "agb": event.agb,
                    "sector": event.sector,
                    "contract_year": year,
                    "procurement_id": event.procurement_id or event.contract_id,
                    "status": "contracted",
                },
                ["agb", "sector", "contract_year"],
            )
        await release_holds(uow, event.agb, event.sector, event.contract_years, review())

    async def contract_terminated(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
        assert isinstance(event, ContractTerminated)
        await uow.session.execute(
            update(contracts)
            .where(contracts.c.contract_id == event.contract_id)
            .values(status="terminated", terminated_from=event.effective_on)
        )

    async def procurement_closed(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
        assert isinstance(event, ProcurementClosed)
        await upsert(
            uow.session,
            procurements,
            {
                "agb": event.agb,
                "sector": event.sector,
                "contract_year": event.contract_year,
                "procurement_id": event.procurement_id,
                "status": "closed",
            },
            ["agb", "sector", "contract_year"],
        )
        await release_holds(uow, event.agb, event.sector, [event.contract_year], review())

    return {
        "ProviderRegistered": provider_seen,
        "ProviderUpdated": provider_seen,
        "EligibilityDetermined": eligibility_determined,
        "BankAccountChanged": bank_account_changed,
        "ProcurementStarted": procurement_started,
        "ContractSigned": contract_signed,
        "ContractTerminated": contract_terminated,
        "ProcurementClosed": procurement_closed,
    }
