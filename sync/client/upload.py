"""Photos by tus, resumable: what ``recheck device upload`` runs.

A capture refers to its photos by SHA-256; the bytes travel separately (ARCHITECTURE rule 6).
Given files (or folders of them), the uploader hashes each one, keeps those a capture on the
tablet refers to, and uploads each for its visit:

- the upload is created first (``POST /uploads/``) and its URL is kept in the store before any
  byte is sent, so a cut connection, a restarted server or a killed client resumes it;
- bytes go in ``PATCH`` chunks, each with a sha256 ``Upload-Checksum``, from the offset the server
  reports (``HEAD``): nothing the server has is sent again;
- an upload the server no longer knows (expired, discarded: 404, 410) starts again from zero;
- a photo the server finds unacceptable (413, 422, 460 ``sha256_mismatch``) is final: kept as
  ``refused`` with the server's reason and never retried;
- network errors, 5xx, 423 and 429 are retried with the transport's backoff; only failures in a
  row count against the attempts, so a long upload over a link cut every few seconds finishes.

A run without files continues the uploads left open by earlier runs (from their stored paths).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from schemas.capture import Capture, capture_photo_refs
from schemas.media import PhotoKind
from sync.client.store import PhotoUpload
from sync.client.transport import Refused

if TYPE_CHECKING:
    from sync.client.client import DeviceClient

__all__ = ["CHUNK_SIZE", "PhotoUploader", "UploadSummary", "file_sha256"]

#: Bytes per PATCH: small enough that a cut on a 2G link loses little, large enough to be few requests.
CHUNK_SIZE = 1 << 20
_TUS = {"Tus-Resumable": "1.0.0"}
_STREAM = "application/offset+octet-stream"
#: Answers that say the photo itself is unacceptable: sending it again cannot help.
_FINAL = {413, 422}


@dataclass
class UploadSummary:
    """What one run did, by photo hash."""

    stored: list[str] = field(default_factory=list)
    """Completed (stored and verified by the server) in this run."""
    already_stored: list[str] = field(default_factory=list)
    resumed: dict[str, int] = field(default_factory=dict)
    """Continued from the server's offset (the bytes it had, at the last resumption) rather than from zero."""
    refused: dict[str, str] = field(default_factory=dict)
    """Refused for good by the server, with its reason."""
    unfinished: dict[str, str] = field(default_factory=dict)
    """Not finished (kept open for the next run), with the last problem."""
    unreferenced: list[str] = field(default_factory=list)
    """Files that no capture on the tablet refers to (not uploaded)."""
    without_file: dict[str, list[str]] = field(default_factory=dict)
    """Per visit, referenced photos for which no file was ever given."""
    bytes_sent: int = 0
    """Photo bytes put on the wire (a chunk cut on the way counts each time it is sent)."""


class _Retry(Exception):
    """A passing failure: ask the server's offset again after a pause."""


class _Gone(Exception):
    """The server no longer knows the upload: create it again."""


class _Final(Exception):
    """The photo was refused for good."""


class _Stuck(Exception):
    """A refusal this run cannot get past (e.g. the visit is not the worker's): kept for later."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return out


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    return str(code or f"http_{response.status_code}")


class PhotoUploader:
    """Uploads the photos the tablet's captures refer to (see the module docstring)."""

    def __init__(self, client: DeviceClient, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.client = client
        self.store = client.store
        self.http = client.transport.http
        self.chunk_size = chunk_size

    def referenced(self) -> dict[str, dict[str, PhotoKind]]:
        """Per visit, every photo its captures on the tablet refer to (server copy plus unsent edits)."""
        refs: dict[str, dict[str, PhotoKind]] = {}
        for _capture_id, visit_id, form in self.store.drafts():
            capture = msgspec.json.decode(form, type=Capture)
            refs.setdefault(visit_id, {}).update(capture_photo_refs(capture))
        return refs

    def upload(self, paths: Iterable[Path] = ()) -> UploadSummary:
        """Upload the referenced photos among ``paths`` and continue the uploads left open."""
        summary = UploadSummary()
        refs = self.referenced()
        summary.unreferenced = self.note_files(paths, refs)
        for row in self.store.uploads():
            kind = refs.get(row.visit_id, {}).get(row.sha256)
            if row.state == "stored":
                if kind is not None:
                    summary.already_stored.append(row.sha256)
            elif row.state == "open" and kind is not None:
                self._send(row, kind, summary)
        known = {(u.visit_id, u.sha256) for u in self.store.uploads()}
        for visit_id, by_hash in sorted(refs.items()):
            lacking = sorted(sha for sha in by_hash if (visit_id, sha) not in known)
            if lacking:
                summary.without_file[visit_id] = lacking
        return summary

    def note_files(self, paths: Iterable[Path], refs: dict[str, dict[str, PhotoKind]] | None = None) -> list[str]:
        """Remember which file holds each referenced photo; returns the files no capture refers to."""
        visits_of: dict[str, list[str]] = {}
        for visit_id, by_hash in (self.referenced() if refs is None else refs).items():
            for sha in by_hash:
                visits_of.setdefault(sha, []).append(visit_id)
        unreferenced = []
        for path in _files(paths):
            sha = file_sha256(path)
            if sha not in visits_of:
                unreferenced.append(str(path))
            for visit_id in visits_of.get(sha, []):
                self._note_file(visit_id, sha, path)
        return unreferenced

    def _note_file(self, visit_id: str, sha: str, path: Path) -> None:
        held = self.store.upload(visit_id, sha)
        if held is not None and held.state in ("stored", "refused"):
            return  # the same hash is the same bytes: the server's answer stands
        if held is not None and held.state == "open" and held.path == str(path.resolve()):
            return  # the same file again: keep its upload URL to resume
        size = path.stat().st_size
        self.store.put_upload(PhotoUpload(visit_id, sha, str(path.resolve()), size, None, "open", None))

    # ---------------------------------------------------------------- one photo

    def _send(self, row: PhotoUpload, kind: PhotoKind, summary: UploadSummary) -> None:
        failures = 0
        offset: int | None = None  # the server's, as last heard; None: ask it
        backoff, transport = self.client.transport.backoff, self.client.transport
        while True:
            try:
                if row.url is None:
                    row = msgspec.structs.replace(row, url=self._create(row, kind))
                    self.store.put_upload(row)  # before any byte: a killed client resumes it
                    offset = 0
                assert row.url is not None
                if offset is None:
                    offset = self._offset(row.url)
                    if offset:
                        summary.resumed[row.sha256] = offset
                if offset < row.length:
                    offset = self._patch(row, offset, summary)
                    failures = 0
                if offset >= row.length:
                    self.store.put_upload(msgspec.structs.replace(row, state="stored", detail=None))
                    summary.stored.append(row.sha256)
                    return
                continue
            except _Final as exc:
                self.store.put_upload(msgspec.structs.replace(row, state="refused", detail=str(exc)))
                summary.refused[row.sha256] = str(exc)
                return
            except _Stuck as exc:
                self.store.put_upload(msgspec.structs.replace(row, detail=str(exc)))
                summary.unfinished[row.sha256] = str(exc)
                return
            except _Gone:
                offset = None
                row = msgspec.structs.replace(row, url=None)
                self.store.put_upload(row)
                problem = "the server discarded the upload"
            except (_Retry, httpx.TransportError) as exc:
                offset = None
                problem = str(exc) or type(exc).__name__
            failures += 1
            if failures >= backoff.attempts:
                self.store.put_upload(msgspec.structs.replace(row, detail=problem))
                summary.unfinished[row.sha256] = problem
                return
            transport.stats.retries += 1
            transport.sleep(backoff.delay(failures, transport.rng))

    def _request(self, method: str, url: str, headers: dict[str, str], content: bytes | None = None) -> httpx.Response:
        """One tus request with the device's token (refreshed once on a 401)."""
        for refreshed in (False, True):
            token = self.store.get("access_token")
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            response = self.http.request(method, url, headers={**_TUS, **auth, **headers}, content=content)
            if response.status_code == 401 and not refreshed and self.client.transport.refresh():
                continue
            if response.status_code == 401:
                raise Refused(401, _body(response))
            if response.status_code == 429 or response.status_code >= 500:
                raise _Retry(f"{method} answered {response.status_code}")
            return response
        raise AssertionError("unreachable")

    def _create(self, row: PhotoUpload, kind: PhotoKind) -> str:
        metadata = {"sha256": row.sha256, "visit_id": row.visit_id, "kind": kind.value, "filename": Path(row.path).name}
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())
        response = self._request("POST", "/uploads/", {"Upload-Length": str(row.length), "Upload-Metadata": encoded})
        if response.status_code in _FINAL:
            raise _Final(_code(response))
        if response.status_code != 201:
            raise _Stuck(_code(response))
        # keep the path only: the same upload is reachable through whatever address the server has next time
        return urllib.parse.urlsplit(response.headers["location"]).path

    def _offset(self, url: str) -> int:
        response = self._request("HEAD", url, {})
        if response.status_code in (404, 410):
            raise _Gone
        if response.status_code == 423:
            raise _Retry("the server is completing the upload")
        if response.status_code != 200:
            raise _Stuck(f"http_{response.status_code}")
        return int(response.headers["upload-offset"])

    def _patch(self, row: PhotoUpload, offset: int, summary: UploadSummary) -> int:
        """Send one chunk from ``offset``; the server's new offset."""
        with Path(row.path).open("rb") as f:
            f.seek(offset)
            chunk = f.read(self.chunk_size)
        if not chunk:
            raise _Final("file_changed")  # shorter than when it was hashed
        checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        assert row.url is not None
        headers = {"Upload-Offset": str(offset), "Content-Type": _STREAM, "Upload-Checksum": f"sha256 {checksum}"}
        summary.bytes_sent += len(chunk)  # counted when sent: a chunk cut on the way is sent again
        response = self._request("PATCH", row.url, headers, chunk)
        status = response.status_code
        if status == 204:
            return int(response.headers["upload-offset"])
        if status in (404, 410):
            raise _Gone
        if status == 460 and _code(response) == "sha256_mismatch":
            raise _Final("sha256_mismatch")  # the whole file does not hash to its name: it changed
        if status in (409, 460):
            raise _Retry(_code(response))  # another offset than ours, or a chunk damaged on the way
        if status in _FINAL:
            raise _Final(_code(response))
        raise _Stuck(_code(response))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
