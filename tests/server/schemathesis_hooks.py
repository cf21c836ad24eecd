"""Schemathesis serializers for the media types the API takes besides JSON.

Loaded by ``tests/server/test_fuzz.py`` (imported) and by ``bench/api/bench_fuzz.py`` (as
``SCHEMATHESIS_HOOKS``): tus bodies are raw bytes (``application/offset+octet-stream``) and sync
bodies and answers may be MessagePack (``application/msgpack``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def _raw_bytes(ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


@schemathesis.serializer("application/msgpack")
def _msgpack_body(ctx: Any, value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


@schemathesis.deserializer("application/msgpack")
def _msgpack_answer(ctx: Any, response: Any) -> Any:
    return msgspec.msgpack.decode(response.content)
