"""The storage interface every media backend implements, and its small value types.

Objects are addressed by content: the key of a stored object is the lowercase hex SHA-256 of its
bytes, so storing the same bytes twice stores them once and a key can be checked against its
content at any time. Uploads in progress are assembled under a *staging* key first (through the
multipart primitives below) and only promoted to their content address once the server has
verified the bytes, so an unverified or hostile upload never occupies a content address.

Multipart uploads are designed to be continued by another process: everything needed to go on
(`MultipartUpload` and the list of `Part` already sent) is plain data the caller keeps in its
database; the store itself keeps no per-upload state in memory.

All methods block (disk or network I/O). Call them from a worker thread in async code, e.g.
``await anyio.to_thread.run_sync(store.put, key, data)``.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import BinaryIO

__all__ = [
    "STAGING_PREFIX",
    "ContentMismatch",
    "InvalidKey",
    "MediaStore",
    "MultipartUpload",
    "ObjectNotFound",
    "Part",
    "SignatureRejected",
    "SignedDownload",
    "StoreError",
    "check_content_key",
    "check_key",
    "sha256_hex",
]

#: Staging keys look like ``staging/<32 hex>``; content keys are 64 hex characters.
STAGING_PREFIX = "staging/"
_CONTENT_KEY = re.compile(r"^[0-9a-f]{64}$")
_STAGING_KEY = re.compile(r"^staging/[0-9a-f]{32}$")


class StoreError(Exception):
    """Base class of every storage error. ``reason`` is a stable machine-readable code."""

    reason = "store_error"


class InvalidKey(StoreError, ValueError):
    """The key is neither a content address (64 lowercase hex) nor a staging key."""

    reason = "invalid_key"


class ObjectNotFound(StoreError, KeyError):
    """No object is stored under this key."""

    reason = "not_found"


class ContentMismatch(StoreError, ValueError):
    """The bytes offered do not hash to the content address they were offered under."""

    reason = "sha256_mismatch"


class SignatureRejected(StoreError):
    """A signed download link was refused. ``reason``: ``expired``, ``bad_signature`` or ``malformed``."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class MultipartUpload:
    """Handle of a multipart upload in progress: plain data to keep in a database.

    Attributes:
        upload_id: The backend's id (S3's ``UploadId``; a random hex id for the local folder).
        staging_key: Where the assembled object appears when the upload is completed.
    """

    upload_id: str
    staging_key: str


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """One part already sent; the list of them (in order) is needed to complete the upload.

    Attributes:
        number: 1-based part number (S3 allows 1..10000).
        etag: The backend's tag for the part (S3 ETag, quotes included).
        size: Bytes in the part.
    """

    number: int
    etag: str
    size: int

    def to_dict(self) -> dict[str, int | str]:
        """Plain JSON-able form for a database column."""
        return {"number": self.number, "etag": self.etag, "size": self.size}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Part:
        """Inverse of `to_dict`."""
        return cls(number=int(str(data["number"])), etag=str(data["etag"]), size=int(str(data["size"])))


@dataclasses.dataclass(frozen=True, slots=True)
class SignedDownload:
    """What a verified signed local link grants: one key, with the response headers it fixed."""

    key: str
    content_type: str | None
    filename: str | None


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data`` (a content address)."""
    return hashlib.sha256(data).hexdigest()


def check_content_key(key: str) -> str:
    """Return ``key`` if it is a content address, else raise `InvalidKey`."""
    if not isinstance(key, str) or not _CONTENT_KEY.match(key):
        raise InvalidKey(f"not a content address: {key!r}")
    return key


def check_key(key: str) -> str:
    """Return ``key`` if it is a content address or a staging key, else raise `InvalidKey`."""
    if not isinstance(key, str) or not (_CONTENT_KEY.match(key) or _STAGING_KEY.match(key)):
        raise InvalidKey(f"not a media key: {key!r}")
    return key


class MediaStore(abc.ABC):
    """A content-addressed object store with resumable (multipart) assembly and signed downloads.

    Every method blocks; call from a worker thread in async code.
    """

    #: Smallest size of every part but the last in a multipart upload. Callers buffer smaller
    #: client chunks until they reach it (S3 requires 5 MiB; a local folder takes any size).
    min_part_size: int = 1

    # -- objects ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> bool:
        """Store ``data`` under its content address ``key``, idempotently.

        Args:
            key: Lowercase hex SHA-256 of the data.
            data: The bytes, or a readable binary stream (read to its end).
            content_type: Media type recorded with the object where the backend can keep it.

        Returns:
            True if the object was written, False if it was already stored.

        Raises:
            ContentMismatch: The data does not hash to ``key``; nothing is left behind.
        """

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (content or staging key)."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes of the object under ``key``. Raises `ObjectNotFound`."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (close it). Raises `ObjectNotFound`."""

    def get(self, key: str) -> bytes:
        """All bytes of the object under ``key``. Raises `ObjectNotFound`."""
        with self.open(key) as stream:
            return stream.read()

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under ``key`` if present (content or staging key); idempotent."""

    # -- downloads -------------------------------------------------------------------------------

    @abc.abstractmethod
    def download_url(
        self,
        key: str,
        *,
        expires_in: int = 300,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> str:
        """A short-lived link to download the object: S3 presigned, or HMAC-signed for a folder.

        Args:
            key: Content address of the object.
            expires_in: Seconds the link stays valid.
            content_type: ``Content-Type`` the download is served with.
            filename: Suggested file name (``Content-Disposition: inline; filename=…``).
        """

    # -- multipart assembly (resumable uploads) --------------------------------------------------

    @abc.abstractmethod
    def begin_multipart(self, *, content_type: str | None = None) -> MultipartUpload:
        """Start assembling an object under a fresh staging key."""

    @abc.abstractmethod
    def upload_part(self, upload: MultipartUpload, number: int, data: bytes) -> Part:
        """Send part ``number`` (1-based). Sending the same number again replaces it.

        Every part but the last must be at least `min_part_size` bytes.
        """

    @abc.abstractmethod
    def complete_multipart(self, upload: MultipartUpload, parts: list[Part]) -> int:
        """Assemble ``parts`` (in order) into the object at ``upload.staging_key``.

        Returns:
            The size of the assembled object.
        """

    @abc.abstractmethod
    def abort_multipart(self, upload: MultipartUpload) -> None:
        """Discard an upload in progress and any parts sent; idempotent."""

    @abc.abstractmethod
    def promote(self, staging_key: str, key: str, *, content_type: str | None = None) -> bool:
        """Move a verified staged object to its content address ``key`` and drop the staging copy.

        The caller has already checked that the staged bytes hash to ``key``. If ``key`` is
        already stored, the staging copy is simply dropped.

        Returns:
            True if the object was newly stored under ``key``.
        """

    # -- housekeeping ----------------------------------------------------------------------------

    def verify(self, key: str) -> bool:
        """Re-hash the object under ``key`` and tell whether it still matches its address."""
        digest = hashlib.sha256()
        with self.open(key) as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest() == check_content_key(key)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections); the default does nothing."""
