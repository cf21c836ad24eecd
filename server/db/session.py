"""Engine and session factory; one session per request, committed at the edge.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the embedded default
survives concurrent readers and writers. Sessions use ``expire_on_commit=False`` because a
response is serialised after the commit (no implicit lazy loads under async).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["command_transaction", "make_engine", "make_session_factory", "session_scope"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _json_dumps(value: Any) -> str:
    """JSON columns are encoded with msgspec: several times faster than ``json.dumps`` on bulk
    writes, and it also encodes msgspec Structs, dates and UUIDs directly."""
    return msgspec.json.encode(value).decode()


def make_engine(url: str, *, null_pool: bool = False, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``url`` with the per-dialect settings recheck relies on."""
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", msgspec.json.decode)
    if null_pool:
        kwargs["poolclass"] = NullPool
    elif url.startswith("postgresql"):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (responses serialise after it)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def command_transaction(database_url: str) -> AsyncIterator[AsyncSession]:
    """One transaction on an engine of its own, for a command-line operation: committed if the
    block ends cleanly, rolled back otherwise, and the engine disposed either way."""
    engine = make_engine(database_url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncGenerator[AsyncSession, None]:
    """Yield a session; commit if the caller finished cleanly, roll back otherwise.

    Used as the request dependency: Litestar runs the code after ``yield`` before it sends the
    response, so a success answer is never sent for an uncommitted write.
    """
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
