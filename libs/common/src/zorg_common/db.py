"""Async database engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import json
import traceback
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, Text, any_, bindparam, cast, event, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from . import tracing

#: Constraint and index names every service's tables get, so that migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def async_url(url: str) -> str:
    """Accept the plain URLs operators write and pick the async driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(async_url(url)).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10, echo: bool = False) -> AsyncEngine:
    """Every engine of the platform; ``hide_parameters``: an error or an echoed statement shows the
    SQL, never the values (a BSN, an IBAN) bound to it."""
    url = async_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return tracing.instrument_engine(engine)
    # No pre-ping: it costs a round trip per checkout; a dead connection fails one unit of work,
    # which the caller sees as an error (HTTP) or retries (relay, consumers).
    return tracing.instrument_engine(
        create_async_engine(
            url, echo=echo, hide_parameters=True, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800
        )
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_transient(exc: BaseException) -> bool:
    """An outage of the database or the network, which retrying later cures; not a bad request or message."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError | OSError)


def is_unstorable_text(exc: BaseException) -> bool:
    """PostgreSQL refused a text it cannot store (the NUL character): bad input, not an outage or a bug."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "22021"


#: How often a loop deletes what it keeps for a while (sent outbox rows, inbox ids), and how many
#: rows per transaction.
PRUNE_INTERVAL_S = 60.0
PRUNE_CHUNK = 5_000


def describe_error(exc: BaseException, limit: int = 500) -> str:
    """An error as one line for a log or a dead letter, without the values it was about.

    A database error names its kind and its first line ("duplicate key value violates unique
    constraint ...") but not PostgreSQL's ``DETAIL`` (``Key (bsn)=(...)``) or the statement.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first_line = str(exc.orig).strip().split("\n", 1)[0]
        return f"{type(exc).__name__}: {first_line}"[:limit]
    return f"{type(exc).__name__}: {exc}"[:limit]


def describe_traceback(exc: BaseException) -> str:
    """Where an error happened (the frames), without its message: for logs that must not carry data."""
    return "".join(traceback.format_tb(exc.__traceback__))


async def delete_in_chunks(
    sessions: async_sessionmaker[AsyncSession], statement: Executable, params: Mapping[str, Any], chunk: int
) -> int:
    """Run a ``DELETE ... LIMIT :chunk``-shaped statement in transactions of one chunk until it deletes
    fewer rows than that; returns how many it deleted. Short transactions: writers are never held up."""
    deleted = 0
    while True:
        async with sessions() as session, session.begin():
            result = typing.cast(CursorResult[Any], await session.execute(statement, {**params, "chunk": chunk}))
            count = result.rowcount or 0
        deleted += count
        if count < chunk:
            return deleted


def among(column: ColumnElement[Any], name: str, *, postgres: bool) -> ColumnElement[bool]:
    """``column IN (:name)``. On PostgreSQL the values go as one array (``= ANY(:name)``), so the
    statement text, and its prepared plan, is the same for any number of values; elsewhere an
    expanding ``IN`` list."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def unnest(alias: str, **columns: TypeEngine[Any]) -> TableValuedAlias:
    """PostgreSQL: arrays as rows, ``unnest(:a, :b) AS alias(a, b)``, one array parameter per column
    (named as the column): for writing a batch in one statement, or joining a batch of key pairs
    to their index."""
    arrays = [bindparam(name, type_=ARRAY(kind)) for name, kind in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name=alias)


class BulkInsert:
    """Many rows into one table in one statement, whatever their number.

    On PostgreSQL the rows go as one array per column through ``unnest``: the statement text is
    the same for every batch (one prepared plan) and no parameter is processed per row, which for
    thousands of rows of many columns is most of an ``executemany``'s cost. Elsewhere (SQLite) it
    is a plain ``executemany``. JSON columns travel as text and are cast back.
    """

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._json = {name for name in self.columns if isinstance(table.c[name].type, JSON)}
        rows = unnest("bulk", **{name: Text() if name in self._json else table.c[name].type for name in self.columns})
        values = [cast(rows.c[name], JSON) if name in self._json else rows.c[name] for name in self.columns]
        self._postgres = insert(table).from_select(list(self.columns), select(*values).select_from(rows))

    async def execute(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if session.get_bind().dialect.name != "postgresql":
            await session.execute(insert(self.table), [{name: row[name] for name in self.columns} for row in rows])
            return
        params = {
            name: [json.dumps(row[name]) for row in rows] if name in self._json else [row[name] for row in rows]
            for name in self.columns
        }
        await session.execute(self._postgres, params)


def dialect_insert(session: AsyncSession, table: Table) -> Any:
    """An INSERT of the session's dialect (PostgreSQL or SQLite), which has ``on_conflict_do_update``."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


async def upsert(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> None:
    """Insert the rows, or replace the other columns of those whose ``key`` is there (PostgreSQL and SQLite)."""
    if not rows:
        return
    statement = dialect_insert(session, table)
    columns = [c for c in rows[0] if c not in key]
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in columns}
    )
    await session.execute(statement, list(rows))
