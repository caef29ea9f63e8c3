"""HTTP routes of *Mijn Zorgverlener* accounts: staff create, list and disable them; a person
activates one, logs in (OAuth2 password form), changes or resets the password.

What a person reads here is Dutch. A wrong code, date of birth or password gets one answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, field_validator

from zorg_common import clock
from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import PORTAL_TOKEN_TTL, Forbidden, Principal, require_scope, sign_portal_token
from zorg_common.identifiers import Agb
from zorg_common.limits import body_limit
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.problems import BadInput, Conflict, NotFound, ProblemError
from zorg_common.values import IsoDate

from ..adapters.passwords import Hasher, HasherBusy
from ..domain.accounts import normalise_email, password_problems
from ..service_layer import accounts as uc
from ..service_layer import mail
from ..service_layer.register import UnknownProvider
from ..settings import EligibilitySettings

#: Every body here is a few fields: a larger one is refused before it is read.
MAX_BODY_BYTES = 4_096

router = body_limit(MAX_BODY_BYTES)(APIRouter(prefix="/portal", tags=["portal"]))

StaffRead = Annotated[Principal, Depends(require_scope("providers:read"))]
StaffWrite = Annotated[Principal, Depends(require_scope("providers:write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
PortalUser = Annotated[Principal, Depends(require_scope("portal"))]
# Declares the password flow in OpenAPI, so that /docs (and any OAuth2 client) can log in here.
_docs_login = OAuth2PasswordBearer(tokenUrl="/portal/token", scopes={"portal": "Mijn Zorgverlener"}, auto_error=False)
Secret = Annotated[str, Field(max_length=256)]

CODE_REFUSED = (
    "De code, de geboortedatum of beide kloppen niet, of de code is verlopen of al gebruikt. "
    "Na vijf mislukte pogingen op rij is het account 15 minuten geblokkeerd."
)
LOGIN_REFUSED = (
    "Het e-mailadres of het wachtwoord klopt niet. Na vijf mislukte pogingen op rij is het account "
    "15 minuten geblokkeerd."
)
PASSWORD_REFUSED = "Het wachtwoord klopt niet, of het account is na te veel pogingen tijdelijk geblokkeerd."
#: The 503 of a route that checks or sets a password.
HASHER_OR_DATABASE_BUSY = "Too many passwords are being checked at once, or the database is away (Retry-After)"


def get_hasher(runtime: RuntimeDep) -> Hasher:
    hasher = runtime.state.get("hasher")
    if hasher is None:
        settings = runtime.settings
        assert isinstance(settings, EligibilitySettings)
        hasher = runtime.state["hasher"] = Hasher(settings.PORTAL_HASH_CONCURRENCY, settings.PORTAL_HASH_QUEUE)
    return hasher


HasherDep = Annotated[Hasher, Depends(get_hasher)]


def hasher_busy() -> ProblemError:
    return ProblemError(
        503,
        "Service unavailable",
        "Het is op dit moment te druk om in te loggen. Probeer het over enkele seconden opnieuw.",
        kind="unavailable",
        headers={"Retry-After": "5"},
    )


CODE_REFUSED_DOC = "The code, the date of birth or both are wrong, or the code has expired or was used"


def refused(detail: str) -> ProblemError:
    return ProblemError(400, "Not accepted", detail, kind="not-accepted")


def check_new_password(password: str, field: str) -> None:
    problems = password_problems(password)
    if problems:
        raise BadInput([(field, p) for p in problems], "Het wachtwoord voldoet niet aan de regels.")


def _birth_date(value: dt.date) -> dt.date:
    if not dt.date(1900, 1, 1) <= value <= clock.today():
        raise ValueError("not a date of birth")
    return value


class AccountIn(BaseModel):
    agb: Agb
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    birth_date: IsoDate

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("birth_date")
    @classmethod
    def _born(cls, value: dt.date) -> dt.date:
        return _birth_date(value)


class AccountOut(BaseModel):
    id: str
    agb: str
    name: str
    email: str
    status: Literal["pending", "active", "disabled"]
    locked_until: dt.datetime | None
    created_at: dt.datetime
    activated_at: dt.datetime | None
    disabled_at: dt.datetime | None


class AccountCreated(AccountOut):
    activation_code: str = Field(description="shown once; only its hash is kept")
    activation_code_expires_at: dt.datetime


class CodeIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    birth_date: IsoDate
    password: Secret


class PasswordChangeIn(BaseModel):
    current_password: Secret
    new_password: Secret


class ResetIn(BaseModel):
    email: str = Field(max_length=254)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    scope: str = "portal"


class MailOut(BaseModel):
    id: str
    account_id: str
    to_address: str
    subject: str
    body: str
    purpose: str
    created_at: dt.datetime
    sent_at: dt.datetime | None


def _account_out(row: Any) -> AccountOut:
    return AccountOut.model_validate({k: row._mapping[k] for k in AccountOut.model_fields})


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountCreated,
    summary="Create an account (staff)",
    responses=problem_responses((409, "An account with this e-mail address exists already")),
)
async def create_account(body: AccountIn, uow: UowDep, principal: StaffWrite) -> AccountCreated:
    try:
        row, code, expires_at = await uc.create_account(
            uow, body.agb, body.name, body.email, body.birth_date, principal.subject
        )
    except UnknownProvider:
        raise BadInput([("agb", "no provider with this AGB code in the register")]) from None
    except uc.EmailTaken:
        raise Conflict("an account with this e-mail address exists already", [("email", "taken")]) from None
    await uow.commit()
    return AccountCreated(**_account_out(row).model_dump(), activation_code=code, activation_code_expires_at=expires_at)


@router.get("/accounts", response_model=Page[AccountOut], summary="The accounts, of one provider or all (staff)")
async def list_accounts(
    uow: UowDep, _: StaffRead, paging: PageDep, agb: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None
) -> Page[AccountOut]:
    rows, total = await uc.list_accounts(uow.session, agb, paging.offset, paging.page_size)
    return Page(items=[_account_out(r) for r in rows], page=paging.page, page_size=paging.page_size, total=total)


@router.post(
    "/accounts/{account_id}/disable",
    response_model=AccountOut,
    summary="Disable an account (staff)",
    responses=problem_responses(404),
)
async def disable_account(
    account_id: Annotated[str, Path(max_length=36)], uow: UowDep, principal: StaffWrite
) -> AccountOut:
    try:
        row = await uc.disable_account(uow, account_id, principal.subject)
    except uc.AccountNotFound:
        raise NotFound(f"no account {account_id}") from None
    await uow.commit()
    return _account_out(row)


async def _redeem(uow: Any, hasher: Hasher, purpose: Literal["activation", "reset"], body: CodeIn) -> None:
    check_new_password(body.password, "password")
    try:
        attempt = await uc.redeem_code(uow, hasher, purpose, body.code, body.birth_date, body.password)
    except HasherBusy:
        raise hasher_busy() from None
    await uow.commit()  # also a failure: it counts
    if not attempt.ok:
        raise refused(CODE_REFUSED)


@router.post(
    "/activate",
    status_code=204,
    summary="Activate an account: code, date of birth, a new password",
    responses=problem_responses((400, CODE_REFUSED_DOC), (503, HASHER_OR_DATABASE_BUSY)),
)
async def activate(body: CodeIn, uow: UowDep, hasher: HasherDep) -> Response:
    await _redeem(uow, hasher, "activation", body)
    return Response(status_code=204)


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Log in (OAuth2 password form): a portal token",
    responses=problem_responses(
        (400, "The e-mail address or the password is wrong, or the account is locked"),
        (503, HASHER_OR_DATABASE_BUSY),
    ),
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], uow: UowDep, hasher: HasherDep, runtime: RuntimeDep
) -> TokenOut:
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    try:
        email = normalise_email(form.username)
    except ValueError:
        email = ""  # no account has it: the same answer, after the same work
    try:
        attempt = await uc.log_in(uow, hasher, email, form.password[:256])
    except HasherBusy:
        raise hasher_busy() from None
    await uow.commit()
    if not attempt.ok:
        raise refused(LOGIN_REFUSED)
    signed = sign_portal_token(
        settings, subject=attempt.account.id, agb=attempt.account.agb, private_key=settings.ZORG_JWT_PRIVATE_KEY
    )
    return TokenOut(access_token=signed, expires_in=int(PORTAL_TOKEN_TTL.total_seconds()))


@router.post(
    "/password",
    status_code=204,
    summary="Change the password (portal): the current one and a new one",
    responses=problem_responses((503, HASHER_OR_DATABASE_BUSY)),
)
async def change_password(
    body: PasswordChangeIn,
    uow: UowDep,
    hasher: HasherDep,
    principal: PortalUser,
    _: Annotated[str | None, Depends(_docs_login)],
) -> Response:
    check_new_password(body.new_password, "new_password")
    try:
        attempt = await uc.change_password(uow, hasher, principal.subject, body.current_password, body.new_password)
    except uc.AccountNotFound:
        raise Forbidden("dit token hoort niet bij een account van Mijn Zorgverlener") from None
    except HasherBusy:
        raise hasher_busy() from None
    await uow.commit()
    if not attempt.ok:
        raise BadInput([("current_password", PASSWORD_REFUSED)], "Het wachtwoord is niet gewijzigd.")
    return Response(status_code=204)


@router.post("/password-reset", status_code=202, summary="Forgotten password: a code by mail (202 for any address)")
async def password_reset(body: ResetIn, uow: UowDep) -> Response:
    try:
        email = normalise_email(body.email)
    except ValueError:
        raise BadInput([("email", "Dit is geen e-mailadres.")]) from None
    await uc.request_reset(uow, email)
    await uow.commit()
    return Response(status_code=202)


@router.post(
    "/password-reset/confirm",
    status_code=204,
    summary="A new password: the mailed code, the date of birth",
    responses=problem_responses((400, CODE_REFUSED_DOC), (503, HASHER_OR_DATABASE_BUSY)),
)
async def password_reset_confirm(body: CodeIn, uow: UowDep, hasher: HasherDep) -> Response:
    await _redeem(uow, hasher, "reset", body)
    return Response(status_code=204)


@router.get("/mail", response_model=list[MailOut], summary="Portal mail kept or sent, newest first (admin)")
async def kept_mail(
    uow: UowDep, _: Admin, email: Annotated[str, Query(max_length=254)], limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[MailOut]:
    rows = await mail.mail_to(uow.session, email.strip().lower(), limit)
    return [MailOut.model_validate({k: r._mapping[k] for k in MailOut.model_fields}) for r in rows]
