"""Feed cursors: opaque to the device, signed by the server and bound to one device.

A cursor is ``1.<seq>.<device tag>.<mac>``: the feed position, the first 8 hex digits of the
device id (so a cursor from another device is told apart from a forged one), and an HMAC over
all of it with the server's secret. Nothing in it is trusted unless the MAC matches.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

__all__ = ["CursorError", "decode_cursor", "encode_cursor"]

_VERSION = "1"


class CursorError(ValueError):
    """A cursor that this server did not issue to this device."""


def _mac(secret: bytes, device_id: uuid.UUID, body: str) -> str:
    message = f"{device_id.hex}|{body}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:20]


def encode_cursor(secret: bytes, device_id: uuid.UUID, seq: int) -> str:
    """The cursor for feed position ``seq`` (every change with a higher sequence is still to come)."""
    body = f"{_VERSION}.{seq}.{device_id.hex[:8]}"
    return f"{body}.{_mac(secret, device_id, body)}"


def decode_cursor(secret: bytes, device_id: uuid.UUID, cursor: str) -> int:
    """The feed position of ``cursor``; raises :class:`CursorError` saying why it is refused."""
    parts = cursor.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit() or len(parts[1]) > 19:
        raise CursorError("not a cursor issued by this server")
    if parts[2] != device_id.hex[:8]:
        raise CursorError("this cursor was issued to another device")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _mac(secret, device_id, body)):
        raise CursorError("cursor signature does not match: forged or corrupted")
    return int(parts[1])
