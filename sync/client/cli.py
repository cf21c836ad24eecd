"""``recheck device``: play a field worker's tablet from a terminal.

    recheck device --store tablet.sqlite --server http://127.0.0.1:8000 login worker1
    recheck device … pull
    recheck device … visits [--day 2026-12-01 | --all]
    recheck device … capture VISIT_ID form.json [--submit]
    recheck device … push
    recheck device … upload PHOTO_OR_FOLDER… [--chunk-size BYTES]
    recheck device … export FILE [PHOTO_OR_FOLDER…]   (a revoked tablet: its unsent work, for a supervisor)
    recheck device … status

The form file holds a :class:`schemas.capture.Capture` as JSON (any subset of its fields); its
photos are named by SHA-256 (``sha256sum``), and ``upload`` sends the files whose hash a capture
refers to, by tus, resuming an upload cut off earlier (run it again without files to continue).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from schemas.capture import Capture
from sync.client.client import DeviceClient, LoginRequired
from sync.client.transport import Refused, Unreachable
from sync.client.upload import CHUNK_SIZE

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default="var/device.sqlite", help="the tablet's SQLite file")
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="the recheck server's base URL")
    parser.add_argument("--msgpack", action="store_true", help="speak MessagePack instead of JSON")
    sub = parser.add_subparsers(dest="action", required=True)
    login = sub.add_parser("login", help="log in (registers this tablet the first time)")
    login.add_argument("username")
    login.add_argument("--password", help="prompted for when omitted")
    login.add_argument("--name", default="terminal tablet", help="device name shown to supervisors")
    sub.add_parser("pull", help="download assigned visits and changes")
    visits = sub.add_parser("visits", help="list the visits on the tablet (today's by default)")
    visits.add_argument("--day", type=dt.date.fromisoformat, help="visits planned for this day (YYYY-MM-DD)")
    visits.add_argument("--all", action="store_true", help="every visit on the tablet")
    capture = sub.add_parser("capture", help="record a visit's capture form from a JSON file")
    capture.add_argument("visit_id")
    capture.add_argument("form", type=Path)
    capture.add_argument("--submit", action="store_true", help="hand the capture in for review")
    sub.add_parser("push", help="upload the outbox")
    upload = sub.add_parser("upload", help="upload the photos the captures refer to (tus, resumable)")
    upload.add_argument("paths", nargs="*", type=Path, help="photo files or folders (none: continue open uploads)")
    upload.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="bytes per PATCH request")
    export = sub.add_parser("export", help="write the unsent outbox and photos to one file (a revoked tablet)")
    export.add_argument("file", type=Path, help="the file to write")
    export.add_argument("photos", nargs="*", type=Path, help="photo files or folders the captures refer to")
    sub.add_parser("sync", help="push, then pull")
    sub.add_parser("status", help="show what is held, queued and missing")


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=1, default=str))


def _visits(client: DeviceClient, args: argparse.Namespace) -> None:
    day = None if args.all else (args.day or dt.date.today())
    rows = []
    for view in client.visits(day):
        household = view.household
        rows.append(
            {
                "visit_id": str(view.visit.id),
                "state": view.visit.state,
                "due_on": view.visit.due_on.isoformat(),
                "visit_on": view.visit.visit_on.isoformat() if view.visit.visit_on else None,
                "household": household.head_name if household else None,
                "address": household.address if household else None,
                "members": len(household.members) if household else None,
                "capture": view.capture_id,
                "unsent_edits": view.pending,
                "return_comment": view.visit.return_comment,
            }
        )
    _print(rows)
    if not rows and day is not None:
        print(f"no visits planned for {day} (use --all to see every visit on the tablet)", file=sys.stderr)


def _capture(client: DeviceClient, args: argparse.Namespace) -> None:
    if client.visit(args.visit_id) is None and client.capture_for(args.visit_id) is None:
        raise SystemExit(f"visit {args.visit_id} is not on this tablet (pull first?)")
    try:
        form = msgspec.json.decode(args.form.read_bytes(), type=Capture)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SystemExit(f"{args.form}: {exc}") from exc
    capture_id = client.record_capture(args.visit_id, form, submit=args.submit)
    _print({"capture_id": capture_id or client.capture_for(args.visit_id), "queued": capture_id is not None})


def _upload(client: DeviceClient, args: argparse.Namespace) -> None:
    for path in args.paths:
        if not path.exists():
            raise SystemExit(f"{path}: no such file or folder")
    if args.chunk_size < 1:
        raise SystemExit("--chunk-size must be at least 1 byte")
    summary = client.upload_photos(args.paths, chunk_size=args.chunk_size)
    _print(vars(summary))
    if summary.unfinished:
        raise SystemExit(f"{len(summary.unfinished)} photo(s) not finished: run `upload` again to resume them")


def run(args: argparse.Namespace, _settings: object = None) -> None:
    """Run one ``recheck device`` action."""
    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    client = DeviceClient(args.store, args.server, msgpack=args.msgpack)
    try:
        if args.action == "login":
            password = args.password or getpass.getpass(f"password for {args.username}: ")
            client.login(args.username, password, args.name)
            _print({"device_id": client.device_id, "user": args.username})
        elif args.action == "pull":
            _print(vars(client.pull()))
        elif args.action == "visits":
            _visits(client, args)
        elif args.action == "capture":
            _capture(client, args)
        elif args.action == "push":
            summary = client.push()
            _print({**vars(summary), "rejected_items": _rejections(client)})
        elif args.action == "export":
            _print(client.export(args.file, args.photos))
        elif args.action == "upload":
            _upload(client, args)
        elif args.action == "sync":
            pushed, pulled = client.sync()
            _print({"push": vars(pushed), "pull": vars(pulled)})
        else:
            _print({**client.status(), "rejected_items": _rejections(client), "photos": client.store.evidence()})
    except LoginRequired as exc:
        raise SystemExit(f"{exc}: run `recheck device login USERNAME`") from exc
    except Refused as exc:
        if exc.code == "device_revoked":
            message = exc.body.get("message", "this tablet was revoked")
            raise SystemExit(f"{message} (`recheck device export FILE` writes it to one file)") from exc
        raise SystemExit(f"refused: {exc.body}") from exc
    except Unreachable as exc:
        raise SystemExit(f"server unreachable, everything is kept for the next try: {exc}") from exc
    finally:
        client.close()


def _rejections(client: DeviceClient) -> list[dict[str, Any]]:
    out = []
    for item, result in client.store.rejected():
        errors = msgspec.json.decode(result).get("errors", []) if result else []
        out.append({"mutation_id": item.mutation_id, "entity": item.entity, "errors": errors})
    return out
