"""The OpenAPI document tells the truth, so that generated clients and schema-driven tests work.

Errors: Litestar documents a 400 answer of its own shape (``status_code``, ``detail``) for
handlers that validate input, but the app's exception handlers answer every error with
``ErrorBody``; :func:`document_error_responses` documents the error answers the app really gives.

What Litestar cannot express is corrected in the finished document (:class:`DocumentConfig`
makes the document, whose dict form passes through each fix in :data:`FIXES`): integer ranges,
which Litestar writes as floats (``2**63 - 1`` is not a float), are the declared integers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPI
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute

from schemas.errors import ErrorBody
from server.auth.guards import SCHEMA_PATH

__all__ = ["ERROR_STATUSES", "FIXES", "DocumentConfig", "document_error_responses"]

#: A correction of the finished document (its dict form), given the app it describes.
Fix = Callable[[Litestar, dict[str, Any]], None]

#: Error answers any endpoint may give (all as ``ErrorBody``).
ERROR_STATUSES = {
    400: "The request is malformed or fails validation (``errors`` names each field).",
    401: "No valid access token (missing, expired, forged, or its device was revoked).",
    403: "Your role, your areas or your device do not allow this.",
    404: "No such object within your areas.",
    409: "The object is not in a state that allows this, or it changed meanwhile.",
    413: "The request body is too large.",
    422: "The request is well formed but breaks a domain rule (``errors`` names each field).",
    429: "Too many attempts; wait and retry.",
}


def document_error_responses(app: Litestar) -> None:
    """Add ``ErrorBody`` error responses to every handler (keeping any a handler declares itself)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(SCHEMA_PATH):
            continue
        for handler in route.route_handlers:
            responses = dict(handler.responses or {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status, ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)
                )
            handler.responses = responses


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in the document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _integer_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in (schema, *schema.get("oneOf", [])) if s.get("type") == "integer"]


def _declared_ranges(app: Litestar) -> dict[tuple[str, str, str], ParameterKwarg]:
    """(path, method, parameter name) → the parameter's declaration, for every declared range."""
    ranges: dict[tuple[str, str, str], ParameterKwarg] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for name, field in handler.parsed_fn_signature.parameters.items():
                kwarg = field.kwarg_definition
                if isinstance(kwarg, ParameterKwarg) and (kwarg.ge is not None or kwarg.le is not None):
                    wire_name = kwarg.query or kwarg.header or kwarg.cookie or name
                    for method in handler.http_methods:
                        ranges[(route.path_format or "/", method.lower(), wire_name)] = kwarg
    return ranges


def exact_integer_ranges(app: Litestar, document: dict[str, Any]) -> None:
    """Integer ``minimum``/``maximum`` as integers: parameters from their declarations, the rest
    (body fields, all well below 2**53) converted exactly."""
    for node in _walk(document):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if node.get("type") == "integer" and isinstance(node.get(key), float) and abs(node[key]) < 2**53:
                node[key] = int(node[key])
    ranges = _declared_ranges(app)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                declared = ranges.get((path, method, parameter["name"]))
                for schema in _integer_schemas(parameter.get("schema", {})) if declared else []:
                    for key, value in (("minimum", declared.ge), ("maximum", declared.le)):  # type: ignore[union-attr]
                        if value is not None:
                            schema[key] = int(value)


#: The corrections applied to the finished document, in order.
FIXES: list[Fix] = [exact_integer_ranges]


class _Document(OpenAPI):
    """The document Litestar builds; its dict form passes through the fixes."""

    app: Litestar | None = None

    def to_schema(self) -> dict[str, Any]:
        document = super().to_schema()
        if self.app is not None:
            for fix in FIXES:
                fix(self.app, document)
        return document


@dataclass
class DocumentConfig(OpenAPIConfig):
    """Litestar's OpenAPI settings; the document it makes is corrected by :data:`FIXES`."""

    app: Litestar | None = None

    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        document = _Document(**{f.name: getattr(base, f.name) for f in fields(base)})
        document.app = self.app
        return document
