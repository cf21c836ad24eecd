"""``recheck backup DEST``, ``recheck restore SRC``, ``recheck check`` and ``recheck migrate-data
--to URL`` for the command line.

``check`` prints one line per problem (kind, record, what is wrong; ``--json`` for machines) and
exits 1 when there is any. It only reads: run it nightly, after a restore, before an upgrade.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from pathlib import Path

from server.db.session import command_transaction
from server.media.config import MediaConfig, open_media_store
from server.operations.backup import BackupError, backup, restore
from server.operations.check import Problem, check_all
from server.settings import Settings

__all__ = [
    "backup_args",
    "check_args",
    "migrate_data_args",
    "restore_args",
    "run_backup",
    "run_check",
    "run_migrate_data",
    "run_restore",
]


def backup_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", type=Path, help="a new (or empty) folder for the backup")


def restore_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", type=Path, help="a folder made by recheck backup")


def check_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the problems as JSON")
    parser.add_argument("--threads", type=int, default=4, help="photo objects hashed at the same time")


def _refuse(exc: BackupError) -> Exception:
    from server.cli import CommandError

    return CommandError(str(exc))


def run_backup(args: argparse.Namespace, settings: Settings) -> None:
    store = open_media_store(settings, MediaConfig.from_env())
    try:
        report = backup(settings, store, args.dest)
    except BackupError as exc:
        raise _refuse(exc) from exc
    finally:
        store.close()
    print(report.render("backup"))
    if report.missing:
        raise _refuse(BackupError(f"{len(report.missing)} photo objects were missing or damaged (recheck check)"))


def run_restore(args: argparse.Namespace, settings: Settings) -> None:
    store = open_media_store(settings, MediaConfig.from_env())
    try:
        report = restore(settings, store, args.src)
    except BackupError as exc:
        raise _refuse(exc) from exc
    finally:
        store.close()
    print(report.render("restored"))


async def _check(settings: Settings, threads: int) -> list[Problem]:
    store = open_media_store(settings, MediaConfig.from_env())
    try:
        async with command_transaction(settings.database_url) as session:
            return await check_all(session, store, threads=threads)
    finally:
        store.close()


def run_check(args: argparse.Namespace, settings: Settings) -> None:
    from server.cli import CommandError

    started = time.perf_counter()
    problems = asyncio.run(_check(settings, args.threads))
    if args.json:
        print(json.dumps([dataclasses.asdict(p) for p in problems], indent=1, ensure_ascii=False))
    else:
        for problem in problems:
            print(problem.line())
        print(f"{len(problems)} problems ({time.perf_counter() - started:.1f} s)")
    if problems:
        raise CommandError(f"{len(problems)} problems found (nothing was changed)")


def migrate_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, help="the target: postgresql+asyncpg://…, migrated and empty")
    parser.add_argument("--from", dest="source", help="the source database URL (default: RECHECK_DATABASE_URL)")


def run_migrate_data(args: argparse.Namespace, settings: Settings) -> None:
    """Copy the whole database into an empty, migrated target (docs/operations.md)."""
    from server.cli import CommandError
    from server.operations.migrate_data import MigrateDataError, migrate_data

    try:
        report = asyncio.run(migrate_data(args.source or settings.database_url, args.to))
    except MigrateDataError as exc:
        raise CommandError(f"{exc} (nothing was written to the target)") from exc
    print(report.render())
