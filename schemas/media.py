"""Photo evidence on the wire: references from the tablet, and what reviewers see."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated

import msgspec

from schemas.base import Struct

__all__ = [
    "DuplicateFlag",
    "GeoFix",
    "PhotoKind",
    "PhotoLinks",
    "PhotoRead",
    "PhotoRef",
    "PhotoStatus",
    "Sha256",
    "VisitPhotos",
]

#: A content address: lowercase hex SHA-256 of the original photo's bytes.
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the bytes")]


class PhotoKind(enum.StrEnum):
    """What a photo shows."""

    house_outside = "house_outside"
    house_inside = "house_inside"
    document = "document"
    income_proof = "income_proof"
    signature = "signature"
    other = "other"


class PhotoStatus(enum.StrEnum):
    """``pending``: referenced, bytes not yet verified; ``stored``; ``rejected`` by the pipeline."""

    pending = "pending"
    stored = "stored"
    rejected = "rejected"


class PhotoRef(Struct):
    """A visit's reference to a photo, sent with the capture before the bytes arrive."""

    sha256: Sha256
    kind: PhotoKind
    filename: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class GeoFix(Struct):
    """Where the photo was taken, from its EXIF (degrees; metres)."""

    lat: float
    lon: float
    altitude: float | None = None


class DuplicateFlag(Struct):
    """This photo looks like one attached to another household's visit."""

    photo_id: uuid.UUID
    visit_id: uuid.UUID
    other_visit_id: uuid.UUID
    distance: int


class PhotoLinks(Struct):
    """Short-lived signed download links."""

    original: str
    review: str
    thumb: str
    expires_at: dt.datetime


class PhotoRead(Struct):
    """One photo of a visit, as a reviewer sees it."""

    id: uuid.UUID
    visit_id: uuid.UUID
    sha256: str
    kind: PhotoKind
    status: PhotoStatus
    reject_reason: str | None = None
    filename: str | None = None
    content_type: str | None = None
    byte_size: int | None = None
    width: int | None = None
    height: int | None = None
    captured_at: dt.datetime | None = None
    capture_time_source: str | None = None
    gps: GeoFix | None = None
    exif_notes: list[str] = []
    duplicate_of: DuplicateFlag | None = None
    links: PhotoLinks | None = None


class VisitPhotos(Struct):
    """The photos of a visit; ``evidence_pending`` while any referenced photo is not stored."""

    visit_id: uuid.UUID
    evidence_pending: bool
    missing: list[str] = []
    photos: list[PhotoRead] = []
