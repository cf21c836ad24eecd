"""The driver-level bulk insert stores values exactly as SQLAlchemy does, in the caller's
transaction (both engines: executemany on SQLite, COPY on PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Table, insert, select, text

from server.audit.models import AuditEvent
from server.db.migrate import upgrade
from server.db.session import make_engine
from server.decisions.bulk import fast_insert, roomy_sqlite_cache
from server.decisions.models import PublicNotice
from server.registry.models import Area

AT = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _notice() -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "area_id": 1,
        "starts_on": dt.date(2026, 3, 1),
        "ends_on": dt.date(2026, 3, 7),
        "days": 7,
        "created_by": None,
        "created_at": AT,
    }


def _event(entity_id: str) -> dict[str, Any]:
    return {
        "at": AT,
        "actor_id": uuid.uuid4(),
        "actor_role": "supervisor",
        "device_id": None,
        "request_id": "r-1",
        "action": "propose",
        "entity": "proposal",
        "entity_id": entity_id,
        "changes": {"state": [None, "proposed"], "new_amount": 78000, "note": "人均收入"},
    }


def test_values_are_stored_as_sqlalchemy_stores_them(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_stored_alike(database_url))


def test_rows_roll_back_with_the_callers_transaction(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_rolled_back(database_url))


async def _stored_alike(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    notices = [_notice(), _notice()]
    events = [_event("a"), _event("b")]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Area), [{"id": 1, "code": "C", "name": "C", "level": "county", "path": "/1/"}]
            )
            await connection.execute(insert(PublicNotice), [notices[0]])
            await fast_insert(connection, _table(PublicNotice), [notices[1]])
            await connection.execute(insert(AuditEvent), [events[0]])
            await fast_insert(connection, _table(AuditEvent), [events[1]])
        async with engine.connect() as connection:
            raw = (
                await connection.execute(text("SELECT starts_on, ends_on, days, created_at FROM public_notice"))
            ).all()
            assert raw[0] == raw[1], "the same stored form"
            stored = (await connection.execute(select(PublicNotice))).mappings().all()
            assert sorted((dict(row) for row in stored), key=str) == sorted(notices, key=str)
            raw = (await connection.execute(text("SELECT at, changes FROM audit_event ORDER BY id"))).all()
            assert raw[0] == raw[1]
            read = (await connection.execute(select(AuditEvent).order_by(AuditEvent.id))).mappings().all()
            assert [{k: v for k, v in row.items() if k != "id"} for row in read] == events
    finally:
        await engine.dispose()


async def _rolled_back(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await fast_insert(connection, _table(AuditEvent), [_event("first statement of the transaction")])
            await transaction.rollback()
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM audit_event"))).scalar() == 0
    finally:
        await engine.dispose()


def test_the_larger_sqlite_cache_is_set_back(database_url: str) -> None:
    asyncio.run(_cache_set_back(database_url))


async def _cache_set_back(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            before = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar() if sqlite else None
            async with roomy_sqlite_cache(connection, kib=32768):
                if sqlite:
                    assert (await connection.exec_driver_sql("PRAGMA cache_size")).scalar() == -32768
            if sqlite:
                assert (await connection.exec_driver_sql("PRAGMA cache_size")).scalar() == before
    finally:
        await engine.dispose()
