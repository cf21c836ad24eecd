"""Sync operations for the ``recheck`` command line.

``recheck sync purge``: delete removal rows older than the change log's retention
(``RECHECK_FEED_RETENTION_DAYS``, 90 by default). A device whose cursor is older than that gets a
full snapshot and a state check that removes what it should no longer hold, so nothing is lost;
the log just stops growing with removals. Run it periodically (cron, a systemd timer) on one
machine; it is safe to run on several at once.

``recheck sync import-device FILE --by SUPERVISOR``: import the file a revoked tablet's
``recheck device export`` wrote, as ``POST /reviews/devices/{id}/import`` does (audited as the
supervisor named), and print the result as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid
from pathlib import Path

import msgspec

from schemas.sync import DeviceImportResult
from server.db.session import command_transaction, make_engine, make_session_factory
from server.settings import Settings
from server.sync.feed import purge_removals

__all__ = ["run_sync", "sync_args"]


def sync_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    purge = sub.add_parser("purge", help="delete removal rows older than the change log's retention")
    purge.add_argument("--days", type=int, help="retention in days (default: RECHECK_FEED_RETENTION_DAYS)")
    recover = sub.add_parser("import-device", help="bring a revoked tablet's exported work into review")
    recover.add_argument("file", type=Path, help="the file `recheck device export` wrote")
    recover.add_argument("--by", required=True, help="the supervisor (or admin) doing it, for the audit trail")


async def _purge(settings: Settings, days: int) -> int:
    async with command_transaction(settings.database_url) as session:
        return await purge_removals(session, dt.datetime.now(dt.UTC) - dt.timedelta(days=days))


async def _import_device(settings: Settings, body: bytes, device_id: uuid.UUID, username: str) -> DeviceImportResult:
    from sqlalchemy import select

    from server.auth.identity import Actor
    from server.auth.models import User
    from server.auth.services import resolve_user
    from server.cli import CommandError
    from server.media.config import MediaConfig, open_media_store
    from server.media.services import MediaContext
    from server.sync.recovery import import_device_export

    engine = make_engine(settings.database_url, null_pool=True)
    config = MediaConfig.from_env()
    store = open_media_store(settings, config)
    try:
        factory = make_session_factory(engine)
        async with factory() as session:
            user_id = await session.scalar(select(User.id).where(User.username == username))
            supervisor = await resolve_user(session, user_id, None) if user_id else None
        if supervisor is None or supervisor.role.value not in ("supervisor", "admin"):
            raise CommandError(f"{username}: no active supervisor or admin of that name")
        return await import_device_export(
            factory,
            MediaContext(factory, store, config),
            supervisor,
            Actor(user_id=supervisor.id, role=supervisor.role.value, request_id="cli"),
            device_id,
            body,
            received_at=dt.datetime.now(dt.UTC),
        )
    finally:
        store.close()
        await engine.dispose()


def _run_import(args: argparse.Namespace, settings: Settings) -> None:
    from server.cli import CommandError
    from server.errors import DomainError

    if not args.file.is_file():
        raise CommandError(f"{args.file}: no such file")
    if args.file.stat().st_size > settings.import_max_bytes:
        raise CommandError(f"{args.file}: over RECHECK_IMPORT_MAX_BYTES ({settings.import_max_bytes} bytes)")
    body = args.file.read_bytes()
    try:
        device_id = msgspec.json.decode(body, type=_Device).device_id
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CommandError(f"{args.file}: not a tablet's export file ({exc})") from exc
    try:
        result = asyncio.run(_import_device(settings, body, device_id, args.by))
    except DomainError as exc:
        raise CommandError(f"{args.file}: {exc.message}") from exc
    print(msgspec.json.encode(result).decode())


class _Device(msgspec.Struct):
    device_id: uuid.UUID


def run_sync(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "import-device":
        _run_import(args, settings)
    elif args.action == "purge":
        days = settings.feed_retention_days if args.days is None else args.days
        print(f"{asyncio.run(_purge(settings, max(days, 0)))} removal rows older than {days} days purged")
