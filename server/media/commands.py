"""Media operations for the ``recheck`` command line.

``recheck media cleanup``: discard uploads that expired unfinished (their parts in the store and
their rows) and forget finished ones past their expiry. Run it periodically (cron, a systemd
timer) on one machine; it is safe to run on several at once.
"""

from __future__ import annotations

import argparse
import asyncio

from server.db.session import make_engine, make_session_factory
from server.media.config import MediaConfig, open_media_store
from server.media.services import MediaContext, cleanup_expired_uploads
from server.settings import Settings

__all__ = ["media_args", "run_media"]


def media_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("cleanup", help="discard expired, unfinished uploads")


async def _cleanup(settings: Settings) -> int:
    engine = make_engine(settings.database_url, null_pool=True)
    config = MediaConfig.from_env()
    store = open_media_store(settings, config)
    try:
        return await cleanup_expired_uploads(MediaContext(make_session_factory(engine), store, config))
    finally:
        store.close()
        await engine.dispose()


def run_media(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "cleanup":
        print(f"{asyncio.run(_cleanup(settings))} expired uploads removed")
