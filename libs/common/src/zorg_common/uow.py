"""The unit of work: one transaction; the events it emits go to the outbox in that same transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import func, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import clock
from .events import CloudEvent, Event, envelope, topic_name
from .messaging import outbox

log = logging.getLogger(__name__)

#: PostgreSQL channel on which a commit that wrote outbox rows wakes relays in other processes.
OUTBOX_CHANNEL = "zorg_outbox"


_INSERT = insert(outbox)
_INSERT_NOTIFY = insert(outbox).returning(func.pg_notify(OUTBOX_CHANNEL, ""))


class UnitOfWork:
    """``async with uow: ...; await uow.commit()``; anything not committed is rolled back.

    ``emit`` queues an event; ``commit`` writes the queued events to the outbox and the state
    change in one transaction, then wakes the relay. No event without its change, no change
    without its event.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        source: str,
        topic_prefix: str = "",
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._source = source
        self._topic_prefix = topic_prefix
        self._on_commit = on_commit
        self._pending: list[tuple[str, CloudEvent]] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use the unit of work inside 'async with'")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self._pending = []
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        try:
            if self._session.in_transaction():
                await self._session.rollback()
        finally:
            self._pending = []
            await self._session.close()
            self._session = None

    def emit(self, event: Event) -> CloudEvent:
        """Queue an event; it is written to the outbox when (and only if) the work commits."""
        cloud_event = envelope(event, self._source)
        self._pending.append((topic_name(self._topic_prefix, event.TOPIC), cloud_event))
        return cloud_event

    async def commit(self) -> None:
        session = self.session
        wrote_events = bool(self._pending)
        if wrote_events:
            now = clock.utcnow()
            # Relays in other processes are woken by pg_notify, delivered only when the
            # transaction commits; in the insert itself to save a round trip.
            statement = _INSERT_NOTIFY if session.get_bind().dialect.name == "postgresql" else _INSERT
            await session.execute(
                statement,
                [
                    {
                        "event_id": ce.id,
                        "topic": topic,
                        "key": ce.subject or "",
                        "event_type": ce.type,
                        "payload": ce.to_json().decode(),
                        "created_at": now,
                    }
                    for topic, ce in self._pending
                ],
            )
        await session.commit()
        count = len(self._pending)
        self._pending = []
        if wrote_events:
            log.debug("committed with %d event(s) in the outbox", count)
            if self._on_commit is not None:
                self._on_commit()

    async def rollback(self) -> None:
        self._pending = []
        await self.session.rollback()
