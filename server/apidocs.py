"""The API reference page (``/schema``) with everything it loads served by the app itself.

A county intranet often has no internet: Litestar's Swagger UI page would load its script, style
sheet and icon from public CDNs and stay blank. The Swagger UI files come from the
``swagger-ui-py`` package instead (its ``static`` folder), served under ``/schema/assets/``.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

from server.auth.guards import SCHEMA_PATH

__all__ = ["ASSETS_PATH", "assets_router", "swagger_plugin"]

ASSETS_PATH = f"{SCHEMA_PATH}/assets"
_STATIC = Path(swagger_ui.__file__).parent / "static"


def swagger_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at ``/schema`` with its assets from :data:`ASSETS_PATH`."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def assets_router() -> Router:
    """The Swagger UI files, public like the page itself (``/schema…`` needs no token)."""
    return create_static_files_router(
        path=ASSETS_PATH, directories=[_STATIC], include_in_schema=False, opt={"exclude_from_auth": True}
    )
