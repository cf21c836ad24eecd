"""Encoders and decoders, created once, and decoding a push one mutation at a time.

A push is decoded in two steps: the envelope (device time and a list of raw mutations), then
each mutation on its own, so one malformed mutation becomes a per-mutation rejection naming
the field (``$.mutations[3].fields.incomes[0].monthly_amount``) while the rest are applied.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from schemas.base import Struct, UtcDateTime
from schemas.errors import FieldError
from schemas.sync import Mutation

__all__ = [
    "MSGPACK",
    "DecodeProblem",
    "PushEnvelope",
    "decode",
    "decode_mutation",
    "decode_push",
    "encode",
    "error_from_msgspec",
]

#: The media type of MessagePack bodies.
MSGPACK = "application/msgpack"


class PushEnvelope(Struct):
    """The outer shape of a push; mutations are decoded one by one."""

    device_time: UtcDateTime
    mutations: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=1000)]


_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_json_envelope = msgspec.json.Decoder(PushEnvelope)
_msgpack_envelope = msgspec.msgpack.Decoder(PushEnvelope)
_json_mutation = msgspec.json.Decoder(Mutation)
_msgpack_mutation = msgspec.msgpack.Decoder(Mutation)

_AT = re.compile(r"\s*-\s*at `\$([^`]*)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")


class DecodeProblem(ValueError):
    """A body that could not be decoded; ``error`` names the path and the reason."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(f"{error.path}: {error.reason}")
        self.error = error


def error_from_msgspec(exc: Exception, prefix: str = "$") -> FieldError:
    """``Expected `int` >= 0 - at `$.x[0].y``` → ``FieldError(path="<prefix>.x[0].y", reason=...)``."""
    message = str(exc)
    match = _AT.search(message)
    path = prefix + (match.group(1) if match else "")
    reason = _AT.sub("", message)
    if unknown := _UNKNOWN.search(reason):
        path = f"{path}.{unknown.group(1)}"
    return FieldError(path=path, reason=reason)


def encode(value: Any, *, msgpack: bool = False) -> bytes:
    return _msgpack_encoder.encode(value) if msgpack else _json_encoder.encode(value)


def decode(data: bytes, type: Any, *, msgpack: bool = False) -> Any:
    if msgpack:
        return msgspec.msgpack.decode(data, type=type)
    return msgspec.json.decode(data, type=type)


def decode_push(body: bytes, *, msgpack: bool = False) -> PushEnvelope:
    """The envelope of a push, or :class:`DecodeProblem` naming what is wrong with it."""
    try:
        return _msgpack_envelope.decode(body) if msgpack else _json_envelope.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeProblem(error_from_msgspec(exc)) from exc


def decode_mutation(raw: msgspec.Raw, index: int, *, msgpack: bool = False) -> Mutation | FieldError:
    """One mutation, or the field error that rejects it (paths start ``$.mutations[index]``)."""
    try:
        mutation: Mutation = (_msgpack_mutation if msgpack else _json_mutation).decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_from_msgspec(exc, f"$.mutations[{index}]")
    return mutation
