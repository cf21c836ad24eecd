"""The wire types as JSON Schema, for clients written in other languages (the field app).

The field app generates its TypeScript types and its offline validator from this document, so
a form the tablet accepts is never refused by the server for a range, a pattern or an enum.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.auth import DeviceCreate, DeviceRegistered, LoginRequest, RefreshRequest, TokenPair
from schemas.capture import Capture, CapturePatch
from schemas.errors import ErrorBody
from schemas.media import PhotoRef, VisitPhotos
from schemas.sync import (
    CaptureItem,
    CaptureMutation,
    HouseholdItem,
    HouseholdMutation,
    PullRequest,
    PullResponse,
    PushResponse,
    ReferenceData,
    VisitItem,
)

__all__ = ["WIRE_TYPES", "wire_schema"]

#: The types a tablet sends or receives; their dependencies come along as ``$defs``.
WIRE_TYPES: tuple[Any, ...] = (
    LoginRequest,
    RefreshRequest,
    TokenPair,
    DeviceCreate,
    DeviceRegistered,
    ErrorBody,
    PullRequest,
    PullResponse,
    VisitItem,
    HouseholdItem,
    CaptureItem,
    ReferenceData,
    Capture,
    CapturePatch,
    CaptureMutation,
    HouseholdMutation,
    PushResponse,
    PhotoRef,
    VisitPhotos,
)


def wire_schema() -> dict[str, Any]:
    """One JSON Schema document: every wire type under ``$defs``, listed by name in ``properties``.

    The root object exists only so code generators see each type once, by its own name.
    """
    _, components = msgspec.json.schema_components(WIRE_TYPES, ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "recheck-wire",
        "title": "Wire",
        "description": "Generated from schemas/ by `recheck schema export`; do not edit.",
        "type": "object",
        "properties": {t.__name__: {"$ref": f"#/$defs/{t.__name__}"} for t in WIRE_TYPES},
        "additionalProperties": False,
        "$defs": dict(sorted(components.items())),
    }
