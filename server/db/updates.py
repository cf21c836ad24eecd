"""Applying a partial-update Struct (``UNSET`` = absent) to a model, returning the diff for audit."""

from __future__ import annotations

from typing import Any

import msgspec

from server.audit.services import jsonable

__all__ = ["apply_changes"]


def apply_changes(model: Any, data: msgspec.Struct, *, skip: tuple[str, ...] = ("version",)) -> dict[str, list[Any]]:
    """Set each field of ``data`` that is not ``UNSET`` on ``model``; return ``{field: [old, new]}``."""
    changes: dict[str, list[Any]] = {}
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if value is msgspec.UNSET or name in skip:
            continue
        value = value.value if hasattr(value, "value") and not isinstance(value, int | str) else value
        old = getattr(model, name)
        if old != value:
            changes[name] = [jsonable(old), jsonable(value)]
            setattr(model, name, value)
    return changes
