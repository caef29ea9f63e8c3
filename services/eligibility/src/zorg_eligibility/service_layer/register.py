"""The eligibility use cases: register or update a provider, evaluate it, change its bank account.

Each runs in the caller's unit of work and emits its events there; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common import clock
from zorg_common.events import (
    Address,
    BankAccountChanged,
    CriterionVerdict,
    EligibilityDetermined,
    ProviderRegistered,
    ProviderUpdated,
)
from zorg_common.policy import Policy, policies
from zorg_common.uow import UnitOfWork

from ..adapters.orm import bank_accounts, evaluations, provider_changes, providers
from ..domain.evaluation import Outcome, ProviderProfile, evaluate
from ..domain.provider import EVALUATION_INPUTS, BankAccount, ProviderData, changes

log = logging.getLogger(__name__)


class UnknownProvider(LookupError):
    pass


class UnknownPolicy(LookupError):
    pass


@dataclass
class Registration:
    agb: str
    created: bool
    changed_fields: list[str]
    version: int
    evaluations: list[dict[str, Any]] = field(default_factory=list)


def _sectors_column(sectors: list[str]) -> str:
    return "," + ",".join(sectors) + ","


def _record_of(row: Any) -> dict[str, Any]:
    return {
        "kvk": row.kvk,
        "name": row.name,
        "kind": row.kind,
        "sectors": [s for s in row.sectors.split(",") if s],
        "street": row.street,
        "postcode": row.postcode,
        "city": row.city,
        "care_forms": list(row.care_forms),
        "contact_emails": list(row.contact_emails),
        "facts": dict(row.facts),
    }


# Built once: a statement made per call costs more CPU than its round trip to the database.
_PROVIDER = select(providers).where(providers.c.agb == bindparam("agb"))
_PROVIDER_FOR_UPDATE = _PROVIDER.with_for_update()
_INSERT_EVALUATION = insert(evaluations)


async def _locked_provider(session: AsyncSession, agb: str) -> Any:
    postgres = session.get_bind().dialect.name == "postgresql"
    return (await session.execute(_PROVIDER_FOR_UPDATE if postgres else _PROVIDER, {"agb": agb})).first()


async def register_provider(uow: UnitOfWork, agb: str, data: ProviderData, actor: str) -> Registration:
    """Create or update; nothing happens (no version, no event) when nothing changed."""
    session = uow.session
    row = await _locked_provider(session, agb)
    old = _record_of(row) if row is not None else None
    new = data.record(old["contact_emails"] if old else None)
    diff = changes(old, new)
    if not diff:
        return Registration(agb, created=False, changed_fields=[], version=row.version)
    now = clock.utcnow()
    version = 1 if row is None else row.version + 1
    values = {
        **new,
        "sectors": _sectors_column(new["sectors"]),
        "version": version,
        "updated_at": now,
        "updated_by": actor,
    }
    if row is None:
        await session.execute(insert(providers).values(agb=agb, created_at=now, **values))
    else:
        await session.execute(update(providers).where(providers.c.agb == agb).values(**values))
    await session.execute(
        insert(provider_changes).values(agb=agb, version=version, changed_at=now, changed_by=actor, changes=diff)
    )
    state = dict(
        agb=agb,
        kvk=data.kvk,
        name=data.name,
        kind=data.kind,
        sectors=data.sectors,
        address=Address(**data.address.model_dump()),
        care_forms=data.care_forms,
        version=version,
        changed_by=actor,
    )
    if row is None:
        uow.emit(ProviderRegistered(**state))
    else:
        uow.emit(ProviderUpdated(**state, changed_fields=sorted(diff)))
    result = Registration(agb, created=row is None, changed_fields=sorted(diff), version=version)
    if EVALUATION_INPUTS & set(diff):
        profile = ProviderProfile(kind=data.kind, sectors=data.sectors, facts=new["facts"])
        for policy in policies().values():
            if policy.sector in data.sectors:
                result.evaluations.append(
                    await _store(
                        uow, agb, policy, profile, version, "registration" if row is None else "fact_change", actor
                    )
                )
    log.info(
        "provider %s %s (version %d): %s",
        agb,
        "registered" if row is None else "updated",
        version,
        ", ".join(sorted(diff)),
    )
    return result


async def evaluate_provider(uow: UnitOfWork, agb: str, policy_id: str, actor: str) -> dict[str, Any]:
    policy = policies().get(policy_id)
    if policy is None:
        raise UnknownPolicy(policy_id)
    row = (await uow.session.execute(_PROVIDER, {"agb": agb})).first()
    if row is None:
        raise UnknownProvider(agb)
    record = _record_of(row)
    profile = ProviderProfile(kind=record["kind"], sectors=record["sectors"], facts=record["facts"])
    return await _store(uow, agb, policy, profile, row.version, "request", actor)


async def _store(
    uow: UnitOfWork, agb: str, policy: Policy, profile: ProviderProfile, provider_version: int, trigger: str, actor: str
) -> dict[str, Any]:
    outcome = evaluate(policy, profile, clock.today())
    stored = evaluation_record(outcome, agb, dict(profile.facts), provider_version, trigger, actor)
    await uow.session.execute(_INSERT_EVALUATION, stored)
    uow.emit(
        EligibilityDetermined(
            agb=agb,
            evaluation_id=stored["id"],
            policy_id=policy.id,
            sector=policy.sector,
            contract_year=policy.contract_year,
            eligible=outcome.eligible,
            route=outcome.route,  # type: ignore[arg-type]
            criteria=[CriterionVerdict(code=c.code, verdict=c.verdict, blocking=c.blocking) for c in outcome.criteria],
            warnings=list(outcome.warnings),
            evaluated_on=outcome.evaluated_on,
        )
    )
    return stored


def evaluation_record(
    outcome: Outcome, agb: str, facts: dict[str, Any], provider_version: int, trigger: str, actor: str
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "agb": agb,
        "policy_id": outcome.policy_id,
        "evaluated_on": outcome.evaluated_on,
        "eligible": outcome.eligible,
        "route": outcome.route,
        "contract_years": outcome.contract_years,
        "criteria": [
            {"code": c.code, "verdict": c.verdict, "blocking": c.blocking, "text_nl": c.text_nl, "text_en": c.text_en}
            for c in outcome.criteria
        ],
        "warnings": list(outcome.warnings),
        "facts": facts,
        "provider_version": provider_version,
        "trigger": trigger,
        "created_at": clock.utcnow(),
        "created_by": actor,
    }


async def change_bank_account(uow: UnitOfWork, agb: str, account: BankAccount, actor: str) -> tuple[bool, dt.date]:
    """Record a new account (history kept); returns (changed, since)."""
    session = uow.session
    if await _locked_provider(session, agb) is None:
        raise UnknownProvider(agb)
    current = await current_bank_account(session, agb)
    if current is not None and current.iban == account.iban and current.holder == account.holder:
        return False, current.changed_on
    today = clock.today()
    await session.execute(
        insert(bank_accounts).values(
            agb=agb,
            iban=account.iban,
            holder=account.holder,
            changed_on=today,
            changed_at=clock.utcnow(),
            changed_by=actor,
        )
    )
    uow.emit(BankAccountChanged(agb=agb, iban=account.iban, holder=account.holder, changed_on=today))
    log.info("provider %s: bank account changed by %s", agb, actor)
    return True, today


async def current_bank_account(session: AsyncSession, agb: str) -> Any:
    query = select(bank_accounts).where(bank_accounts.c.agb == agb).order_by(bank_accounts.c.id.desc()).limit(1)
    return (await session.execute(query)).first()
