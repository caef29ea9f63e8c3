"""The use cases of *Mijn Zorgverlener* accounts: create, list, disable, activate, log in, change
and reset a password, and ask the password again before a change of bank account.

Each runs in the caller's unit of work; the caller commits, also when an attempt failed (the
failure count must be kept), and only then answers. A wrong code, date of birth or password
comes back as one and the same ``Attempt(ok=False)``, whichever it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common import clock
from zorg_common.uow import UnitOfWork

from ..adapters.orm import portal_accounts, portal_codes, providers
from ..adapters.passwords import Hasher
from ..domain.accounts import (
    ACTIVATION_VALID,
    RESET_RESEND_AFTER,
    RESET_VALID,
    Guard,
    Purpose,
    code_hash,
    mask_iban,
    new_code,
)
from ..domain.provider import BankAccount
from . import mail
from .register import UnknownProvider, change_bank_account

log = logging.getLogger(__name__)


class EmailTaken(Exception):
    pass


class AccountNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Attempt:
    """The outcome of a try with a secret: ``ok``, and the account when it was."""

    ok: bool
    account: Any = None


FAILED = Attempt(ok=False)


def _guard(row: Any) -> Guard:
    return Guard(failures=row.failures, locked_until=clock.aware(row.locked_until))


async def _locked_account(session: AsyncSession, account_id: str) -> Any:
    query = select(portal_accounts).where(portal_accounts.c.id == account_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def _count_failure(session: AsyncSession, account_id: str) -> None:
    """One more wrong try, counted on the locked row so that tries at the same moment all count."""
    row = await _locked_account(session, account_id)
    guard = _guard(row).after_failure(clock.utcnow())
    await session.execute(
        update(portal_accounts)
        .where(portal_accounts.c.id == account_id)
        .values(failures=guard.failures, locked_until=guard.locked_until)
    )
    if guard.locked_until is not None and _guard(row).locked_until != guard.locked_until:
        log.warning("portal account %s locked until %s after repeated failures", account_id, guard.locked_until)


async def _succeeded(session: AsyncSession, account_id: str, **values: Any) -> None:
    values.update(failures=0, locked_until=None)
    await session.execute(update(portal_accounts).where(portal_accounts.c.id == account_id).values(**values))


async def _issue_code(session: AsyncSession, account_id: str, purpose: Purpose, valid: dt.timedelta) -> tuple[str, Any]:
    code, now = new_code(), clock.utcnow()
    await session.execute(
        insert(portal_codes).values(
            code_hash=code_hash(code),
            account_id=account_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + valid,
            used_at=None,
        )
    )
    return code, now + valid


async def create_account(
    uow: UnitOfWork, agb: str, name: str, email: str, birth_date: dt.date, actor: str
) -> tuple[Any, str, dt.datetime]:
    """A pending account and its activation code (returned once, stored only as a hash)."""
    session = uow.session
    if await session.scalar(select(providers.c.agb).where(providers.c.agb == agb)) is None:
        raise UnknownProvider(agb)
    if await session.scalar(select(portal_accounts.c.id).where(portal_accounts.c.email == email)) is not None:
        raise EmailTaken(email)
    account_id = str(uuid.uuid4())
    await session.execute(
        insert(portal_accounts).values(
            id=account_id,
            agb=agb,
            name=name,
            email=email,
            birth_date=birth_date,
            password_hash=None,
            status="pending",
            failures=0,
            locked_until=None,
            created_at=clock.utcnow(),
            created_by=actor,
        )
    )
    code, expires_at = await _issue_code(session, account_id, "activation", ACTIVATION_VALID)
    log.info("portal account %s created for provider %s by %s", account_id, agb, actor)
    return await account(session, account_id), code, expires_at


async def account(session: AsyncSession, account_id: str) -> Any:
    row = (await session.execute(select(portal_accounts).where(portal_accounts.c.id == account_id))).first()
    if row is None:
        raise AccountNotFound(account_id)
    return row


async def list_accounts(session: AsyncSession, agb: str | None, offset: int, limit: int) -> tuple[list[Any], int]:
    where = [portal_accounts.c.agb == agb] if agb else []
    total = await session.scalar(select(func.count()).select_from(portal_accounts).where(*where))
    rows = await session.execute(
        select(portal_accounts)
        .where(*where)
        .order_by(portal_accounts.c.agb, portal_accounts.c.email)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total or 0


async def disable_account(uow: UnitOfWork, account_id: str, actor: str) -> Any:
    row = await _locked_account(uow.session, account_id)
    if row is None:
        raise AccountNotFound(account_id)
    if row.status != "disabled":
        await uow.session.execute(
            update(portal_accounts)
            .where(portal_accounts.c.id == account_id)
            .values(status="disabled", disabled_at=clock.utcnow(), disabled_by=actor)
        )
        log.info("portal account %s disabled by %s", account_id, actor)
    return await account(uow.session, account_id)


async def redeem_code(
    uow: UnitOfWork, hasher: Hasher, purpose: Purpose, code: str, birth_date: dt.date, password: str
) -> Attempt:
    """Activation or reset: a valid unused code of that purpose, the account's date of birth, and
    then the new password (already checked against the rules) is set and the code used up."""
    session, now = uow.session, clock.utcnow()
    found = (
        await session.execute(
            select(portal_codes, portal_accounts.c.birth_date, portal_accounts.c.status)
            .join(portal_accounts, portal_accounts.c.id == portal_codes.c.account_id)
            .where(portal_codes.c.code_hash == code_hash(code), portal_codes.c.purpose == purpose)
        )
    ).first()
    wanted = "pending" if purpose == "activation" else "active"
    if found is None or found.used_at is not None or clock.aware(found.expires_at) <= now or found.status != wanted:
        return FAILED
    row = await _locked_account(session, found.account_id)
    if _guard(row).locked(now):
        return FAILED
    if row.birth_date != birth_date:
        await _count_failure(session, row.id)
        return FAILED
    password_hash = await hasher.hash(password)
    stamp = {"activated_at": now, "status": "active"} if purpose == "activation" else {}
    await _succeeded(session, row.id, password_hash=password_hash, password_changed_at=now, **stamp)
    # Every open code of the account is spent: an old reset mail cannot be used after this one.
    await session.execute(
        update(portal_codes)
        .where(portal_codes.c.account_id == row.id, portal_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    log.info("portal account %s: password set (%s)", row.id, purpose)
    return Attempt(ok=True, account=await account(session, row.id))


async def _check_password(uow: UnitOfWork, hasher: Hasher, row: Any, password: str) -> Attempt:
    """The password of an account found (or None: the decoy does the same work), with the lock and the count."""
    locked = row is not None and _guard(row).locked(clock.utcnow())
    usable = row is not None and row.status == "active" and not locked
    matches = await hasher.verify(row.password_hash if usable else None, password)
    if row is None or not usable:
        return FAILED
    if not matches:
        await _count_failure(uow.session, row.id)
        return FAILED
    values: dict[str, Any] = {}
    if hasher.needs_rehash(row.password_hash):
        values["password_hash"] = await hasher.hash(password)
    await _succeeded(uow.session, row.id, **values)
    return Attempt(ok=True, account=row)


async def log_in(uow: UnitOfWork, hasher: Hasher, email: str, password: str) -> Attempt:
    row = (await uow.session.execute(select(portal_accounts).where(portal_accounts.c.email == email))).first()
    return await _check_password(uow, hasher, row, password)


async def confirm_password(uow: UnitOfWork, hasher: Hasher, account_id: str, agb: str, password: str) -> Attempt:
    """The password asked again (a change of bank account) of the account behind a portal token."""
    row = await account(uow.session, account_id)
    if row.agb != agb:
        raise AccountNotFound(account_id)
    return await _check_password(uow, hasher, row, password)


async def change_password(uow: UnitOfWork, hasher: Hasher, account_id: str, current: str, new: str) -> Attempt:
    attempt = await _check_password(uow, hasher, await account(uow.session, account_id), current)
    if attempt.ok:
        now = clock.utcnow()
        await _succeeded(uow.session, account_id, password_hash=await hasher.hash(new), password_changed_at=now)
        log.info("portal account %s: password changed", account_id)
    return attempt


async def request_reset(uow: UnitOfWork, email: str) -> None:
    """A reset code by mail to an active account; nothing (and no sign of it) for any other address."""
    session = uow.session
    row = (await session.execute(select(portal_accounts).where(portal_accounts.c.email == email))).first()
    if row is None or row.status != "active":
        return
    recent = await session.scalar(
        select(func.count())
        .select_from(portal_codes)
        .where(
            portal_codes.c.account_id == row.id,
            portal_codes.c.purpose == "reset",
            portal_codes.c.created_at > clock.utcnow() - RESET_RESEND_AFTER,
        )
    )
    if recent:
        return
    code, expires_at = await _issue_code(session, row.id, "reset", RESET_VALID)
    body = (
        f"Beste {row.name},\n\n"
        "U hebt gevraagd om een nieuw wachtwoord voor Mijn Zorgverlener. Uw code is:\n\n"
        f"    {code}\n\n"
        f"De code is geldig tot {expires_at.astimezone(dt.UTC):%d-%m-%Y %H:%M} (UTC). U vult hem in met uw "
        "geboortedatum en een nieuw wachtwoord.\n\n"
        "Hebt u dit niet gevraagd? Dan hoeft u niets te doen: uw wachtwoord blijft zoals het is.\n"
    )
    await mail.queue_mail(session, row.id, row.email, "Uw code voor een nieuw wachtwoord", body, "reset")
    log.info("portal account %s: reset code issued", row.id)


async def change_bank_account_with_password(
    uow: UnitOfWork, hasher: Hasher, account_id: str, agb: str, new: BankAccount, password: str
) -> tuple[Attempt, dt.date | None]:
    """A portal account changes its provider's bank account: the password asked again first, and
    a notice to the account's e-mail address afterwards (in the same transaction)."""
    attempt = await confirm_password(uow, hasher, account_id, agb, password)
    if not attempt.ok:
        return attempt, None
    changed, since = await change_bank_account(uow, agb, new, account_id)
    if changed:
        provider = await uow.session.scalar(select(providers.c.name).where(providers.c.agb == agb))
        row = attempt.account
        body = (
            f"Beste {row.name},\n\n"
            f"Het bankrekeningnummer van {provider} (AGB-code {agb}) is op {since:%d-%m-%Y} in Mijn Zorgverlener "
            f"gewijzigd in het nummer eindigend op {mask_iban(new.iban)}.\n\n"
            "Hebt u dit niet zelf gedaan? Neem dan direct contact met ons op.\n"
        )
        subject = "Uw bankrekeningnummer is gewijzigd"
        await mail.queue_mail(uow.session, row.id, row.email, subject, body, "bank_account")
    return attempt, since
