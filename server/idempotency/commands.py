"""``recheck idempotency purge``: delete the stored answers of expired ``Idempotency-Key``s.

Answers are kept ``RECHECK_IDEMPOTENCY_HOURS`` (24 by default); an expired one is never replayed
anyway, so this only keeps the table small. Run it with the other housekeeping commands (cron,
a systemd timer); it is safe to run on several machines at once.
"""

from __future__ import annotations

import argparse
import asyncio

from server.db.session import command_transaction
from server.idempotency.guard import purge_expired
from server.settings import Settings

__all__ = ["idempotency_args", "run_idempotency"]


def idempotency_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("purge", help="delete the stored answers whose keys have expired")


async def _purge(settings: Settings) -> int:
    async with command_transaction(settings.database_url) as session:
        return await purge_expired(session)


def run_idempotency(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "purge":
        print(f"{asyncio.run(_purge(settings))} expired idempotency answers purged")
