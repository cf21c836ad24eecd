"""The reference offline client: a tablet in the tests, the load generator in the benchmarks.

It keeps everything in its :class:`~sync.client.store.Store`, so it can be killed at any point
and simply run again:

- **pull** stores each page together with the cursor after it, so a dropped connection resumes
  from the last page received. It sends the digest of what it holds; on a mismatch it sends its
  manifest next time and applies the server's exact repairs (removals included).
- **record** turns a capture form into a mutation (only the fields that changed), written to the
  outbox in the same transaction as the local draft.
- **push** sends outbox items in order, in batches; an item leaves the outbox only with its
  receipt; a rejected item is parked (with the server's reasons) and never blocks the others.
  A batch whose answer was lost is simply sent again: the server answers ``duplicate``.
- each visit pulled carries its evidence status (photos the server still lacks), which replaces
  the one from the last push answer: an upload completed since is no longer listed as missing.
- drafts show the server's merged capture with the unsent edits on top, so a supervisor's
  correction arrives without wiping what the worker typed since.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from schemas.auth import DeviceRegistered, TokenPair
from schemas.capture import CAPTURE_FIELDS, Capture, CapturePatch
from schemas.sync import (
    CaptureItem,
    CaptureMutation,
    DeviceExport,
    ExportedPhoto,
    HeldItem,
    HouseholdItem,
    HouseholdMutation,
    HouseholdPatch,
    ItemKind,
    Mutation,
    PullRequest,
    PullResponse,
    PushResponse,
    ReferenceData,
    StateCheck,
    VisitItem,
)
from sync.client.store import Store
from sync.client.transport import Backoff, Refused, Transport
from sync.client.upload import CHUNK_SIZE, PhotoUploader, UploadSummary
from sync.codec import PushEnvelope

__all__ = ["DeviceClient", "LoginRequired", "PullSummary", "PushSummary", "VisitView"]

_mutation = msgspec.json.Decoder(Mutation)
_DEFAULTS: dict[str, Any] = {name: msgspec.to_builtins(getattr(Capture(), name)) for name in CAPTURE_FIELDS}


class LoginRequired(Exception):
    """The device has no valid session: run ``login`` again."""


@dataclass
class PullSummary:
    pages: int = 0
    upserts: int = 0
    removals: int = 0
    repairs: int = 0
    reset: bool = False
    state_check: str = "skipped"


@dataclass
class PushSummary:
    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    batches: int = 0


@dataclass
class VisitView:
    visit: VisitItem
    household: HouseholdItem | None
    capture_id: str | None
    draft: Capture | None
    pending: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _form_builtins(form: Capture) -> dict[str, Any]:
    return {**_DEFAULTS, **msgspec.to_builtins(form)}


class DeviceClient:
    """One tablet: its store, its transport, and the operations a field worker performs."""

    def __init__(
        self,
        store: Store | str | Path,
        base_url: str,
        *,
        http: httpx.Client | None = None,
        msgpack: bool = False,
        compress: bool = True,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        page_limit: int = 1000,
        push_batch: int = 200,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.transport = Transport(
            base_url,
            http=http,
            msgpack=msgpack,
            compress=compress,
            backoff=backoff,
            sleep=sleep,
            rng=random.Random(seed),
        )
        self.transport.token = lambda: self.store.get("access_token")
        self.transport.refresh = self._refresh
        self.page_limit = page_limit
        self.push_batch = push_batch
        self.clock = clock

    def close(self) -> None:
        self.transport.close()
        self.store.close()

    # ---------------------------------------------------------------- identity

    @property
    def device_id(self) -> str | None:
        return self.store.get("device_id")

    @property
    def user_id(self) -> str | None:
        return self.store.get("user_id")

    def _save_tokens(self, tokens: TokenPair) -> None:
        with self.store.transaction():
            self.store.set("access_token", tokens.access_token)
            self.store.set("refresh_token", tokens.refresh_token)
            if tokens.user is not None:
                self.store.set("user_id", str(tokens.user.id))

    def _refresh(self) -> bool:
        refresh_token = self.store.get("refresh_token")
        if not refresh_token:
            return False
        try:
            tokens = self.transport.post(
                "/auth/refresh",
                msgspec.json.encode({"refresh_token": refresh_token}),
                TokenPair,
                authenticated=False,
            )
        except Refused:
            return False
        self._save_tokens(tokens)
        return True

    def _json_post(
        self,
        path: str,
        body: dict[str, Any],
        response_type: type[Any],
        token: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.transport.http.post(path, json=body, headers=headers)
        if response.status_code >= 400:
            raise Refused(response.status_code, response.json() if response.content else None)
        return msgspec.json.decode(response.content, type=response_type)

    def _registration_key(self) -> str:
        """The registration's ``Idempotency-Key``, kept until it succeeds: when its answer is lost,
        the next login sends it again and gets the same device back instead of a second one."""
        key = self.store.get("registration_key")
        if not key:
            key = str(uuid.uuid4())
            self.store.set("registration_key", key)
        return key

    def login(self, username: str, password: str, device_name: str = "tablet") -> None:
        """Log in; the first time, register this tablet and keep its credential in the store."""
        if self.device_id is None:
            plain = self._json_post("/auth/login", {"username": username, "password": password}, TokenPair)
            registered = self._json_post(
                "/devices/",
                {"name": device_name},
                DeviceRegistered,
                plain.access_token,
                idempotency_key=self._registration_key(),
            )
            with self.store.transaction():
                self.store.set("device_id", str(registered.device_id))
                self.store.set("device_secret", registered.device_secret)
                self.store.set("username", username)
                self.store.set("registration_key", None)
        tokens = self._json_post(
            "/auth/login",
            {
                "username": username,
                "password": password,
                "device_id": self.device_id,
                "device_secret": self.store.get("device_secret"),
            },
            TokenPair,
        )
        self._save_tokens(tokens)

    def _require_login(self) -> None:
        if not self.store.get("access_token"):
            raise LoginRequired("this device is not logged in")

    # ---------------------------------------------------------------- pull

    def pull(self, *, max_pages: int | None = None) -> PullSummary:
        """Download changes until the feed is exhausted (or ``max_pages`` pages)."""
        self._require_login()
        summary = PullSummary()
        send_manifest = False
        check_again = False
        while max_pages is None or summary.pages < max_pages:
            request = PullRequest(
                device_time=self.clock(),
                cursor=self.store.get("cursor"),
                limit=self.page_limit,
                # the server compares digests only when nothing is left to send, so only then is it worth computing
                digest=self.store.digest() if send_manifest or self.store.get("synced_to_head") == "1" else None,
                ref_version=self.store.get("ref_version"),
                held=(
                    [HeldItem(kind=ItemKind(k), id=uuid.UUID(i), version=v) for k, i, v in self.store.manifest()]
                    if send_manifest
                    else None
                ),
            )
            response = self.transport.post("/sync/pull", self.transport.encode(request), PullResponse)
            self._apply_page(response, summary)
            summary.pages += 1
            summary.state_check = response.state_check.value
            if response.reset:
                summary.reset = True
                check_again = True
            if response.state_check is StateCheck.mismatch:
                send_manifest = True
                continue
            send_manifest = False
            if response.has_more:
                continue
            if check_again:
                check_again = False
                continue
            break
        return summary

    def _apply_page(self, response: PullResponse, summary: PullSummary) -> None:
        with self.store.transaction():
            touched_captures: set[str] = set()
            removed_captures: set[str] = set()
            upserts: list[tuple[str, str, int, bytes]] = []
            for item in response.items:
                kind, item_id = item.kind.value, str(item.id)
                if item.removed:
                    if upserts:  # keep the page's order: an upsert before a removal of the same record
                        self.store.put_items(upserts)
                        upserts = []
                    self.store.remove_item(kind, item_id)
                    if kind == ItemKind.visit.value:
                        self.store.set_evidence(item_id, [])
                    summary.removals += 1
                    if item.reason == "repair":
                        summary.repairs += 1
                    if kind == ItemKind.capture.value:
                        removed_captures.add(item_id)
                    continue
                data = (bytes(item.data) if isinstance(item.data, msgspec.Raw) else b"") or b"{}"
                if self.transport.msgpack:
                    data = msgspec.json.encode(msgspec.msgpack.decode(data))
                upserts.append((kind, item_id, item.version, data))
                if kind == ItemKind.visit.value:
                    # the feed's evidence status is newer than the last push answer's
                    self.store.set_evidence(item_id, msgspec.json.decode(data, type=VisitItem).missing_photos)
                summary.upserts += 1
                if kind == ItemKind.capture.value:
                    touched_captures.add(item_id)
            if upserts:
                self.store.put_items(upserts)
            for capture_id in touched_captures | removed_captures:
                self._rebuild_draft(capture_id, removed=capture_id in removed_captures)
            if response.reference is not None:
                self.store.set("reference", msgspec.json.encode(response.reference).decode())
                self.store.set("ref_version", response.reference.version)
            self.store.set("cursor", response.cursor)
            self.store.set("clock_offset_ms", str(response.clock_offset_ms))
            self.store.set("last_pull_at", self.clock().isoformat())
            self.store.set("synced_to_head", "0" if response.has_more else "1")

    def _rebuild_draft(self, capture_id: str, *, removed: bool = False) -> None:
        """Draft = the server's capture (if any) with this device's unsent edits on top.

        A capture the server took off the tablet (its visit left the worker's scope) keeps its
        draft only while edits of it are still waiting in the outbox.
        """
        held = self.store.item(ItemKind.capture.value, capture_id)
        pending = self.store.pending_for(capture_id)
        draft = self.store.draft(capture_id)
        if held is None and not removed:
            return
        if held is None and not pending:
            if draft is not None:
                with self.store.transaction() as db:
                    db.execute("DELETE FROM drafts WHERE id = ?", (capture_id,))
            return
        form: dict[str, Any] = dict(_DEFAULTS)
        visit_id = draft[0] if draft else None
        if held is not None:
            item = msgspec.json.decode(held[1], type=CaptureItem)
            form.update(msgspec.to_builtins(item.form))
            visit_id = str(item.visit_id)
        for outbox in pending:
            mutation = msgspec.json.decode(outbox.body)
            form.update(mutation.get("fields", {}))
            visit_id = mutation.get("visit_id", visit_id)
        assert visit_id is not None
        self.store.put_draft(capture_id, visit_id, msgspec.json.encode(form), self.clock().isoformat())

    # ---------------------------------------------------------------- local work

    def visit(self, visit_id: str) -> VisitItem | None:
        held = self.store.item(ItemKind.visit.value, visit_id)
        return msgspec.json.decode(held[1], type=VisitItem) if held else None

    def household(self, household_id: str) -> HouseholdItem | None:
        held = self.store.item(ItemKind.household.value, household_id)
        return msgspec.json.decode(held[1], type=HouseholdItem) if held else None

    def reference(self) -> ReferenceData | None:
        raw = self.store.get("reference")
        return msgspec.json.decode(raw, type=ReferenceData) if raw else None

    def visits(self, day: dt.date | None = None) -> list[VisitView]:
        """The visits on the tablet (only those planned for ``day``, if given), in route order."""
        views = []
        for visit_id, _version, data in self.store.items(ItemKind.visit.value):
            visit = msgspec.json.decode(data, type=VisitItem)
            if day is not None and visit.visit_on not in (None, day):
                continue
            drafts = self.store.drafts_for_visit(visit_id)
            capture_id, draft = (
                (drafts[0][0], msgspec.json.decode(drafts[0][1], type=Capture)) if drafts else (None, None)
            )
            views.append(
                VisitView(
                    visit=visit,
                    household=self.household(str(visit.household_id)),
                    capture_id=capture_id,
                    draft=draft,
                    pending=len(self.store.pending_for(capture_id)) if capture_id else 0,
                )
            )
        views.sort(key=lambda v: (v.visit.visit_on or dt.date.max, v.visit.route_order or 0, v.visit.due_on))
        return views

    def draft(self, capture_id: str) -> Capture | None:
        held = self.store.draft(capture_id)
        return msgspec.json.decode(held[1], type=Capture) if held else None

    def capture_for(self, visit_id: str) -> str | None:
        drafts = self.store.drafts_for_visit(visit_id)
        return drafts[0][0] if drafts else None

    def record_capture(
        self,
        visit_id: str,
        form: Capture,
        *,
        capture_id: str | None = None,
        submit: bool = False,
    ) -> str | None:
        """Record the capture form of a visit; only the fields that changed are queued.

        Returns the capture id, or ``None`` if nothing changed and nothing was submitted.
        """
        capture_id = capture_id or self.capture_for(visit_id) or str(uuid.uuid4())
        with self.store.transaction():
            current = _DEFAULTS
            held = self.store.draft(capture_id)
            if held is not None:
                current = {**_DEFAULTS, **msgspec.json.decode(held[1])}
            new = _form_builtins(form)
            changed = {name: value for name, value in new.items() if current.get(name) != value}
            if not changed and not submit:
                return None
            server = self.store.item(ItemKind.capture.value, capture_id)
            mutation = CaptureMutation(
                mutation_id=uuid.uuid4(),
                entity_id=uuid.UUID(capture_id),
                visit_id=uuid.UUID(visit_id),
                base_version=server[0] if server else 0,
                device_seq=self.store.next_seq(),
                device_time=self.clock(),
                fields=msgspec.convert(changed, CapturePatch),
                submit=submit,
            )
            self.store.put_draft(capture_id, visit_id, msgspec.json.encode(new), self.clock().isoformat())
            self.store.enqueue(str(mutation.mutation_id), "capture", capture_id, msgspec.json.encode(mutation))
        return capture_id

    def edit_household(self, household_id: str, patch: HouseholdPatch) -> str:
        """Queue a correction of household details (address, phone, position; category is a proposal)."""
        held = self.store.item(ItemKind.household.value, household_id)
        mutation = HouseholdMutation(
            mutation_id=uuid.uuid4(),
            entity_id=uuid.UUID(household_id),
            base_version=held[0] if held else 0,
            device_seq=self.store.next_seq(),
            device_time=self.clock(),
            fields=patch,
        )
        self.store.enqueue(str(mutation.mutation_id), "household", household_id, msgspec.json.encode(mutation))
        return str(mutation.mutation_id)

    # ---------------------------------------------------------------- push

    def push(self) -> PushSummary:
        """Send the outbox in order until it is empty (rejected items are parked, not resent)."""
        self._require_login()
        summary = PushSummary()
        while batch := self.store.pending(self.push_batch):
            if self.transport.msgpack:
                raws = [msgspec.Raw(msgspec.msgpack.encode(msgspec.json.decode(i.body))) for i in batch]
            else:
                raws = [msgspec.Raw(i.body) for i in batch]
            body = self.transport.encode(PushEnvelope(device_time=self.clock(), mutations=raws))
            self.store.count_attempt([i.n for i in batch])
            response = self.transport.post("/sync/push", body, PushResponse)
            summary.batches += 1
            summary.sent += len(batch)
            at = self.clock().isoformat()
            with self.store.transaction():
                for result in response.results:
                    item = batch[result.index]
                    self.store.acknowledge(item.mutation_id, result.status.value, msgspec.json.encode(result), at)
                    if result.status.value == "rejected":
                        summary.rejected += 1
                    else:
                        summary.acknowledged += 1
                        summary.duplicates += result.status.value == "duplicate"
                        summary.conflicts += result.status.value == "conflict"
                for evidence in response.evidence:
                    self.store.set_evidence(str(evidence.visit_id), evidence.missing)
                self.store.set("clock_offset_ms", str(response.clock_offset_ms))
                self.store.set("last_push_at", at)
        return summary

    # ---------------------------------------------------------------- photos

    def upload_photos(self, paths: Iterable[Path] = (), *, chunk_size: int = CHUNK_SIZE) -> UploadSummary:
        """Upload the photos the captures refer to from ``paths``, and continue open uploads (tus)."""
        self._require_login()
        return PhotoUploader(self, chunk_size=chunk_size).upload(paths)

    def export(self, path: Path, photos: Iterable[Path] = ()) -> dict[str, Any]:
        """Write everything this tablet has not sent to one file, for a supervisor to import.

        For a revoked tablet (it cannot sync any more): the outbox in order, and the bytes of
        every photo a capture refers to that is not known to be stored (files already given to
        ``upload`` and those in ``photos``), with the tablet's credential to prove where the file
        comes from. Needs no network. Returns what went in and what could not.
        """
        device_id, secret, user_id = self.device_id, self.store.get("device_secret"), self.user_id
        if device_id is None or secret is None or user_id is None:
            raise LoginRequired("this tablet never logged in: it holds nothing to export")
        uploader = PhotoUploader(self)
        refs = uploader.referenced()
        uploader.note_files(photos, refs)
        exported, unreadable = [], []
        for row in self.store.uploads("open"):
            kind = refs.get(row.visit_id, {}).get(row.sha256)
            if kind is None:
                continue
            try:
                data = Path(row.path).read_bytes()
            except OSError:
                unreadable.append(row.path)
                continue
            exported.append(
                ExportedPhoto(
                    visit_id=uuid.UUID(row.visit_id),
                    sha256=row.sha256,
                    data=data,
                    kind=kind,
                    filename=Path(row.path).name[:200],
                )
            )
        document = DeviceExport(
            format="recheck-device-export",
            version=1,
            device_id=uuid.UUID(device_id),
            device_secret=secret,
            user_id=uuid.UUID(user_id),
            username=self.store.get("username"),
            exported_at=self.clock(),
            mutations=[_mutation.decode(item.body) for item in self.store.pending()],
            photos=exported,
        )
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(msgspec.json.encode(document))
        partial.replace(path)  # never a half-written file under the final name
        covered = {(str(p.visit_id), p.sha256) for p in exported} | {
            (u.visit_id, u.sha256) for u in self.store.uploads("stored")
        }
        lacking = {
            visit_id: sorted(sha for sha in by_hash if (visit_id, sha) not in covered)
            for visit_id, by_hash in sorted(refs.items())
        }
        return {
            "file": str(path),
            "mutations": len(document.mutations),
            "photos": len(exported),
            "photo_bytes": sum(len(p.data) for p in exported),
            "photos_without_file": {visit_id: shas for visit_id, shas in lacking.items() if shas},
            "unreadable": unreadable,
        }

    def sync(self) -> tuple[PushSummary, PullSummary]:
        """Push what was captured, then pull what changed."""
        return self.push(), self.pull()

    # ---------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        counts = self.store.outbox_counts()
        return {
            "device_id": self.device_id,
            "user": self.store.get("username"),
            "visits": self.store.count(ItemKind.visit.value),
            "households": self.store.count(ItemKind.household.value),
            "captures": self.store.count(ItemKind.capture.value),
            "outbox_pending": counts.get("pending", 0),
            "outbox_rejected": counts.get("rejected", 0),
            "synced_to_head": self.store.get("synced_to_head") == "1",
            "last_pull_at": self.store.get("last_pull_at"),
            "last_push_at": self.store.get("last_push_at"),
            "clock_offset_ms": int(self.store.get("clock_offset_ms", "0") or 0),
            "photos_missing": sum(len(v) for v in self.store.evidence().values()),
            "uploads_open": len(self.store.uploads("open")),
        }
