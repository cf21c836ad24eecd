"""Decision operations for the ``recheck`` command line.

``recheck decisions propose [--area CODE]``: proposals for accepted visits without one.
``recheck decisions apply-effective [--on DATE]``: write approved decisions whose month has come.
``recheck decisions load-rules FILE``: check and store a rules document as a new version.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.identity import Actor
from server.db.session import command_transaction
from server.decisions import services
from server.errors import DomainError
from server.registry.models import Area
from server.settings import Settings

__all__ = ["decisions_args", "in_session", "run_decisions"]

T = TypeVar("T")


async def in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction; a refusal becomes a :class:`CommandError`."""
    from server.cli import CommandError

    async with command_transaction(settings.database_url) as session:
        try:
            return await work(session)
        except DomainError as exc:
            details = "; ".join(f"{e.path}: {e.reason}" for e in exc.errors[:20])
            raise CommandError(f"{exc.message}" + (f" ({details})" if details else "")) from exc


def decisions_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    propose = sub.add_parser("propose", help="proposals for accepted visits that have none")
    propose.add_argument("--area", default=None, help="area code (default: all areas)")
    apply = sub.add_parser("apply-effective", help="write approved decisions whose month has come")
    apply.add_argument("--on", type=dt.date.fromisoformat, default=None, help="date (default: today)")
    load = sub.add_parser("load-rules", help="check and store a rules document as a new version")
    load.add_argument("file", type=Path)


async def _propose(session: AsyncSession, area: str | None) -> str:
    from server.cli import CommandError

    area_id = None
    if area:
        area_id = await session.scalar(select(Area.id).where(Area.code == area))
        if area_id is None:
            raise CommandError(f"unknown area code {area}")
    result = await services.generate(session, Actor.system("cli"), area_id=area_id)
    return (
        f"{result.created} proposals made ({result.follow_ups} follow-up visits planned), "
        f"{len(result.skipped)} visits skipped, in {result.seconds:.2f} s"
    )


def run_decisions(args: argparse.Namespace, settings: Settings) -> None:
    actor = Actor.system("cli")
    if args.action == "propose":
        print(asyncio.run(in_session(settings, lambda s: _propose(s, args.area))))
    elif args.action == "apply-effective":
        result = asyncio.run(in_session(settings, lambda s: services.apply_effective(s, actor, args.on)))
        print(f"{result.applied} decisions took effect on {result.on}; {result.phase_outs_ended} phase-outs ended")
    else:
        document = args.file.read_bytes()
        rules = asyncio.run(in_session(settings, lambda s: services.load_rule_set(s, actor, document)))
        print(f"rules {rules.version} stored and in force for new proposals")
