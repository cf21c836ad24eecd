"""The ``recheck`` command: migrate, serve, users, and each area's operations.

Each sub-command is a small function taking the parsed arguments; areas register theirs in
``COMMANDS`` (name → (help, add_arguments, run)). Exit code 0 on success, 1 on a refusal
(the reason on stderr), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.decisions.commands import decisions_args, run_decisions
from server.demo import demo_args, run_demo
from server.idempotency.commands import idempotency_args, run_idempotency
from server.media.commands import media_args, run_media
from server.operations.commands import (
    backup_args,
    check_args,
    migrate_data_args,
    restore_args,
    run_backup,
    run_check,
    run_migrate_data,
    run_restore,
)
from server.payments.commands import payments_args, run_payments
from server.registry.commands import import_args, run_import
from server.settings import Settings, SettingsError, get_settings
from server.sync.commands import run_sync, sync_args
from sync.client.cli import add_arguments as device_args
from sync.client.cli import run as run_device

__all__ = ["COMMANDS", "FIELD_SCHEMA", "CommandError", "main"]

#: Where the field app's build reads the wire schema (committed; a test keeps it current).
FIELD_SCHEMA = Path(__file__).resolve().parents[1] / "field" / "src" / "schema" / "wire.schema.json"


class CommandError(Exception):
    """A refusal to report on stderr with exit code 1."""


def _migrate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--revision", default="heads", help="target revision (default: all heads)")
    parser.add_argument("--down", action="store_true", help="downgrade to --revision (e.g. base)")


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    from server.db.migrate import downgrade, upgrade

    if args.down:
        downgrade(settings.database_url, args.revision)
    else:
        upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}: {settings.database_url.split('@')[-1]}")


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    print(f"recheck on http://{args.host}:{args.port}  (API docs: http://{args.host}:{args.port}/schema)")
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        proxy_headers=False,  # the app reads X-Forwarded-For itself, from RECHECK_TRUSTED_PROXIES only
    )


def _create_user_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("--role", required=True, choices=["admin", "approver", "supervisor", "worker", "auditor"])
    parser.add_argument("--password", required=True)
    parser.add_argument("--area", action="append", required=True, help="area code (repeatable)")
    parser.add_argument("--name", default=None, help="display name")


def _create_user(args: argparse.Namespace, settings: Settings) -> None:
    from server.auth.bootstrap import create_user_by_codes

    asyncio.run(
        create_user_by_codes(settings, args.username, args.role, args.password, args.area, args.name or args.username)
    )
    print(f"user {args.username} created")


def _plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, help="2027Q1, 2027H1, 2027 or 2027-03")
    parser.add_argument("--area", action="append", default=[], help="area code (repeatable; default: all areas)")


def _plan(args: argparse.Namespace, settings: Settings) -> None:
    from server.planning.commands import plan_by_codes

    print(asyncio.run(plan_by_codes(settings, args.period, args.area)))


def _simulate_args(parser: argparse.ArgumentParser) -> None:
    from server.simulation import add_arguments

    add_arguments(parser)


def _simulate(args: argparse.Namespace, settings: Settings) -> None:
    from server.simulation import run

    run(args, settings)


def _schema_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["export"])
    parser.add_argument("path", nargs="?", default=str(FIELD_SCHEMA), help=f"output file (default {FIELD_SCHEMA})")


def _schema(args: argparse.Namespace, settings: Settings) -> None:
    import json

    from schemas.jsonschema import wire_schema

    path = Path(args.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wire_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"schema: {path}")


Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, Settings], Any]]

COMMANDS: dict[str, Command] = {
    "migrate": ("apply database migrations", _migrate_args, _migrate),
    "serve": ("run the HTTP server", _serve_args, _serve),
    "create-user": ("create an account (first admin, scripted set-up)", _create_user_args, _create_user),
    "plan": ("generate the recheck visits due in a period", _plan_args, _plan),
    "import": ("import a roster file: recheck import roster FILE", import_args, run_import),
    "demo": ("load the demo county (docs/demo.md)", demo_args, run_demo),
    "decisions": ("proposals, effective dates, rules: recheck decisions propose", decisions_args, run_decisions),
    "payments": ("payment rosters: recheck payments build|close|export|import-return", payments_args, run_payments),
    "media": ("photo uploads: recheck media cleanup (expired uploads)", media_args, run_media),
    "sync": ("sync: recheck sync purge (old removals) | import-device FILE --by SUPERVISOR", sync_args, run_sync),
    "idempotency": ("stored answers to retried creates: recheck idempotency purge", idempotency_args, run_idempotency),
    "device": ("a worker's tablet: recheck device login|pull|capture|push|upload|export", device_args, run_device),
    "schema": ("the wire types as JSON Schema: recheck schema export [PATH]", _schema_args, _schema),
    "backup": ("back up the embedded database and photos while it runs: recheck backup DEST", backup_args, run_backup),
    "restore": ("restore a backup into an empty install: recheck restore SRC", restore_args, run_restore),
    "check": ("check that database and photo store agree (reads only)", check_args, run_check),
    "migrate-data": (
        "copy the database into an empty PostgreSQL: migrate-data --to URL",
        migrate_data_args,
        run_migrate_data,
    ),
    "simulate": ("a fleet of simulated tablets under faults (docs/simulation.md)", _simulate_args, _simulate),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recheck", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _run) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recheck`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        COMMANDS[args.command][2](args, settings)
    except (CommandError, SettingsError) as exc:
        print(f"recheck {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
