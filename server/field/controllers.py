"""Serves the built field app at ``/field/``: its files, ``index.html`` for the app's own routes
(so a reload on ``/field/visits/…`` works), the service worker at ``/field/sw.js`` (its scope is
the folder it is served from, ``/field/``), and cache headers that make updates safe: hashed
assets never change and are cached for a year; ``index.html``, ``sw.js`` and the manifest are
revalidated on every load, so a new version is found as soon as the tablet has a signal.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from litestar import Controller, get
from litestar.response import File

from server.auth.guards import PUBLIC
from server.errors import NotFound
from server.paths import plain_file_path

__all__ = ["FIELD_DIST", "FieldAppController", "field_file"]

#: Where ``npm run build:field`` (``make assets``) puts the app.
FIELD_DIST = Path(__file__).resolve().parents[2] / "field" / "dist"

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript", ".mjs": "text/javascript"}


def field_file(relative: str, root: Path = FIELD_DIST) -> Path:
    """The file to answer ``/field/<relative>`` with: the file itself, else ``index.html`` for an
    app route (a last segment without a dot); :class:`NotFound` for a missing file or a path
    outside the app's folder."""
    if not (root / "index.html").is_file():
        raise NotFound("the field app is not built: run `make assets` (npm run build)")
    relative = relative.lstrip("/")
    candidate = (root / relative).resolve()
    if candidate.is_relative_to(root.resolve()) and candidate.is_file():
        return candidate
    if "." in relative.rsplit("/", 1)[-1] or relative.startswith("assets/"):
        raise NotFound(f"/field/{relative}: no such file")
    return root / "index.html"


class FieldAppController(Controller):
    path = "/field"
    include_in_schema = False
    opt = PUBLIC
    guards = [plain_file_path]

    @get("/", sync_to_thread=False, name="field_index")
    def index(self) -> File:
        return self._send("index.html")

    @get("/{file_path:path}", sync_to_thread=False, name="field_file")
    def file(self, file_path: str) -> File:
        if file_path in ("", "/"):
            return self._send("index.html")
        return self._send(file_path)

    @staticmethod
    def _send(relative: str) -> File:
        path = field_file(relative)
        hashed = path.parent.name == "assets" and path.parent.parent == FIELD_DIST
        media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Cache-Control": _IMMUTABLE if hashed else _REVALIDATE, "X-Content-Type-Options": "nosniff"}
        if path.name == "sw.js":
            headers["Service-Worker-Allowed"] = "/field/"
        return File(path=path, media_type=media_type, headers=headers, content_disposition_type="inline")
