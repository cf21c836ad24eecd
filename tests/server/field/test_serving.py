"""The built field app at ``/field/``: app routes fall back to ``index.html``, the service worker
and manifest are where the browser expects them, and cache headers make updates safe."""

from __future__ import annotations

import json
import os
import re

import pytest

from server.field.controllers import FIELD_DIST
from tests.support import LiveServer

pytestmark = pytest.mark.skipif(
    not (FIELD_DIST / "index.html").is_file() and os.environ.get("CI") != "true",
    reason="the field app is not built (make assets)",
)


def test_app_routes_answer_with_the_shell_and_are_revalidated(live: LiveServer) -> None:
    with live.client() as http:
        for path in ("/field/", "/field/visits/3f0c", "/field/capture/new"):
            response = http.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["cache-control"] == "no-cache"
            assert '<div id="app">' in response.text


def test_hashed_assets_are_immutable_and_compressed(live: LiveServer) -> None:
    with live.client() as http:
        shell = http.get("/field/").text
        scripts = re.findall(r'src="(/field/assets/[^"]+\.js)"', shell)
        assert scripts
        response = http.get(scripts[0], headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["content-encoding"] == "gzip"


def test_service_worker_and_manifest(live: LiveServer) -> None:
    with live.client() as http:
        worker = http.get("/field/sw.js")
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["cache-control"] == "no-cache"
        assert worker.headers["service-worker-allowed"] == "/field/"
        assert "index.html" in worker.text  # the precache list was injected
        manifest = http.get("/field/manifest.webmanifest")
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = json.loads(manifest.content)
        assert body["scope"] == "/field/"
        assert body["start_url"] == "/field/"
        sizes = {icon["sizes"] for icon in body["icons"]}
        assert {"192x192", "512x512"} <= sizes
        for icon in body["icons"]:
            png = http.get(f"/field/{icon['src']}")
            assert png.status_code == 200
            assert png.content.startswith(b"\x89PNG")


def test_missing_files_and_paths_outside_the_app_are_404(live: LiveServer) -> None:
    with live.client() as http:
        for path in ("/field/assets/missing-abc123.js", "/field/nothing.png", "/field/%2e%2e/pyproject.toml"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.json()["code"] == "not_found"


def test_names_no_file_system_accepts_are_404_not_500(live: LiveServer) -> None:
    with live.client() as http:
        for path in ("/field/%00", "/field/abc%00.jpg", "/field/" + "x" * 5_000, "/field/" + "1" * 300):
            response = http.get(path)
            assert response.status_code == 404, path[:40]
            assert response.json()["code"] == "not_found"
