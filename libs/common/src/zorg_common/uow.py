"""The unit of work: one transaction; the events it emits go to the outbox in that same transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import DateTime, Text, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import clock, tracing
from .events import CloudEvent, Event, envelope, topic_name
from .messaging import outbox

log = logging.getLogger(__name__)

#: PostgreSQL channel on which a commit that wrote outbox rows wakes relays in other processes.
OUTBOX_CHANNEL = "zorg_outbox"


_INSERT = insert(outbox)
# PostgreSQL: the rows go as one array per column (one statement whatever the number of
# events, no per-row parameters to process) and relays in other processes are woken by one
# pg_notify, which PostgreSQL delivers only when the transaction commits.
_INSERT_NOTIFY = text(
    "WITH written AS ("
    " INSERT INTO outbox (event_id, topic, key, event_type, payload, created_at)"
    " SELECT e.event_id, e.topic, e.key, e.event_type, e.payload, :created_at"
    " FROM unnest(:event_ids, :topics, :keys, :event_types, :payloads)"
    " WITH ORDINALITY AS e(event_id, topic, key, event_type, payload, n)"
    " ORDER BY e.n"  # seq in the order the events were emitted: the relay sends in seq order
    " RETURNING 1)"
    f" SELECT pg_notify('{OUTBOX_CHANNEL}', '') WHERE EXISTS (SELECT FROM written)"
).bindparams(
    *(bindparam(name, type_=ARRAY(Text)) for name in ("event_ids", "topics", "keys", "event_types", "payloads")),
    bindparam("created_at", type_=DateTime(timezone=True)),
)


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
        tracing.stamp(cloud_event)
        self._pending.append((topic_name(self._topic_prefix, event.TOPIC), cloud_event))
        return cloud_event

    async def commit(self) -> None:
        session = self.session
        wrote_events = bool(self._pending)
        if wrote_events:
            now = clock.utcnow()
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(
                    _INSERT_NOTIFY,
                    {
                        "event_ids": [ce.id for _, ce in self._pending],
                        "topics": [topic for topic, _ in self._pending],
                        "keys": [ce.subject or "" for _, ce in self._pending],
                        "event_types": [ce.type for _, ce in self._pending],
                        "payloads": [ce.to_json().decode() for _, ce in self._pending],
                        "created_at": now,
                    },
                )
            else:
                await session.execute(
                    _INSERT,
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
