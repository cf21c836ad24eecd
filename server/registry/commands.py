"""``recheck import roster FILE``: the roster import from the command line, with a progress bar.

Exit codes: 0 imported (or nothing to do), 1 refused (every problem printed, by row and column;
``--json`` prints the machine-readable error body on stdout), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from schemas.errors import ErrorBody
from schemas.roster import RosterImportResult
from server.settings import Settings

__all__ = ["import_args", "run_import"]


def import_args(parser: argparse.ArgumentParser) -> None:
    """``import roster FILE [--skip-invalid] [--dry-run] [--json]``."""
    kinds = parser.add_subparsers(dest="kind", required=True)
    roster = kinds.add_parser("roster", help="households from a CSV or XLSX roster (layout: docs/roster.md)")
    roster.add_argument("file", type=Path, help="the .csv or .xlsx file")
    roster.add_argument(
        "--skip-invalid", action="store_true", help="import the valid households, leave out those with a bad row"
    )
    roster.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    roster.add_argument("--json", action="store_true", help="print the summary or the errors as JSON")
    roster.add_argument("--no-progress", action="store_true", help="no progress bar")


class _Progress:
    """Two tqdm bars (reading rows, writing rows), shown only on a terminal for long imports."""

    def __init__(self, enabled: bool, total_rows: int | None) -> None:
        self.enabled = enabled
        self.total_rows = total_rows
        self.bars: dict[str, Any] = {}

    def callback(self, name: str, total: int | None = None) -> Callable[[int], None] | None:
        if not self.enabled:
            return None

        def advance(count: int) -> None:
            from tqdm import tqdm

            if name not in self.bars:
                self.bars[name] = tqdm(total=total, desc=name, unit=" rows", file=sys.stderr, leave=False)
            self.bars[name].update(count)

        return advance

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


async def _import(args: argparse.Namespace, settings: Settings, progress: _Progress) -> RosterImportResult:
    from sqlalchemy.exc import IntegrityError

    from server.auth.identity import Actor
    from server.cli import CommandError
    from server.db.session import command_transaction
    from server.registry.roster import read_roster
    from server.registry.roster_import import import_roster

    roster = await asyncio.to_thread(
        read_roster,
        args.file,
        max_bytes=settings.import_max_bytes,
        max_rows=settings.import_max_rows,
        progress=progress.callback("reading", progress.total_rows),
    )
    try:
        async with command_transaction(settings.database_url) as session:
            return await import_roster(
                session,
                roster,
                Actor.system("cli"),
                skip_invalid=args.skip_invalid,
                dry_run=args.dry_run,
                source=args.file.name,
                progress=progress.callback("writing"),
            )
    except IntegrityError as exc:
        raise CommandError(
            f"a concurrent change touched the same households; run the import again ({exc.orig})"
        ) from exc


def run_import(args: argparse.Namespace, settings: Settings) -> None:
    """Run ``recheck import roster``; refusals raise :class:`server.cli.CommandError` (exit 1)."""
    from server.cli import CommandError
    from server.registry.roster import RosterFileError

    if not args.file.is_file():
        raise CommandError(f"{args.file}: no such file")
    estimate = None
    if args.file.suffix.lower() == ".csv" and args.file.stat().st_size <= settings.import_max_bytes:
        estimate = args.file.read_bytes().count(b"\n")
    progress = _Progress(not args.no_progress and sys.stderr.isatty(), estimate)
    try:
        result = asyncio.run(_import(args, settings, progress))
    except RosterFileError as exc:
        progress.close()
        if args.json:
            body = ErrorBody(status=exc.status, code=exc.code, message=exc.message, errors=exc.errors)
            print(msgspec.json.encode(body).decode())
        else:
            for error in exc.errors:
                print(f"{error.path}: {error.reason}", file=sys.stderr)
        raise CommandError(f"{args.file.name}: {exc.message}") from None
    progress.close()
    if args.json:
        print(msgspec.json.encode(result).decode())
        return
    for note in result.notes:
        print(f"tidied: {note.path}: {note.action}: {note.detail}", file=sys.stderr)
    for error in result.errors:
        print(f"skipped: {error.path}: {error.reason}", file=sys.stderr)
    verb = "would be" if result.dry_run else "were"
    print(
        f"{args.file.name}: {result.rows} rows, {result.households} households: {result.created} {verb} created, "
        f"{result.updated} updated, {result.unchanged} unchanged, {result.skipped_households} skipped "
        f"({result.members_created} members added, {result.members_updated} changed, "
        f"{result.members_removed} removed) in {result.seconds:.1f} s"
    )
