"""Request bodies are decoded strictly: every JSON value has the type the schema says, or a 400.

Litestar turns a handler's ``data`` into its type by parsing the JSON into Python values and then
converting them with msgspec's lax rules (``strict=False``), which it needs for query strings and
path segments, where everything arrives as text. Applied to a JSON body, the same rules silently
turn ``{"active": "false"}`` and ``{"active": 0}`` into ``False`` and ``{"area_ids": ["2"]}`` into
``[2]`` — a client's bug stored as data. :class:`StrictBodyPlugin` gives every handler whose body
is a wire type (a msgspec Struct, or a list of them) a :class:`StrictBody` decoder instead: msgspec
decodes the raw bytes straight into the type in strict mode, and a mismatch is a 400 whose
``errors[0].path`` names the field (``$.active``, ``$.area_ids[0]``). Parameters keep the lax rules.
"""

from __future__ import annotations

from collections.abc import Collection, Generator
from typing import Any, ClassVar, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.exceptions import ValidationException
from litestar.plugins import SerializationPlugin
from litestar.typing import FieldDefinition

__all__ = ["StrictBody", "StrictBodyPlugin"]

T = TypeVar("T")


class StrictBody(AbstractDTO[T]):
    """Decodes a handler's JSON body with msgspec in strict mode (a data-only DTO)."""

    #: handler id → the type its ``data`` is decoded into
    _types: ClassVar[dict[str, Any]] = {}

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        cls._types[handler_id] = field_definition.annotation

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        """Never used for answers: those are encoded as they are."""
        return False

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        """The body's schema is its type's, exactly as without this decoder."""
        return schema_creator.for_field_definition(field_definition)

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()  # no transfer model: the wire type is decoded directly

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    def _type(self) -> Any:
        return self._types[self.asgi_connection.route_handler.handler_id]

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return msgspec.json.decode(value, type=self._type(), strict=True)
        except msgspec.ValidationError as exc:
            raise ValidationException(str(exc)) from exc
        except msgspec.DecodeError as exc:
            raise ValidationException(f"the body is not valid JSON: {exc}") from exc

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(value, type=self._type(), strict=True)
        except msgspec.ValidationError as exc:
            raise ValidationException(str(exc)) from exc

    def data_to_encodable_type(self, data: T | Collection[T]) -> Any:
        return data


def _is_wire_type(field_definition: FieldDefinition) -> bool:
    if field_definition.is_subclass_of(msgspec.Struct):
        return True
    return (
        field_definition.is_non_string_collection
        and not field_definition.is_mapping
        and len(field_definition.inner_types) == 1
        and field_definition.inner_types[0].is_subclass_of(msgspec.Struct)
    )


class StrictBodyPlugin(SerializationPlugin):
    """Chooses :class:`StrictBody` for every request body that is a wire type."""

    def supports_type(self, field_definition: FieldDefinition) -> bool:
        # Litestar asks about a handler's body (named "data") and its return type; only bodies.
        return field_definition.name == "data" and _is_wire_type(field_definition)

    def create_dto_for_type(self, field_definition: FieldDefinition) -> type[AbstractDTO[Any]]:
        return StrictBody
