"""Payment roster operations for the ``recheck`` command line (docs/payments.md).

``recheck payments build|close MONTH``, ``recheck payments export MONTH FILE`` (``.csv`` or
``.xlsx``), ``recheck payments import-return MONTH FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from server.auth.identity import Actor
from server.decisions.commands import in_session
from server.decisions.policy import format_yuan
from server.payments import services
from server.payments.layouts import find_layout, layouts
from server.settings import Settings

__all__ = ["payments_args", "run_payments"]


def payments_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (("build", "build (or rebuild) an open month"), ("close", "rebuild and freeze a month")):
        sub.add_parser(name, help=help_text).add_argument("month", help="YYYY-MM")
    export = sub.add_parser("export", help="write the bank file in a layout (see `payments layouts`)")
    export.add_argument("month")
    export.add_argument("file", type=Path, help="the file, or a folder to write it under the layout's file name")
    export.add_argument("--layout", help="layout name (default: generic-xlsx for a .xlsx file, else generic-csv)")
    back = sub.add_parser("import-return", help="apply the bank's return file (all or nothing)")
    back.add_argument("month")
    back.add_argument("file", type=Path)
    back.add_argument("--layout", default="generic-csv", help="the layout the bank file was sent in")
    sub.add_parser("layouts", help="list the bank file layouts and check the admin's layout files")


def run_payments(args: argparse.Namespace, settings: Settings) -> None:
    actor = Actor.system("cli")
    if args.action in ("build", "close"):
        run = services.build if args.action == "build" else services.close
        month = asyncio.run(in_session(settings, lambda s: run(s, actor, args.month)))
        print(
            f"{month.month} {month.state}: {month.row_count} households, {format_yuan(month.total)} yuan "
            f"in {len(month.areas)} areas"
        )
    elif args.action == "layouts":
        _list_layouts(settings)
    elif args.action == "export":
        default = "generic-xlsx" if args.file.suffix.lower() == ".xlsx" else "generic-csv"
        layout = find_layout(args.layout or default, Path(settings.bank_layouts))
        name, body, count = asyncio.run(
            in_session(settings, lambda s: services.export_bank_file(s, actor, args.month, layout))
        )
        target = args.file / name if args.file.is_dir() else args.file
        target.write_bytes(body)
        print(f"{count} lines written to {target} ({layout.name})")
    else:
        content = args.file.read_bytes()
        layout = find_layout(args.layout, Path(settings.bank_layouts))
        result = asyncio.run(
            in_session(settings, lambda s: services.import_return(s, actor, args.month, content, layout))
        )
        print(
            f"{result.paid} paid, {result.failed} failed, {result.unchanged} unchanged, {result.pending_left} pending"
        )


def _list_layouts(settings: Settings) -> None:
    from server.cli import CommandError

    found, broken = layouts(Path(settings.bank_layouts))
    for layout in found.values():
        print(f"{layout.name}\t{layout.format}\t{layout.encoding}\t{layout.file_name}\t{layout.title}")
    for error in broken:
        for problem in error.errors:
            print(f"{problem.path}: {problem.reason}", file=sys.stderr)
    if broken:
        raise CommandError(f"{len(broken)} layout file(s) cannot be used")
