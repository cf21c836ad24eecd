"""Run alembic migrations programmatically (the ``recheck migrate`` command and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["alembic_config", "downgrade", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An alembic config pointing at the packaged migrations and, optionally, a database."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "heads") -> None:
    """Migrate the database up to ``revision`` (all heads by default). Blocking."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    """Migrate the database down to ``revision``. Blocking."""
    command.downgrade(alembic_config(database_url), revision)
