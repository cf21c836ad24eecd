"""Declarative base with a constraint naming convention and reusable column types.

Names on every constraint let alembic migrations create and drop them identically on
SQLite and PostgreSQL (alembic's naming guide).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, Table, TypeDecorator, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column

__all__ = [
    "Base",
    "BigIntPk",
    "Fen",
    "JSONDoc",
    "Str",
    "UTCDateTime",
    "UuidPk",
    "core_table",
    "new_uuid",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Server clock, UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def core_table(model: type[Any]) -> Table:
    """A mapped class's table, for Core bulk inserts: the ORM's bulk path costs more per row and
    adds nothing to rows that are written once and never loaded back in the same session."""
    table: Table = model.__table__
    return table


def new_uuid() -> uuid.UUID:
    """A random UUID for server-made rows (devices make their own)."""
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every engine.

    SQLite has no timezone type, so values are stored naive-UTC and given back their UTC tzinfo;
    a naive value is refused rather than guessed (device clocks lie, and so do naive datetimes).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


#: JSON documents: JSONB on PostgreSQL, JSON text elsewhere.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")

UuidPk = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=new_uuid)]
#: 64-bit autoincrement key (SQLite only autoincrements INTEGER, so it gets that there).
BigIntPk = Annotated[
    int, mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
]
Fen = Annotated[int, mapped_column(BigInteger, nullable=False, default=0)]
Str = Annotated[str, mapped_column(String(200))]


class Base(DeclarativeBase):
    """Base of every model; metadata carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        uuid.UUID: Uuid,
        dict[str, Any]: JSONDoc,
        list[Any]: JSONDoc,
    }
