"""Accounts of *Mijn Zorgverlener*: the password rules of seed 001, the lockout, the one-time codes.

Pure rules over values; the service layer stores and hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

#: Seed 001: "Tussen de 8 en 12 tekens lang", "Minstens 1 cijfer en 1 letter", "Niet de tekens `<>/"'&\\".
MIN_LENGTH, MAX_LENGTH = 8, 12
FORBIDDEN_CHARACTERS = "`<>/\"'&\\"

#: DOMAIN.md, "what protects the accounts": five failures in a row lock the account for 15 minutes.
MAX_FAILURES = 5
LOCK_DURATION = dt.timedelta(minutes=15)
#: An activation code is valid 14 days (CONTRACT.md); a reset code, sent by mail, one hour.
ACTIVATION_VALID = dt.timedelta(days=14)
RESET_VALID = dt.timedelta(hours=1)
#: A new reset code is not sent within this time of the last one (nobody's mailbox is flooded).
RESET_RESEND_AFTER = dt.timedelta(minutes=5)

Status = Literal["pending", "active", "disabled"]
Purpose = Literal["activation", "reset"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,252}\.[^@\s]{2,}$")


def password_problems(password: str) -> list[str]:
    """Every rule of seed 001 that ``password`` breaks, in Dutch; empty when it is a good one."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Het wachtwoord is te kort: gebruik minstens {MIN_LENGTH} tekens.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Het wachtwoord is te lang: gebruik hoogstens {MAX_LENGTH} tekens.")
    if not any(c in "0123456789" for c in password):
        problems.append("Het wachtwoord moet minstens 1 cijfer bevatten.")
    if not any(c.isalpha() for c in password):
        problems.append("Het wachtwoord moet minstens 1 letter bevatten.")
    found = sorted({c for c in password if c in FORBIDDEN_CHARACTERS}, key=FORBIDDEN_CHARACTERS.index)
    if found:
        problems.append(f"Het wachtwoord mag deze tekens niet bevatten: {' '.join(found)}")
    if any(not c.isprintable() for c in password):
        # Not a rule of the seed: a tab or line break cannot be typed back reliably in a password field.
        problems.append("Het wachtwoord mag geen tabs, regeleinden of andere onzichtbare tekens bevatten.")
    return problems


def normalise_email(value: str) -> str:
    """The form an e-mail address is stored and looked up in; ValueError when it is not one."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not an e-mail address")
    return email


def new_code() -> str:
    """A one-time code a person can type: 16 characters from an alphabet without look-alikes."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def code_hash(code: str) -> str:
    """What is stored of a code. A code carries 80 random bits, so a fast hash is enough (unlike a
    password), and it lets the code itself find its account."""
    typed = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(typed.encode()).hexdigest()


@dataclass(frozen=True)
class Guard:
    """How many wrong tries in a row an account has seen, and until when it is locked."""

    failures: int = 0
    locked_until: dt.datetime | None = None

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: dt.datetime) -> Guard:
        """One more wrong try; the fifth in a row locks the account and starts a new count."""
        lock_over = self.locked_until is not None and now >= self.locked_until
        failures = (0 if lock_over else self.failures) + 1
        if failures >= MAX_FAILURES:
            return Guard(failures=0, locked_until=now + LOCK_DURATION)
        return Guard(failures=failures, locked_until=None if lock_over else self.locked_until)

    def after_success(self) -> Guard:
        return Guard()


def mask_iban(iban: str) -> str:
    """Only the last four characters of an account number, for a notice that travels by e-mail."""
    return "…" + iban[-4:]
