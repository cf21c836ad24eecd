"""The tablet's local store: one SQLite file with what it holds, its outbox and its receipts.

Every change is one SQLite transaction, so a client killed at any instant restarts from a
consistent state: a page of the feed is stored together with the cursor after it; a local
capture edit is stored together with the outbox item that carries it; an outbox item is
deleted together with the receipt that acknowledges it.

Tables:

- ``meta`` — key/value: credentials, tokens, cursor, reference data, counters;
- ``items`` — the records from the server feed (visits, households, captures), as received;
- ``drafts`` — the worker's view of each capture: the server's version plus unsent edits;
- ``outbox`` — mutations not yet acknowledged, in the order they were made;
- ``receipts`` — the server's answer for each acknowledged mutation (kept for display);
- ``evidence`` — per visit, photo hashes the server still lacks;
- ``uploads`` — per visit and photo: the file it is read from and the tus upload's URL, kept
  so an upload cut off (or a client killed) resumes from the server's offset.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from sync.digest import digest

__all__ = ["OutboxItem", "PhotoUpload", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS drafts (
    id TEXT PRIMARY KEY, visit_id TEXT NOT NULL, form BLOB NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB
);
CREATE TABLE IF NOT EXISTS receipts (
    mutation_id TEXT PRIMARY KEY, status TEXT NOT NULL, result BLOB NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (visit_id TEXT PRIMARY KEY, missing TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    visit_id TEXT NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL, length INTEGER NOT NULL,
    url TEXT, state TEXT NOT NULL DEFAULT 'open', detail TEXT,
    PRIMARY KEY (visit_id, sha256)
);
"""


class OutboxItem(msgspec.Struct, frozen=True):
    n: int
    mutation_id: str
    entity: str
    entity_id: str
    body: bytes
    state: str
    attempts: int


class PhotoUpload(msgspec.Struct, frozen=True):
    """One photo to upload: ``state`` is ``open``, ``stored`` or ``refused`` (``detail`` says why)."""

    visit_id: str
    sha256: str
    path: str
    length: int
    url: str | None
    state: str
    detail: str | None


class Store:
    """The SQLite file of one tablet (``:memory:`` for throw-away tests)."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        """``durable=False`` skips the fsync per transaction (survives a killed process, not a power cut)."""
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (nested calls join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    # ---------------------------------------------------------------- meta

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def next_seq(self) -> int:
        """The device's own mutation counter (orders its edits of one field)."""
        with self.transaction():
            seq = int(self.get("device_seq", "0") or 0) + 1
            self.set("device_seq", str(seq))
            return seq

    # ---------------------------------------------------------------- items

    def put_item(self, kind: str, item_id: str, version: int, data: bytes) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = 'digest'")
            db.execute(
                "INSERT OR REPLACE INTO items (kind, id, version, data) VALUES (?, ?, ?, ?)",
                (kind, item_id, version, data),
            )

    def put_items(self, rows: list[tuple[str, str, int, bytes]]) -> None:
        """Many ``(kind, id, version, data)`` at once (a page of the feed)."""
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = 'digest'")
            db.executemany("INSERT OR REPLACE INTO items (kind, id, version, data) VALUES (?, ?, ?, ?)", rows)

    def remove_item(self, kind: str, item_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = 'digest'")
            db.execute("DELETE FROM items WHERE kind = ? AND id = ?", (kind, item_id))

    def item(self, kind: str, item_id: str) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT version, data FROM items WHERE kind = ? AND id = ?", (kind, item_id)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def items(self, kind: str) -> list[tuple[str, int, bytes]]:
        rows = self._db.execute("SELECT id, version, data FROM items WHERE kind = ? ORDER BY id", (kind,)).fetchall()
        return [(r[0], int(r[1]), bytes(r[2])) for r in rows]

    def manifest(self) -> list[tuple[str, str, int]]:
        rows = self._db.execute("SELECT kind, id, version FROM items").fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def digest(self) -> str:
        """The state-check digest of every held item (kept until an item changes)."""
        with self.transaction():
            cached = self.get("digest")
            if cached is None:
                cached = digest(self.manifest())
                self.set("digest", cached)
            return cached

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])
        return int(self._db.execute("SELECT count(*) FROM items WHERE kind = ?", (kind,)).fetchone()[0])

    # ---------------------------------------------------------------- drafts

    def put_draft(self, capture_id: str, visit_id: str, form: bytes, at: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO drafts (id, visit_id, form, updated_at) VALUES (?, ?, ?, ?)",
                (capture_id, visit_id, form, at),
            )

    def draft(self, capture_id: str) -> tuple[str, bytes] | None:
        row = self._db.execute("SELECT visit_id, form FROM drafts WHERE id = ?", (capture_id,)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def drafts_for_visit(self, visit_id: str) -> list[tuple[str, bytes]]:
        rows = self._db.execute("SELECT id, form FROM drafts WHERE visit_id = ? ORDER BY id", (visit_id,)).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def drafts(self) -> list[tuple[str, str, bytes]]:
        rows = self._db.execute("SELECT id, visit_id, form FROM drafts ORDER BY id").fetchall()
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    # ---------------------------------------------------------------- outbox

    def enqueue(self, mutation_id: str, entity: str, entity_id: str, body: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO outbox (mutation_id, entity, entity_id, body) VALUES (?, ?, ?, ?)",
                (mutation_id, entity, entity_id, body),
            )

    def pending(self, limit: int = 1_000_000) -> list[OutboxItem]:
        rows = self._db.execute(
            "SELECT n, mutation_id, entity, entity_id, body, state, attempts FROM outbox"
            " WHERE state = 'pending' ORDER BY n LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def pending_for(self, entity_id: str) -> list[OutboxItem]:
        rows = self._db.execute(
            "SELECT n, mutation_id, entity, entity_id, body, state, attempts FROM outbox"
            " WHERE state = 'pending' AND entity_id = ? ORDER BY n",
            (entity_id,),
        ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def rejected(self) -> list[tuple[OutboxItem, bytes]]:
        rows = self._db.execute(
            "SELECT n, mutation_id, entity, entity_id, body, state, attempts, result FROM outbox"
            " WHERE state = 'rejected' ORDER BY n"
        ).fetchall()
        return [(OutboxItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]), bytes(r[7] or b"")) for r in rows]

    def count_attempt(self, ns: list[int]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE n = ?", [(n,) for n in ns])

    def acknowledge(self, mutation_id: str, status: str, result: bytes, at: str) -> None:
        """A receipt arrived: keep it, and drop the outbox item (or park it if rejected)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO receipts (mutation_id, status, result, at) VALUES (?, ?, ?, ?)",
                (mutation_id, status, result, at),
            )
            if status == "rejected":
                db.execute(
                    "UPDATE outbox SET state = 'rejected', result = ? WHERE mutation_id = ?", (result, mutation_id)
                )
            else:
                db.execute("DELETE FROM outbox WHERE mutation_id = ?", (mutation_id,))

    def receipts(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT mutation_id, status FROM receipts").fetchall())

    def outbox_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())

    # ---------------------------------------------------------------- evidence

    def set_evidence(self, visit_id: str, missing: list[str]) -> None:
        with self.transaction() as db:
            if missing:
                db.execute(
                    "INSERT OR REPLACE INTO evidence (visit_id, missing) VALUES (?, ?)",
                    (visit_id, msgspec.json.encode(missing).decode()),
                )
            else:
                db.execute("DELETE FROM evidence WHERE visit_id = ?", (visit_id,))

    def evidence(self) -> dict[str, list[str]]:
        rows = self._db.execute("SELECT visit_id, missing FROM evidence").fetchall()
        return {r[0]: msgspec.json.decode(r[1]) for r in rows}

    # ---------------------------------------------------------------- uploads

    def upload(self, visit_id: str, sha256: str) -> PhotoUpload | None:
        row = self._db.execute(
            "SELECT visit_id, sha256, path, length, url, state, detail FROM uploads WHERE visit_id = ? AND sha256 = ?",
            (visit_id, sha256),
        ).fetchone()
        return PhotoUpload(*row) if row else None

    def uploads(self, state: str | None = None) -> list[PhotoUpload]:
        query = "SELECT visit_id, sha256, path, length, url, state, detail FROM uploads"
        rows = self._db.execute(
            query + (" WHERE state = ?" if state else "") + " ORDER BY visit_id, sha256", (state,) if state else ()
        ).fetchall()
        return [PhotoUpload(*r) for r in rows]

    def put_upload(self, upload: PhotoUpload) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads (visit_id, sha256, path, length, url, state, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload.visit_id, upload.sha256, upload.path, upload.length, upload.url, upload.state, upload.detail),
            )

    def raw(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read-only access for status displays and tests."""
        return list(self._db.execute(sql, params).fetchall())
