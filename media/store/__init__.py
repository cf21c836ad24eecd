"""Content-addressed media storage: one interface, a local-folder and an S3 backend.

Pick one with `open_store` from a URL: ``file:///var/recheck/media`` or ``s3://bucket/prefix``.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from media.store.base import (
    STAGING_PREFIX,
    ContentMismatch,
    InvalidKey,
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
from media.store.local import LocalStore
from media.store.s3 import S3Store

__all__ = [
    "STAGING_PREFIX",
    "ContentMismatch",
    "InvalidKey",
    "LocalStore",
    "MediaStore",
    "MultipartUpload",
    "ObjectNotFound",
    "Part",
    "S3Store",
    "SignatureRejected",
    "SignedDownload",
    "StoreError",
    "check_content_key",
    "check_key",
    "open_store",
    "sha256_hex",
]

_LOCAL_OPTIONS = {"signing_secret", "url_base"}


def open_store(media_url: str, **settings: Any) -> MediaStore:
    """Open the store a URL names.

    Args:
        media_url: ``file:///absolute/folder`` (or a plain path) for a local folder, or
            ``s3://bucket`` / ``s3://bucket/prefix`` for S3.
        **settings: For a folder: ``signing_secret`` (required) and ``url_base``. For S3: the
            keyword arguments of `S3Store` (``endpoint_url``, ``region_name``,
            ``aws_access_key_id``, ``aws_secret_access_key``, ``public_endpoint_url``,
            ``part_size``, ``create_bucket``…); local-only options are ignored, and so are
            S3 options given as None.

    Raises:
        ValueError: Unknown scheme, or a missing bucket or secret.
    """
    parsed = urllib.parse.urlparse(media_url)
    if parsed.scheme in ("file", ""):
        path = urllib.parse.unquote(parsed.path if parsed.scheme else media_url)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URL must name a local path: {media_url!r}")
        if not settings.get("signing_secret"):
            raise ValueError("a local media store needs signing_secret")
        return LocalStore(
            path, signing_secret=settings["signing_secret"], url_base=settings.get("url_base") or "/media"
        )
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"s3 URL must name a bucket: {media_url!r}")
        options = {k: v for k, v in settings.items() if k not in _LOCAL_OPTIONS and v is not None}
        return S3Store(parsed.netloc, parsed.path.strip("/"), **options)
    raise ValueError(f"unsupported media URL scheme {parsed.scheme!r} (use file:// or s3://)")
