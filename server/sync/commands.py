"""Sync operations for the ``recheck`` command line.

``recheck sync purge``: delete removal rows older than the change log's retention
(``RECHECK_FEED_RETENTION_DAYS``, 90 by default). A device whose cursor is older than that gets a
full snapshot and a state check that removes what it should no longer hold, so nothing is lost;
the log just stops growing with removals. Run it periodically (cron, a systemd timer) on one
machine; it is safe to run on several at once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from server.db.session import command_transaction
from server.settings import Settings
from server.sync.feed import purge_removals

__all__ = ["run_sync", "sync_args"]


def sync_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    purge = sub.add_parser("purge", help="delete removal rows older than the change log's retention")
    purge.add_argument("--days", type=int, help="retention in days (default: RECHECK_FEED_RETENTION_DAYS)")


async def _purge(settings: Settings, days: int) -> int:
    async with command_transaction(settings.database_url) as session:
        return await purge_removals(session, dt.datetime.now(dt.UTC) - dt.timedelta(days=days))


def run_sync(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "purge":
        days = settings.feed_retention_days if args.days is None else args.days
        print(f"{asyncio.run(_purge(settings, max(days, 0)))} removal rows older than {days} days purged")
