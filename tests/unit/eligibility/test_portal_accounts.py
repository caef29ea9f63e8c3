"""The rules of Mijn Zorgverlener without I/O: seed 001's password rules, the lockout and its end,
one-time codes, and the portal token: its lifetime and the key that checks it."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Literal

import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization

from tests.support import pem_pair
from zorg_common import auth
from zorg_common.auth import PORTAL_TOKEN_TTL, Unauthorized, decode_token, issue_token, sign_portal_token
from zorg_common.settings import ServiceSettings
from zorg_eligibility.adapters.passwords import Hasher, HasherBusy
from zorg_eligibility.domain.accounts import (
    FORBIDDEN_CHARACTERS,
    LOCK_DURATION,
    Guard,
    code_hash,
    new_code,
    normalise_email,
    password_problems,
)
from zorg_eligibility.settings import EligibilitySettings

TOO_SHORT = "Het wachtwoord is te kort: gebruik minstens 8 tekens."
TOO_LONG = "Het wachtwoord is te lang: gebruik hoogstens 12 tekens."
NO_DIGIT = "Het wachtwoord moet minstens 1 cijfer bevatten."
NO_LETTER = "Het wachtwoord moet minstens 1 letter bevatten."


@pytest.mark.parametrize("password", ["abcdef12", "abcdefghij12", "12345678a", "Zorg2023", "één2drie4vijf"[:12]])
def test_a_good_password_at_eight_and_at_twelve_characters(password: str) -> None:
    assert password_problems(password) == []


def test_seven_characters_is_too_short() -> None:
    assert password_problems("abcde12") == [TOO_SHORT]


def test_thirteen_characters_is_too_long() -> None:
    assert password_problems("abcdefghijk12") == [TOO_LONG]


def test_only_digits_lacks_a_letter() -> None:
    assert password_problems("12345678") == [NO_LETTER]


def test_only_letters_lacks_a_digit() -> None:
    assert password_problems("abcdefgh") == [NO_DIGIT]


@pytest.mark.parametrize("character", list(FORBIDDEN_CHARACTERS))
def test_each_forbidden_character(character: str) -> None:
    assert FORBIDDEN_CHARACTERS == "`<>/\"'&\\"  # seed 001: Niet de tekens `<>/"'&\
    assert password_problems(f"abcd{character}123") == [f"Het wachtwoord mag deze tekens niet bevatten: {character}"]


def test_every_broken_rule_at_once() -> None:
    assert password_problems("") == [TOO_SHORT, NO_DIGIT, NO_LETTER]
    assert password_problems("<>&<>&<>&<>&<>") == [
        TOO_LONG,
        NO_DIGIT,
        NO_LETTER,
        "Het wachtwoord mag deze tekens niet bevatten: < > &",
    ]
    assert password_problems("a1/") == [TOO_SHORT, "Het wachtwoord mag deze tekens niet bevatten: /"]


def test_invisible_characters_are_refused() -> None:
    assert password_problems("abcd\t1234") == [
        "Het wachtwoord mag geen tabs, regeleinden of andere onzichtbare tekens bevatten."
    ]


def test_a_space_is_allowed() -> None:
    assert password_problems("ab cd 12") == []


NOW = dt.datetime(2023, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_five_failures_in_a_row_lock_for_fifteen_minutes() -> None:
    guard = Guard()
    for n in range(4):
        guard = guard.after_failure(NOW)
        assert guard.failures == n + 1 and not guard.locked(NOW)
    guard = guard.after_failure(NOW)
    assert guard.locked(NOW) and guard.locked(NOW + LOCK_DURATION - dt.timedelta(seconds=1))
    assert dt.timedelta(minutes=15) == LOCK_DURATION


def test_the_lock_ends_and_the_count_starts_again() -> None:
    guard = Guard()
    for _ in range(5):
        guard = guard.after_failure(NOW)
    later = NOW + LOCK_DURATION
    assert not guard.locked(later)
    guard = guard.after_failure(later)  # one failure after the lock: not locked again at once
    assert guard.failures == 1 and not guard.locked(later)
    for _ in range(4):
        guard = guard.after_failure(later)
    assert guard.locked(later)


def test_a_success_resets_the_count() -> None:
    guard = Guard().after_failure(NOW).after_failure(NOW).after_failure(NOW).after_failure(NOW)
    assert guard.after_success() == Guard()
    assert not guard.after_success().after_failure(NOW).locked(NOW)


def test_codes_are_random_and_stored_only_as_a_hash() -> None:
    codes = {new_code() for _ in range(100)}
    assert len(codes) == 100 and all(len(c) == 19 and c.count("-") == 3 for c in codes)
    code = codes.pop()
    assert code_hash(code) == code_hash(code.lower().replace("-", " ")) != code_hash(codes.pop())
    assert code not in code_hash(code)


def test_email_addresses_are_compared_in_one_form() -> None:
    assert normalise_email("  A.deBoer@Noord.EXAMPLE ") == "a.deboer@noord.example"
    for bad in ("", "geen adres", "a@b", "@noord.example", "a@@noord.example", "a" * 250 + "@noord.example"):
        with pytest.raises(ValueError):
            normalise_email(bad)


# ---- the portal token ----------------------------------------------------------------------------


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_portal_token_lives_fifteen_minutes() -> None:
    token = sign_portal_token(settings(), subject="account-1", agb="12345678", private_key=None)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert dt.timedelta(minutes=15) == PORTAL_TOKEN_TTL
    assert claims["exp"] - claims["iat"] == 900 and claims["scope"] == "portal" and claims["agb"] == "12345678"
    principal = decode_token(settings(), token)
    assert principal.is_portal and principal.subject == "account-1"


def test_an_expired_portal_token_is_refused() -> None:
    token = sign_portal_token(settings(), subject="a", agb="12345678", private_key=None, ttl=dt.timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(settings(), token)


@pytest.mark.parametrize(("kind", "algorithm"), [("rsa", "RS256"), ("ec", "ES256")])
def test_production_signs_with_the_private_key_and_every_service_checks_the_public_key(
    kind: str, algorithm: str
) -> None:
    private, public = pem_pair(kind)
    signer = EligibilitySettings(
        _env_file=None, ZORG_JWT_ALGORITHM="RS256", ZORG_JWT_PUBLIC_KEY=public, ZORG_JWT_PRIVATE_KEY=private
    )  # type: ignore[call-arg]
    token = sign_portal_token(signer, subject="a", agb="12345678", private_key=signer.ZORG_JWT_PRIVATE_KEY)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    verifier = settings(ZORG_JWT_ALGORITHM="RS256", ZORG_JWT_PUBLIC_KEY=public)
    assert decode_token(verifier, token).agb == "12345678"
    # The development secret cannot forge one where the platform runs on keys.
    forged = sign_portal_token(settings(), subject="a", agb="87654321", private_key=None)
    with pytest.raises(Unauthorized):
        decode_token(verifier, forged)


def test_with_a_jwks_url_the_issuer_picks_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    platform_private, platform_public = pem_pair("ec")
    idp_private, idp_public = pem_pair("rsa")

    class IdentityProviderKeys:  # stands in for the IdP's JWKS endpoint
        def get_signing_key_from_jwt(self, token: str) -> Any:
            return type("Key", (), {"key": idp_public})()

    monkeypatch.setattr(auth, "_jwks_client", lambda url: IdentityProviderKeys())
    service = settings(
        ZORG_JWT_ALGORITHM="RS256",
        ZORG_JWT_JWKS_URL="https://idp.example/jwks",
        ZORG_JWT_PUBLIC_KEY=platform_public,
        ZORG_JWT_ISSUER="https://idp.example",
    )
    portal = sign_portal_token(service, subject="a", agb="12345678", private_key=platform_private)
    assert decode_token(service, portal).is_portal
    now = dt.datetime.now(dt.UTC)
    staff_claims = {"sub": "app", "scope": "claims:read", "iss": "https://idp.example", "aud": "zorginkoop"}
    staff = jwt.encode({**staff_claims, "iat": now, "exp": now + dt.timedelta(minutes=5)}, idp_private, "RS256")
    assert decode_token(service, staff).has("claims:read")
    # The platform's key signs nothing but portal tokens: an admin token under its issuer is refused.
    admin = jwt.encode(
        {
            **staff_claims,
            "scope": "admin",
            "iss": "zorginkoop-portal",
            "iat": now,
            "exp": now + dt.timedelta(minutes=5),
        },
        platform_private,
        "ES256",
    )
    with pytest.raises(Unauthorized):
        decode_token(service, admin)


def test_development_tokens_still_work_beside_portal_tokens() -> None:
    token = issue_token(settings(), ["portal"], agb="12345678")
    assert decode_token(settings(), token).agb == "12345678"


def test_settings_refuse_a_platform_that_cannot_sign_portal_tokens() -> None:
    _, public = pem_pair("rsa")
    with pytest.raises(ValueError, match="ZORG_JWT_PRIVATE_KEY"):
        EligibilitySettings(_env_file=None, ZORG_JWT_ALGORITHM="RS256", ZORG_JWT_PUBLIC_KEY=public)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="RSA"):
        EligibilitySettings(_env_file=None, ZORG_JWT_PRIVATE_KEY=_pem_pair_ed25519())  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="ZORG_PORTAL_ISSUER"):
        settings(ZORG_PORTAL_ISSUER="zorginkoop")


def _pem_pair_ed25519() -> str:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


# ---- hashing: off the loop, bounded, the same work for an unknown address --------------------------


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)  # cheap: only the calls count here
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


async def test_an_unknown_address_costs_one_argon2_check_like_a_known_one() -> None:
    counting = CountingHasher()
    hasher = Hasher(concurrency=1, queue=0, hasher=counting)
    stored = await hasher.hash("Zorg2023ab")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "Zorg2023ab") and not await hasher.verify(stored, "Zorg2023ac")
    assert not await hasher.verify(None, "Zorg2023ab")  # against the decoy
    assert counting.verified == 3


async def test_a_flood_of_hashes_past_the_queue_is_refused() -> None:
    hasher = Hasher(concurrency=1, queue=1, hasher=CountingHasher())
    results = await asyncio.gather(*(hasher.hash("Zorg2023ab") for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(r, HasherBusy) for r in results) == 3
    assert sum(isinstance(r, str) for r in results) == 2
    assert isinstance(await hasher.hash("Zorg2023ab"), str)  # and it recovers


async def test_without_a_relay_the_mail_worker_idles_until_stopped() -> None:
    """It returned at once, which supervision counts as a failure: `zorg up` was never ready."""
    from types import SimpleNamespace

    from zorg_eligibility.service_layer.mail import mail_worker

    runtime: Any = SimpleNamespace(settings=EligibilitySettings(_env_file=None, REPLY_SMTP_HOST=None))  # type: ignore[call-arg]
    stop = asyncio.Event()
    worker = asyncio.create_task(mail_worker(runtime, stop))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not worker.done()
    stop.set()
    await asyncio.wait_for(worker, 5)
