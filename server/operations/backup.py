"""``recheck backup DEST`` / ``recheck restore SRC`` for the embedded default (SQLite + media folder).

A backup is a folder::

    recheck.db                     the database, copied by SQLite's online backup API
    media/objects/ab/ab12…         every object a stored photo references (original, renditions)
    manifest.json                  counts, the database's SHA-256 and every object's size

The database is copied first, in one backup step: SQLite copies it inside one read transaction,
so the copy is the database as of one commit, while the server goes on writing (WAL mode lets
writers continue). The objects are then copied from the list in *that copy*: objects are
content-addressed and never rewritten, so each one the copy references is still in the live
store. A push committed after the snapshot is simply not in this backup; one committed before
is there whole, with its photos. The backup is written under ``DEST.partial`` and renamed to
``DEST`` when complete, so a folder named like a backup is always a whole one.

Restore checks everything first (the database's checksum, each object's hash and size against
the manifest) and writes nothing when anything is off; then the objects go into the configured
media store and the database file is renamed into place last. It refuses a place that already
holds a database or photos: restoring is for an empty install, never over a live one.

PostgreSQL and S3 have their own, better tools (``pg_dump`` or base backups with WAL archiving;
bucket versioning or replication); these commands say so rather than half-doing it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from media.store import MediaStore, check_content_key
from media.store.local import LocalStore
from server.settings import Settings

__all__ = [
    "MANIFEST",
    "BackupError",
    "BackupReport",
    "backup",
    "restore",
]

MANIFEST = "manifest.json"
DATABASE = "recheck.db"
FORMAT = 1
_CHUNK = 1 << 20
#: Rows counted into the manifest (and compared after a restore).
_COUNTED = ("household", "member", "visit", "visit_capture", "sync_receipt", "photo", "proposal", "roster_row")

NOT_EMBEDDED = (
    "recheck {verb} covers the embedded default (a SQLite file and a local media folder). "
    "For PostgreSQL use its own tools: pg_dump -Fc (nightly) or pg_basebackup with WAL archiving "
    "(point-in-time recovery); for S3 turn on bucket versioning or replication. See docs/operations.md."
)


class BackupError(Exception):
    """A refusal: the message says what is wrong; nothing was changed."""


@dataclass
class BackupReport:
    """What a backup or restore did (printed by the command)."""

    path: Path
    database_bytes: int = 0
    objects: int = 0
    object_bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def render(self, verb: str) -> str:
        lines = [
            f"{verb} {self.path}: database {self.database_bytes / 1e6:.1f} MB, "
            f"{self.objects} objects {self.object_bytes / 1e6:.1f} MB, {self.seconds:.1f} s",
            "  " + ", ".join(f"{name} {n}" for name, n in self.counts.items()),
        ]
        lines += [f"  missing or damaged in the live store: {key}" for key in self.missing]
        return "\n".join(lines)


# ---------------------------------------------------------------- helpers


def sqlite_path(settings: Settings, verb: str) -> Path:
    """The database file of the embedded default, or a `BackupError` saying which tools to use."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(NOT_EMBEDDED.format(verb=verb))
    return Path(url.database)


def _media_root(settings: Settings, store: MediaStore, verb: str) -> Path:
    if settings.media_url.startswith("s3:") or not isinstance(store, LocalStore):
        raise BackupError(NOT_EMBEDDED.format(verb=verb))
    return store.root


def _object_path(root: Path, key: str) -> Path:
    return root / "objects" / key[:2] / key


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    """Copy a file, returning the SHA-256 and size of the bytes actually copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _referenced_keys(db: sqlite3.Connection) -> list[str]:
    """Every object a stored photo needs, in a stable order."""
    keys: set[str] = set()
    for row in db.execute("SELECT sha256, review_sha256, thumb_sha256 FROM photo WHERE status = 'stored'"):
        keys.update(k for k in row if k)
    return sorted(keys)


def _counts(db: sqlite3.Connection) -> dict[str, int]:
    return {table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in _COUNTED}


def _revision(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def _is_empty_folder(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


# ---------------------------------------------------------------- backup


def _snapshot(live: Path, target: Path) -> None:
    """Copy the live database with SQLite's online backup API in one step (one read transaction)."""
    source = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # pages=-1: the whole database in one step, a snapshot of one commit
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"the database copy fails SQLite's quick_check: {verdict}")
    finally:
        copy.close()
        source.close()


def backup(settings: Settings, store: MediaStore, dest: Path) -> BackupReport:
    """Take a backup into ``dest`` (a new or empty folder) while the server keeps running.

    Objects missing or damaged in the live store are left out and listed in the report (and the
    manifest): the backup is still the best copy there is, and ``recheck check`` tells more.
    """
    started = time.perf_counter()
    live = sqlite_path(settings, "backup")
    root = _media_root(settings, store, "backup")
    if not live.exists():
        raise BackupError(f"no database at {live}")
    if not _is_empty_folder(dest):
        raise BackupError(f"{dest} exists and is not empty: give a new folder")
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # an earlier backup that never finished
    partial.mkdir(parents=True)
    _snapshot(live, partial / DATABASE)
    report = BackupReport(path=dest)
    db = sqlite3.connect(partial / DATABASE)
    try:
        keys = _referenced_keys(db)
        report.counts = _counts(db)
        revision = _revision(db)
    finally:
        db.close()
    objects: list[list[Any]] = []
    for key in keys:
        source = _object_path(root, key)
        target = _object_path(partial / "media", key)
        try:
            digest, size = _copy_hashing(source, target)
        except FileNotFoundError:
            report.missing.append(key)
            continue
        if digest != key:
            target.unlink()
            report.missing.append(key)
            continue
        objects.append([key, size])
        report.object_bytes += size
    report.objects = len(objects)
    db_sha, report.database_bytes = _hash_file(partial / DATABASE)
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "revision": revision,
        "database": {"file": DATABASE, "bytes": report.database_bytes, "sha256": db_sha},
        "counts": report.counts,
        "objects": objects,
        "missing": report.missing,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
    if dest.exists():
        dest.rmdir()
    partial.rename(dest)
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------- restore


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup in ``src``, or a `BackupError` if it is not one."""
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{src} is not a recheck backup (no {MANIFEST})") from exc
    except ValueError as exc:
        raise BackupError(f"{src / MANIFEST} is damaged: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src / MANIFEST}: unknown backup format {manifest.get('format')!r}")
    return manifest


def _damage(src: Path, manifest: dict[str, Any]) -> Iterator[str]:
    """Every way the backup differs from its manifest."""
    database = manifest.get("database") or {}
    path = src / DATABASE
    if not path.is_file():
        yield f"{DATABASE}: missing"
    else:
        digest, size = _hash_file(path)
        if size != database.get("bytes") or digest != database.get("sha256"):
            yield f"{DATABASE}: {size} bytes, SHA-256 {digest[:16]}…, the manifest says otherwise"
    for key, size in manifest.get("objects") or []:
        check_content_key(key)
        object_path = _object_path(src / "media", key)
        if not object_path.is_file():
            yield f"object {key}: missing"
            continue
        digest, actual = _hash_file(object_path)
        if digest != key or actual != size:
            yield f"object {key}: its bytes no longer match their checksum"


def restore(settings: Settings, store: MediaStore, src: Path) -> BackupReport:
    """Restore the backup in ``src`` into the configured (empty) database file and media folder."""
    started = time.perf_counter()
    target = sqlite_path(settings, "restore")
    root = _media_root(settings, store, "restore")
    manifest = read_manifest(src)
    live = [p for p in (target, Path(f"{target}-wal")) if p.exists() and p.stat().st_size > 0]
    objects_dir = root / "objects"
    if live or not _is_empty_folder(objects_dir):
        raise BackupError(
            f"{target} or {objects_dir} already holds data: restore goes into an empty place, never over an install"
        )
    problems = list(_damage(src, manifest))
    if problems:
        raise BackupError("the backup is damaged, nothing restored:\n  " + "\n  ".join(problems[:50]))
    report = BackupReport(path=src, counts=dict(manifest.get("counts") or {}))
    written: list[str] = []
    try:
        for key, size in manifest.get("objects") or []:
            with _object_path(src / "media", key).open("rb") as stream:
                store.put(key, stream)  # re-checks the hash on the way in
            written.append(key)
            report.object_bytes += size
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(target.name + ".restoring")
        shutil.copyfile(src / DATABASE, incoming)
        with incoming.open("rb+") as handle:
            os.fsync(handle.fileno())
        incoming.replace(target)
    except BaseException:
        for key in written:  # leave the place as empty as it was, so the restore can be run again
            store.delete(key)
        raise
    report.objects = len(written)
    report.database_bytes = target.stat().st_size
    report.seconds = time.perf_counter() - started
    return report
