"""The OpenAPI document tells the truth, so that generated clients and schema-driven tests work.

Errors: Litestar documents a 400 answer of its own shape (``status_code``, ``detail``) for
handlers that validate input, but the app's exception handlers answer every error with
``ErrorBody``; :func:`document_error_responses` documents the error answers the app really gives.

What Litestar cannot express is corrected in the finished document (:class:`DocumentConfig`
makes the document, whose dict form passes through each fix in :data:`FIXES`):

- integer ranges, which Litestar writes as floats (``2**63 - 1`` is not a float), are the declared
  integers;
- the tus routes answer with the protocol's status codes and headers (204 to ``OPTIONS``, 410,
  412, 415, 423, 460; ``Upload-Offset``, ``Location`` …) and take its request headers;
- exports and downloads are files of their real content types, not JSON strings;
- every wire type refuses unknown fields (``additionalProperties: false``), as the server does;
- periods, payment months and cursors carry their formats (patterns);
- the sync pull and push bodies, read by hand from the raw request, are documented, in JSON and
  MessagePack, as are their answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPI
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute

from schemas.base import Struct
from schemas.errors import ErrorBody
from schemas.sync import PullRequest, PullResponse, PushRequest, PushResponse
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


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_TUS_RESUMABLE = {"description": "the tus version of the answer", "schema": {"type": "string", "enum": ["1.0.0"]}}
_INTEGER = {"type": "integer", "minimum": 0}


def _header(description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


def _request_header(name: str, description: str, schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"name": name, "in": "header", "description": description, "required": required, "schema": schema}


_TUS_STATUSES = {
    "410": "The upload expired or was terminated.",
    "412": "``Tus-Resumable`` is missing or not 1.0.0.",
    "415": "``Content-Type`` is not application/offset+octet-stream.",
    "423": "Another request is writing to this upload, or completing it; retry.",
    "460": "The bytes do not match ``Upload-Checksum``.",
}
_UPLOAD_OFFSET = _header("bytes the server has", _INTEGER, required=True)
_UPLOAD_EXPIRES = _header("when an unfinished upload expires (HTTP date)", {"type": "string"})
_REQUEST_VERSION = _request_header(
    "Tus-Resumable", "the tus version", {"type": "string", "enum": ["1.0.0"]}, required=True
)
_CHECKSUM = _request_header(
    "Upload-Checksum",
    "``sha256 <base64>`` or ``sha1 <base64>`` of this request's bytes",
    {"type": "string"},
    required=False,
)
_BYTES = {"content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}}

#: method → (success status, its headers, request headers, request body, extra error statuses)
_TUS_OPERATIONS: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, Any] | None, list[str]]] = {
    "options": (
        "204",
        {
            "Tus-Resumable": _TUS_RESUMABLE,
            "Tus-Version": _header("supported versions", {"type": "string"}, required=True),
            "Tus-Extension": _header("supported extensions", {"type": "string"}, required=True),
            "Tus-Max-Size": _header("largest upload accepted, in bytes", _INTEGER, required=True),
            "Tus-Checksum-Algorithm": _header("checksum algorithms", {"type": "string"}, required=True),
        },
        [],
        None,
        [],
    ),
    "post": (
        "201",
        {
            "Location": _header("the upload's URL", {"type": "string", "format": "uri"}, required=True),
            "Tus-Resumable": _TUS_RESUMABLE,
            "Upload-Expires": _UPLOAD_EXPIRES,
            "Upload-Offset": _header("bytes received with the creation (creation-with-upload)", _INTEGER),
        },
        [
            _REQUEST_VERSION,
            _request_header("Upload-Length", "the photo's size in bytes", _INTEGER, required=True),
            _request_header(
                "Upload-Metadata",
                "``key base64value`` pairs: sha256, visit_id, kind, filename",
                {"type": "string"},
                required=True,
            ),
            _CHECKSUM,
        ],
        {**_BYTES, "required": False},
        ["410", "412", "415", "460"],
    ),
    "head": (
        "200",
        {
            "Upload-Offset": _UPLOAD_OFFSET,
            "Upload-Length": _header("the upload's size", _INTEGER, required=True),
            "Upload-Metadata": _header("the metadata it was created with", {"type": "string"}),
            "Upload-Expires": _UPLOAD_EXPIRES,
            "Tus-Resumable": _TUS_RESUMABLE,
        },
        [],
        None,
        ["410", "412", "423"],
    ),
    "patch": (
        "204",
        {"Upload-Offset": _UPLOAD_OFFSET, "Upload-Expires": _UPLOAD_EXPIRES, "Tus-Resumable": _TUS_RESUMABLE},
        [
            _REQUEST_VERSION,
            _request_header("Upload-Offset", "where these bytes start", _INTEGER, required=True),
            _CHECKSUM,
        ],
        {**_BYTES, "required": True},
        ["410", "412", "415", "423", "460"],
    ),
    "delete": ("204", {"Tus-Resumable": _TUS_RESUMABLE}, [_REQUEST_VERSION], None, ["410", "412", "423"]),
}


def _tus_paths(app: Litestar) -> set[str]:
    from server.media.controllers import TusController

    return {
        route.path_format
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(TusController.path)
    }


def _without_body(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "content"}


def tus_protocol(app: Litestar, document: dict[str, Any]) -> None:
    """The tus routes as the protocol has them (Litestar sees handlers returning ``Response[None]``)."""
    for path in _tus_paths(app):
        for method, operation in document["paths"].get(path, {}).items():
            if method not in _TUS_OPERATIONS:
                continue
            status, headers, request_headers, body, errors = _TUS_OPERATIONS[method]
            responses = {code: answer for code, answer in operation["responses"].items() if not code.startswith("2")}
            responses[status] = {"description": "Done (tus 1.0).", "headers": headers}
            for code in errors:
                responses[code] = {"description": _TUS_STATUSES[code], "content": _ERROR}
            if method == "head":  # HEAD answers carry no body, errors included
                responses = {
                    code: {k: v for k, v in answer.items() if k != "content"} for code, answer in responses.items()
                }
            operation["responses"] = dict(sorted(responses.items()))
            operation["parameters"] = [*operation.get("parameters", []), *request_headers]
            if body is not None:
                operation["requestBody"] = body


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE = {"schema": {"type": "string", "format": "binary"}}

#: (method, path) → the content types of a file answer.
FILE_ANSWERS: dict[tuple[str, str], list[str]] = {
    ("get", "/payments/months/{month}/export"): ["text/csv", _XLSX],
    ("get", "/reports/summary/export"): [_XLSX, "text/html"],
    ("get", "/decisions/notices/{notice_id}/export"): ["application/pdf", _XLSX],
    ("get", "/media/{key}"): ["image/*", "application/octet-stream"],
}


def file_answers(app: Litestar, document: dict[str, Any]) -> None:
    """Exports and downloads are files of their own types (Litestar sees ``bytes`` and says JSON)."""
    for (method, path), types in FILE_ANSWERS.items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is None:
            continue
        ok = operation["responses"].get("200", {"description": "The file."})
        ok["content"] = {media_type: _FILE for media_type in types}
        operation["responses"]["200"] = ok


def _wire_type_names() -> set[str]:
    names: set[str] = set()
    pending: list[type] = [Struct]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        config = getattr(cls, "__struct_config__", None)
        if config is not None and config.forbid_unknown_fields:
            names.add(cls.__name__)
    return names


def closed_wire_types(app: Litestar, document: dict[str, Any]) -> None:
    """Wire types forbid unknown fields (``schemas.base.Struct``): the document says so."""
    names = _wire_type_names()
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if name in names and schema.get("type") == "object":
            schema["additionalProperties"] = False


#: Text formats the server checks by hand.
PERIOD = r"^[1-9]\d{3}(-(0[1-9]|1[0-2])|Q[1-4]|H[12])?$"
MONTH = r"^[1-9]\d{3}-(0[1-9]|1[0-2])$"
PAGE_CURSOR = r"^[A-Za-z0-9_-]+$"
SYNC_CURSOR = r"^\d+\.\d{1,19}\.[0-9a-f]{8}\.[0-9a-f]{20}$"
_PARAMETER_PATTERNS = {"period": PERIOD, "month": MONTH, "cursor": PAGE_CURSOR}


def _set_pattern(schema: dict[str, Any], pattern: str) -> None:
    choices = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    for target in [s for s in choices if s.get("type") == "string"] or [schema]:
        target["pattern"] = pattern


def text_formats(app: Litestar, document: dict[str, Any]) -> None:
    """Periods (``2026-12``, ``2026Q4``, ``2026H2``, ``2026``), months and cursors carry their patterns."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                pattern = _PARAMETER_PATTERNS.get(parameter["name"])
                if pattern is None or parameter["in"] not in ("query", "path"):
                    continue
                _set_pattern(parameter["schema"], pattern)
    components = document.get("components", {}).get("schemas", {})
    for name, field, pattern in (("PlanRequest", "period", PERIOD), ("PullRequest", "cursor", SYNC_CURSOR)):
        schema = components.get(name, {}).get("properties", {}).get(field)
        if schema is not None:
            targets = [
                s for s in (schema, *schema.get("anyOf", []), *schema.get("oneOf", [])) if s.get("type") == "string"
            ]
            for target in targets or [schema]:
                target["pattern"] = pattern


_MSGPACK = "application/msgpack"
#: path → (request body type, answer type)
SYNC_BODIES: dict[str, tuple[type, type]] = {
    "/sync/pull": (PullRequest, PullResponse),
    "/sync/push": (PushRequest, PushResponse),
}


def sync_bodies(app: Litestar, document: dict[str, Any]) -> None:
    """The sync bodies, decoded by hand from the raw request: JSON or MessagePack (``Content-Type``),
    answered in the same types as ``Accept`` asks."""
    types = [t for pair in SYNC_BODIES.values() for t in pair]
    _refs, definitions = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in definitions.items():
        if name not in components:
            schema.pop("title", None)
            components[name] = schema
    for path, (request, answer) in SYNC_BODIES.items():
        operation = document["paths"].get(path, {}).get("post")
        if operation is None:
            continue
        body = {"schema": {"$ref": f"#/components/schemas/{request.__name__}"}}
        operation["requestBody"] = {"required": True, "content": {"application/json": body, _MSGPACK: body}}
        ok = {"schema": {"$ref": f"#/components/schemas/{answer.__name__}"}}
        operation["responses"]["200"]["content"] = {"application/json": ok, _MSGPACK: ok}


#: The corrections applied to the finished document, in order.
FIXES: list[Fix] = [exact_integer_ranges, tus_protocol, file_answers, sync_bodies, closed_wire_types, text_formats]


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
