"""Media settings, grouped by concern and read once from the environment (``RECHECK_*``).

The store location and S3 credentials live in :class:`server.settings.Settings`
(``media_url``, ``s3_*``); what follows tunes uploads, the image pipeline and download links.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from media.images import ImagePolicy
from media.store import MediaStore, open_store
from server.settings import Settings

__all__ = ["MediaConfig", "open_media_store"]


def _int(name: str, default: int) -> int:
    return int(os.environ.get(f"RECHECK_{name}", "") or default)


@dataclass(frozen=True)
class MediaConfig:
    """Upload, pipeline and link settings.

    Attributes:
        upload_max_bytes: Largest photo accepted (``Tus-Max-Size``). ``RECHECK_UPLOAD_MAX_BYTES``.
        upload_expiry_seconds: An unfinished upload expires this long after its last byte arrived.
            ``RECHECK_UPLOAD_EXPIRY_SECONDS`` (default one day).
        s3_part_size: Size of S3 multipart parts (at least 5 MiB). ``RECHECK_S3_PART_SIZE``.
        local_part_size: Size of the part files of the local store. ``RECHECK_LOCAL_PART_SIZE``.
        max_pixels: Largest photo in pixels. ``RECHECK_MEDIA_MAX_PIXELS``.
        link_seconds: Lifetime of signed download links. ``RECHECK_MEDIA_LINK_SECONDS``.
        duplicate_max_distance: Perceptual-hash distance (bits of 64) at or below which two photos
            count as the same picture. ``RECHECK_DUPLICATE_MAX_DISTANCE``.
        s3_public_endpoint_url: Endpoint clients use to reach S3 when it differs from the app's.
            ``RECHECK_S3_PUBLIC_ENDPOINT_URL``.
    """

    upload_max_bytes: int = 40 * 1024 * 1024
    upload_expiry_seconds: int = 24 * 3600
    s3_part_size: int = 5 * 1024 * 1024
    local_part_size: int = 1024 * 1024
    max_pixels: int = 40_000_000
    link_seconds: int = 300
    duplicate_max_distance: int = 8
    s3_public_endpoint_url: str | None = None

    @classmethod
    def from_env(cls) -> MediaConfig:
        """Read the ``RECHECK_*`` variables named in the attribute docs."""
        return cls(
            upload_max_bytes=_int("UPLOAD_MAX_BYTES", cls.upload_max_bytes),
            upload_expiry_seconds=_int("UPLOAD_EXPIRY_SECONDS", cls.upload_expiry_seconds),
            s3_part_size=_int("S3_PART_SIZE", cls.s3_part_size),
            local_part_size=_int("LOCAL_PART_SIZE", cls.local_part_size),
            max_pixels=_int("MEDIA_MAX_PIXELS", cls.max_pixels),
            link_seconds=_int("MEDIA_LINK_SECONDS", cls.link_seconds),
            duplicate_max_distance=_int("DUPLICATE_MAX_DISTANCE", cls.duplicate_max_distance),
            s3_public_endpoint_url=os.environ.get("RECHECK_S3_PUBLIC_ENDPOINT_URL") or None,
        )

    @property
    def image_policy(self) -> ImagePolicy:
        """The pipeline's limits."""
        return ImagePolicy(max_bytes=self.upload_max_bytes, max_pixels=self.max_pixels)


def open_media_store(settings: Settings, config: MediaConfig) -> MediaStore:
    """The store ``settings.media_url`` names. Local links are signed with a key derived from the
    app secret (so a link key never doubles as a token key)."""
    link_key = hmac.new(settings.secret_key.encode(), b"recheck media links", hashlib.sha256).hexdigest()
    return open_store(
        settings.media_url,
        signing_secret=link_key,
        url_base="/media",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        public_endpoint_url=config.s3_public_endpoint_url,
        part_size=config.s3_part_size,
    )
