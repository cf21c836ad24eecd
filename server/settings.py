"""Settings, read from the environment once (``RECHECK_*``), with safe embedded defaults.

The defaults give the one-machine install: a SQLite file and a media folder under ``./var``.
Production (``RECHECK_ENV=production``) refuses to start with the development secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from server.auth.address import Network, parse_networks

__all__ = ["DEV_SECRET", "Settings", "SettingsError", "get_settings"]

#: Only for development and tests; refused in production.
DEV_SECRET = "recheck-development-secret-do-not-use-in-production"


class SettingsError(RuntimeError):
    """A setting is missing or unsafe; the server must not start."""


def _env(name: str, default: str) -> str:
    return os.environ.get(f"RECHECK_{name}", default)


def _default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path('var/recheck.db').resolve()}"


def _default_media_url() -> str:
    return f"file://{Path('var/media').resolve()}"


@dataclass(frozen=True)
class Settings:
    """All configuration of one process. See the README's configuration table."""

    env: str = "development"
    """``development``, ``test`` or ``production``."""
    database_url: str = field(default_factory=_default_database_url)
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``."""
    media_url: str = field(default_factory=_default_media_url)
    """``file:///path`` or ``s3://bucket/prefix``."""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    secret_key: str = DEV_SECRET
    """Signs access tokens and local media URLs."""
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    max_body_bytes: int = 10 * 1024 * 1024
    """Largest JSON request body accepted (tus uploads stream and are limited separately)."""
    import_max_bytes: int = 100 * 1024 * 1024
    """Largest roster file (CSV or XLSX) accepted for import, on upload and on the command line."""
    import_max_rows: int = 1_000_000
    """Most data rows a roster file may have (one row per person)."""
    bank_layouts: str = "var/bank-layouts"
    """Folder of the admin's own bank file layouts (``*.toml``, docs/payments.md), beside the shipped ones."""
    complaint_deadline_days: int = 10
    """Working days to investigate and answer a complaint; open past it, a complaint is overdue."""
    feed_retention_days: int = 90
    """How long the sync change log keeps removals (``recheck sync purge``); older cursors get a snapshot."""
    idempotency_hours: int = 24
    """How long the answer to a create sent with an ``Idempotency-Key`` is kept for replay."""
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_window_minutes: int = 15
    trusted_proxies: str = ""
    """Comma-separated addresses or networks of reverse proxies whose ``X-Forwarded-For`` is believed."""
    log_json: bool = True
    console_idle_seconds: int = 30 * 60
    """A console session unused this long is signed out (``RECHECK_CONSOLE_IDLE_MINUTES``)."""
    map_tiles_url: str = ""
    """Tile URL template of an intranet map server (``…/{z}/{x}/{y}.png``); empty: no basemap."""

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``RECHECK_*`` variables, validating the unsafe combinations."""
        settings = cls(
            env=_env("ENV", "development"),
            database_url=_env("DATABASE_URL", "") or _default_database_url(),
            media_url=_env("MEDIA_URL", "") or _default_media_url(),
            s3_endpoint_url=_env("S3_ENDPOINT_URL", "") or None,
            s3_region=_env("S3_REGION", "us-east-1"),
            s3_access_key=_env("S3_ACCESS_KEY", "") or None,
            s3_secret_key=_env("S3_SECRET_KEY", "") or None,
            secret_key=_env("SECRET_KEY", DEV_SECRET),
            access_token_minutes=int(_env("ACCESS_TOKEN_MINUTES", "15")),
            refresh_token_days=int(_env("REFRESH_TOKEN_DAYS", "30")),
            max_body_bytes=int(_env("MAX_BODY_BYTES", str(10 * 1024 * 1024))),
            import_max_bytes=int(_env("IMPORT_MAX_BYTES", str(100 * 1024 * 1024))),
            import_max_rows=int(_env("IMPORT_MAX_ROWS", "1000000")),
            bank_layouts=_env("BANK_LAYOUTS", "var/bank-layouts"),
            complaint_deadline_days=int(_env("COMPLAINT_DEADLINE_DAYS", "10")),
            feed_retention_days=int(_env("FEED_RETENTION_DAYS", "90")),
            idempotency_hours=int(_env("IDEMPOTENCY_HOURS", "24")),
            trusted_proxies=_env("TRUSTED_PROXIES", ""),
            log_json=_env("LOG_JSON", "1") not in ("0", "false", "no"),
            console_idle_seconds=int(_env("CONSOLE_IDLE_MINUTES", "30")) * 60,
            map_tiles_url=_env("MAP_TILES_URL", ""),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse configurations that must never run in production."""
        if self.env == "production" and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise SettingsError("RECHECK_SECRET_KEY must be set to a random value of 32+ characters")
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError("RECHECK_DATABASE_URL must be sqlite+aiosqlite:// or postgresql+asyncpg://")
        if not self.media_url.startswith(("file://", "s3://")):
            raise SettingsError("RECHECK_MEDIA_URL must be file:///path or s3://bucket/prefix")
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"RECHECK_TRUSTED_PROXIES: {exc}") from exc

    @property
    def proxy_networks(self) -> tuple[Network, ...]:
        """The trusted proxies, parsed."""
        return parse_networks(self.trusted_proxies)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_env()
