"""Argon2id password hashes, computed off the event loop and a bounded number at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")


class HasherBusy(Exception):
    """More log-ins wait for a hash than the queue holds: answer 503, try again shortly."""


class Hasher:
    """``hash`` and ``verify`` run on worker threads, at most ``concurrency`` at once; at most
    ``queue`` more wait, and beyond that ``HasherBusy``. A hash takes tens of milliseconds of CPU
    and 64 MiB: unbounded, a flood of log-ins would starve every other request of the process."""

    def __init__(self, concurrency: int, queue: int, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()  # Argon2id, RFC 9106's second recommended setting
        self._slots = asyncio.Semaphore(concurrency)
        self._room = concurrency + queue
        self._inside = 0
        # Checking an unknown e-mail address against this costs as much as checking a real hash.
        self._decoy = self._hasher.hash("decoy password, never anyone's")

    async def _run(self, work: Callable[[], T]) -> T:
        if self._inside >= self._room:
            raise HasherBusy()
        self._inside += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(work)
        finally:
            self._inside -= 1

    async def hash(self, password: str) -> str:
        return await self._run(lambda: self._hasher.hash(password))

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no hash on file, the same work against a decoy."""
        target = stored or self._decoy

        def check() -> bool:
            try:
                return self._hasher.verify(target, password) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await self._run(check)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
