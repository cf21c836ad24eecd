"""The OpenAPI document tells the truth about errors: every refusal is an :class:`ErrorBody`.

Litestar documents a 400 answer of its own shape (``status_code``, ``detail``) for handlers that
validate input, but the app's exception handlers answer every error with ``ErrorBody``. This
documents the error answers the app really gives, so clients and schema-driven tests can rely on
the document.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from schemas.errors import ErrorBody
from server.auth.guards import SCHEMA_PATH

__all__ = ["ERROR_STATUSES", "document_error_responses"]

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
