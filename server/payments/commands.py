"""Payment roster operations for the ``recheck`` command line (docs/payments.md).

``recheck payments build|close MONTH``, ``recheck payments export MONTH FILE`` (``.csv`` or
``.xlsx``), ``recheck payments import-return MONTH FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from server.auth.identity import Actor
from server.decisions.commands import in_session
from server.decisions.policy import format_yuan
from server.payments import services
from server.settings import Settings

__all__ = ["payments_args", "run_payments"]


def payments_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (("build", "build (or rebuild) an open month"), ("close", "rebuild and freeze a month")):
        sub.add_parser(name, help=help_text).add_argument("month", help="YYYY-MM")
    export = sub.add_parser("export", help="write the bank file (.csv or .xlsx)")
    export.add_argument("month")
    export.add_argument("file", type=Path)
    back = sub.add_parser("import-return", help="apply the bank's return file (all or nothing)")
    back.add_argument("month")
    back.add_argument("file", type=Path)


def run_payments(args: argparse.Namespace, settings: Settings) -> None:
    actor = Actor.system("cli")
    if args.action in ("build", "close"):
        run = services.build if args.action == "build" else services.close
        month = asyncio.run(in_session(settings, lambda s: run(s, actor, args.month)))
        print(
            f"{month.month} {month.state}: {month.row_count} households, {format_yuan(month.total)} yuan "
            f"in {len(month.areas)} areas"
        )
    elif args.action == "export":
        _row, lines = asyncio.run(in_session(settings, lambda s: services.export_rows(s, args.month)))
        if args.file.suffix.lower() == ".xlsx":
            args.file.write_bytes(services.export_xlsx(args.month, lines))
        else:
            args.file.write_bytes(services.export_csv(lines))
        print(f"{len(lines)} lines written to {args.file}")
    else:
        content = args.file.read_bytes()
        result = asyncio.run(in_session(settings, lambda s: services.import_return(s, actor, args.month, content)))
        print(
            f"{result.paid} paid, {result.failed} failed, {result.unchanged} unchanged, {result.pending_left} pending"
        )
