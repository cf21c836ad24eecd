"""Media store in a local folder, for the one-machine install.

Layout under the root folder::

    objects/ab/ab12…(64 hex)      content-addressed objects, fanned out by the first two digits
    staging/<32 hex>               assembled uploads waiting for verification
    multipart/<upload id>/<n>      parts of uploads in progress, one file per part
    tmp/                           half-written files; renamed into place when complete

Every write goes to ``tmp/`` first, is flushed and fsynced, then renamed into place, so a crash
never leaves a partial object under a real key. Download links are the server's own URLs signed
with HMAC-SHA256 over the key, expiry and fixed response headers; `LocalStore.verify_download`
is what the server calls before serving one. All methods block: call them from a thread.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, cast

from media.store.base import (
    STAGING_PREFIX,
    ContentMismatch,
    MediaStore,
    MultipartUpload,
    ObjectNotFound,
    Part,
    SignatureRejected,
    SignedDownload,
    StoreError,
    check_content_key,
    check_key,
    sha256_hex,
)

__all__ = ["LocalStore"]

_CHUNK = 1 << 20


class LocalStore(MediaStore):
    """Content-addressed objects in a folder, with HMAC-signed expiring download links.

    Args:
        root: The folder (created if missing).
        signing_secret: Secret for download-link signatures; at least 16 bytes. Must be the same on
            every process that serves the links.
        url_base: Prefix of the server route serving ``GET {url_base}/{key}?exp=&sig=``.
    """

    min_part_size = 1

    def __init__(self, root: str | os.PathLike[str], *, signing_secret: str | bytes, url_base: str = "/media"):
        secret = signing_secret.encode() if isinstance(signing_secret, str) else signing_secret
        if len(secret) < 16:
            raise ValueError("signing_secret must be at least 16 bytes")
        self.root = Path(root)
        self._secret = secret
        self.url_base = url_base.rstrip("/")
        for sub in ("objects", "staging", "multipart", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.startswith(STAGING_PREFIX):
            return self.root / "staging" / key[len(STAGING_PREFIX) :]
        return self.root / "objects" / key[:2] / key

    def _parts_dir(self, upload: MultipartUpload) -> Path:
        if not upload.upload_id.isalnum():
            raise StoreError(f"bad upload id {upload.upload_id!r}")
        return self.root / "multipart" / upload.upload_id

    def _write_atomic(self, target: Path, chunks: BinaryIO | bytes, expect_sha256: str | None = None) -> int:
        """Write to tmp/, check the hash if asked, fsync, rename onto ``target``; return the size."""
        tmp = self.root / "tmp" / secrets.token_hex(16)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:
                if isinstance(chunks, bytes | bytearray | memoryview):
                    digest.update(chunks)
                    out.write(chunks)
                    size = len(chunks)
                else:
                    for chunk in iter(lambda: chunks.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if expect_sha256 is not None and digest.hexdigest() != expect_sha256:
                raise ContentMismatch(f"content hashes to {digest.hexdigest()}, not {expect_sha256}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return size

    # -- objects ---------------------------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> bool:
        """Store ``data`` under its content address (see `MediaStore.put`)."""
        target = self._path(check_content_key(key))
        if target.exists():
            if not isinstance(data, bytes | bytearray | memoryview) or sha256_hex(bytes(data)) == key:
                return False
            raise ContentMismatch(f"content does not hash to {key}")
        self._write_atomic(target, data, expect_sha256=key)
        return True

    def file_path(self, key: str) -> Path:
        """Where the content object ``key`` lives on disk (for the server to send it as a file)."""
        return self._path(check_content_key(key))

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """Size in bytes of the object under ``key``."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object under ``key``."""
        try:
            return cast(BinaryIO, open(self._path(key), "rb"))
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def delete(self, key: str) -> None:
        """Remove the object under ``key`` if present."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    # -- multipart -------------------------------------------------------------------------------

    def begin_multipart(self, *, content_type: str | None = None) -> MultipartUpload:
        """Start an upload: a fresh folder for its parts and a fresh staging key."""
        upload_id = secrets.token_hex(16)
        upload = MultipartUpload(upload_id=upload_id, staging_key=STAGING_PREFIX + secrets.token_hex(16))
        self._parts_dir(upload).mkdir(parents=True, exist_ok=False)
        return upload

    def upload_part(self, upload: MultipartUpload, number: int, data: bytes) -> Part:
        """Write part ``number`` atomically (replacing an earlier copy of the same number)."""
        if not 1 <= number <= 10_000:
            raise StoreError(f"part number {number} out of range 1..10000")
        parts_dir = self._parts_dir(upload)
        if not parts_dir.is_dir():
            raise ObjectNotFound(f"no multipart upload {upload.upload_id}")
        self._write_atomic(parts_dir / f"{number:05d}", bytes(data))
        return Part(number=number, etag=hashlib.md5(data, usedforsecurity=False).hexdigest(), size=len(data))

    def complete_multipart(self, upload: MultipartUpload, parts: list[Part]) -> int:
        """Concatenate the parts into the staging object and drop the parts folder."""
        parts_dir = self._parts_dir(upload)
        staging = self._path(upload.staging_key)
        if not parts_dir.is_dir():
            if staging.is_file():  # completed already (a retry after a crash)
                return staging.stat().st_size
            raise ObjectNotFound(f"no multipart upload {upload.upload_id}")
        tmp = self.root / "tmp" / secrets.token_hex(16)
        size = 0
        try:
            with open(tmp, "wb") as out:
                for part in sorted(parts, key=lambda p: p.number):
                    path = parts_dir / f"{part.number:05d}"
                    try:
                        with open(path, "rb") as src:
                            copied = 0
                            for chunk in iter(lambda s=src: s.read(_CHUNK), b""):  # type: ignore[misc]
                                out.write(chunk)
                                copied += len(chunk)
                    except FileNotFoundError:
                        raise StoreError(f"part {part.number} of {upload.upload_id} is missing") from None
                    if copied != part.size:
                        raise StoreError(f"part {part.number} has {copied} bytes, expected {part.size}")
                    size += copied
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, staging)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        shutil.rmtree(parts_dir, ignore_errors=True)
        return size

    def abort_multipart(self, upload: MultipartUpload) -> None:
        """Drop the parts and any staging object of the upload."""
        shutil.rmtree(self._parts_dir(upload), ignore_errors=True)
        self.delete(upload.staging_key)

    def promote(self, staging_key: str, key: str, *, content_type: str | None = None) -> bool:
        """Rename the verified staging object onto its content address."""
        source = self._path(staging_key)
        target = self._path(check_content_key(key))
        if not source.is_file():
            if target.is_file():
                return False
            raise ObjectNotFound(staging_key)
        if target.is_file():
            source.unlink()
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return True

    # -- signed downloads ------------------------------------------------------------------------

    def _signature(self, key: str, expires: int, content_type: str | None, filename: str | None) -> str:
        message = "\n".join((key, str(expires), content_type or "", filename or "")).encode()
        mac = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def download_url(
        self,
        key: str,
        *,
        expires_in: int = 300,
        content_type: str | None = None,
        filename: str | None = None,
        now: float | None = None,
    ) -> str:
        """``{url_base}/{key}?exp=…&sig=…`` (plus ``ct`` and ``fn`` when given), valid ``expires_in`` s."""
        check_content_key(key)
        expires = int(now if now is not None else time.time()) + int(expires_in)
        query: dict[str, str] = {"exp": str(expires)}
        if content_type:
            query["ct"] = content_type
        if filename:
            query["fn"] = filename
        query["sig"] = self._signature(key, expires, content_type, filename)
        return f"{self.url_base}/{key}?{urllib.parse.urlencode(query)}"

    def verify_download(self, key: str, query: Mapping[str, str], *, now: float | None = None) -> SignedDownload:
        """Check a signed link's key and query parameters; the server calls this before serving.

        Raises:
            SignatureRejected: ``malformed`` (missing or bad parameters or key), ``bad_signature``
                (tampered with or signed by another secret) or ``expired``.
        """
        try:
            check_content_key(key)
            expires = int(query["exp"])
            signature = query["sig"]
        except (KeyError, ValueError, StoreError):
            raise SignatureRejected("malformed", "signed link is missing or has bad parameters") from None
        content_type = query.get("ct") or None
        filename = query.get("fn") or None
        expected = self._signature(key, expires, content_type, filename)
        if not hmac.compare_digest(expected.encode(), str(signature).encode()):
            raise SignatureRejected("bad_signature", "signed link does not match")
        if (now if now is not None else time.time()) >= expires:
            raise SignatureRejected("expired", "signed link has expired")
        return SignedDownload(key=key, content_type=content_type, filename=filename)

    # -- housekeeping ----------------------------------------------------------------------------

    def sweep(self, older_than: float) -> int:
        """Remove temporary files, staging objects and part folders untouched for ``older_than`` s.

        Returns the number of entries removed. Uploads tracked in a database should be aborted
        through `abort_multipart`; this catches what a crash left behind.
        """
        cutoff = time.time() - older_than
        removed = 0
        for sub in ("tmp", "staging", "multipart"):
            for entry in (self.root / sub).iterdir():
                if entry.stat().st_mtime < cutoff:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            entry.unlink()
                    removed += 1
        return removed
