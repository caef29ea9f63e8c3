"""The eligibility use cases: register or update a provider, evaluate it (on request, or again on the day a
verdict changes with time), change its bank account.

Each runs in the caller's unit of work and emits its events there; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
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
from ..domain.confidential import visible_facts
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


class StaleVersion(Exception):
    """The caller changed an older version than the one on file (``If-Match``)."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"the provider is at version {current}")
        self.current = current


class ReadOnlyForProvider(Exception):
    """A provider asked to change what the insurer records."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


#: What a provider may change about itself through the portal; the insurer records the rest.
PORTAL_FIELDS = ("name", "street", "postcode", "city", "care_forms")
PORTAL_READ_ONLY = ("kvk", "kind", "sectors", "contact_emails", "facts")


def _check_version(row: Any, expected: int | None) -> None:
    if expected is not None and (row is None or row.version != expected):
        raise StaleVersion(None if row is None else row.version)


async def register_provider(
    uow: UnitOfWork, agb: str, data: ProviderData, actor: str, expected_version: int | None = None
) -> Registration:
    """Create or update; nothing happens (no version, no event) when nothing changed."""
    row = await _locked_provider(uow.session, agb)
    _check_version(row, expected_version)
    on_file = _record_of(row)["contact_emails"] if row is not None else None
    return await _write(uow, agb, row, data.record(on_file), actor)


async def update_by_provider(
    uow: UnitOfWork, agb: str, data: ProviderData, actor: str, expected_version: int
) -> Registration:
    """A change through the portal: only the fields a provider may change are applied, onto the
    current row, locked; the version it read must still be the one on file, so that a staff change
    in between is never reverted. The other fields must say what the provider was shown."""
    row = await _locked_provider(uow.session, agb)
    if row is None:
        raise UnknownProvider(agb)
    _check_version(row, expected_version)
    current = _record_of(row)
    asked = data.record(current["contact_emails"])
    shown = {**current, "facts": visible_facts(current["facts"])}
    said = {**asked, "facts": visible_facts(asked["facts"])}
    refused = [f for f in PORTAL_READ_ONLY if said[f] != shown[f]]
    if refused:
        raise ReadOnlyForProvider(refused)
    return await _write(uow, agb, row, {**current, **{f: asked[f] for f in PORTAL_FIELDS}}, actor)


async def _write(uow: UnitOfWork, agb: str, row: Any, new: dict[str, Any], actor: str) -> Registration:
    session = uow.session
    old = _record_of(row) if row is not None else None
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
        kvk=new["kvk"],
        name=new["name"],
        kind=new["kind"],
        sectors=new["sectors"],
        address=Address(street=new["street"], postcode=new["postcode"], city=new["city"]),
        care_forms=new["care_forms"],
        version=version,
    )
    if row is None:
        uow.emit(ProviderRegistered(**state))
    else:
        uow.emit(ProviderUpdated(**state, changed_fields=sorted(diff)))
    result = Registration(agb, created=row is None, changed_fields=sorted(diff), version=version)
    if EVALUATION_INPUTS & set(diff):
        profile = ProviderProfile(kind=new["kind"], sectors=new["sectors"], facts=new["facts"])
        trigger = "registration" if row is None else "fact_change"
        for policy in policies().values():
            if policy.sector in new["sectors"]:
                result.evaluations.append(await _store(uow, agb, policy, profile, version, trigger, actor))
    log.info(
        "provider %s %s (version %d): %s",
        agb,
        "registered" if row is None else "updated",
        version,
        ", ".join(sorted(diff)),
    )
    return result


async def evaluate_provider(
    uow: UnitOfWork, agb: str, policy_id: str, actor: str, *, trigger: str = "request"
) -> dict[str, Any]:
    policy = policies().get(policy_id)
    if policy is None:
        raise UnknownPolicy(policy_id)
    row = (await uow.session.execute(_PROVIDER, {"agb": agb})).first()
    if row is None:
        raise UnknownProvider(agb)
    record = _record_of(row)
    profile = ProviderProfile(kind=record["kind"], sectors=record["sectors"], facts=record["facts"])
    return await _store(uow, agb, policy, profile, row.version, trigger, actor)


_LATER = evaluations.alias("later")
# The latest evaluation of a provider under a policy, when it said its verdict changes by :today.
_DUE = select(evaluations.c.agb, evaluations.c.policy_id).where(
    evaluations.c.changes_on <= bindparam("today"),
    ~exists().where(
        _LATER.c.agb == evaluations.c.agb,
        _LATER.c.policy_id == evaluations.c.policy_id,
        _LATER.c.created_at > evaluations.c.created_at,
    ),
)
#: Who re-evaluates when a verdict changes with time (the evaluation's `created_by`).
CLOCK_ACTOR = "eligibility-clock"


async def reevaluate_due(new_uow: Callable[[], UnitOfWork], today: dt.date) -> int:
    """Evaluate again, without anyone asking, every provider whose latest evaluation under a policy said
    that a verdict changes on or before ``today`` (DOMAIN.md, verdicts that change with time).

    One transaction per provider; the provider row is locked and the evaluation checked again, so
    two workers running this at once evaluate each provider once.
    """
    async with new_uow() as uow:
        due = [(r.agb, r.policy_id) for r in await uow.session.execute(_DUE, {"today": today})]
    done = 0
    for agb, policy_id in due:
        async with new_uow() as uow:
            await _locked_provider(uow.session, agb)
            still_due = (await uow.session.execute(_DUE.where(evaluations.c.agb == agb), {"today": today})).all()
            if (agb, policy_id) not in {(r.agb, r.policy_id) for r in still_due}:
                continue  # another worker was first, or the facts changed meanwhile
            await evaluate_provider(uow, agb, policy_id, CLOCK_ACTOR, trigger="time")
            await uow.commit()
            done += 1
    if done:
        log.info("re-evaluated %d provider(s) whose verdict changed with time", done)
    return done


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
        "changes_on": outcome.changes_on,
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
