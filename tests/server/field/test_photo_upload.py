"""Photos from the field app in Chromium: kept as a Blob with its SHA-256, sent by tus to the
live server, and the Blob dropped only once the server lists the photo as stored, byte-identical."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random

import pytest
from PIL import Image
from playwright.sync_api import Page

from server.field.controllers import FIELD_DIST
from tests.server.sync.factory import make_visits
from tests.support import PASSWORD, LiveServer, off_loop

pytestmark = pytest.mark.skipif(
    not (FIELD_DIST / "index.html").is_file() and os.environ.get("CI") != "true",
    reason="the field app is not built (make assets)",
)


def _jpeg(width: int = 900, height: int = 700) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", (width, height), bytes(rng.getrandbits(8) for _ in range(width * height * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


UPLOAD = """async ([username, password, visitId, b64]) => {
  const { api, engine, db, store } = window.recheckField;
  await api.login(username, password, "chromium");
  await engine.pull();
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const blob = new Blob([bytes], { type: "image/jpeg" });
  const photo = await store.addPhoto(db, { blob, kind: "house_outside", visitId });
  await store.recordCapture(db, visitId, { notes: "照片", photos: [{ sha256: photo.sha256, kind: "house_outside" }] });
  const status = await engine.sync();
  const record = await db.photos.get(photo.sha256);
  return { phase: status.phase, message: status.message, sha256: photo.sha256, status: record.status,
           blob: record.blob === null, url: record.upload_url, unsent: status.unsent.total };
}"""


def test_a_photo_goes_by_tus_and_its_blob_is_dropped_once_stored(live: LiveServer, page: Page) -> None:
    world = live.world
    (visit_id, _), *_ = off_loop(
        lambda: make_visits(live.settings.database_url, world.area_ids["T1-a"], world.user_ids["worker1"])
    )
    jpeg = _jpeg()
    page.goto(f"{live.base_url}/field/")
    page.wait_for_function("() => window.recheckField !== undefined")
    result = page.evaluate(UPLOAD, ["worker1", PASSWORD, visit_id, base64.b64encode(jpeg).decode()])
    assert result["phase"] == "idle", result["message"]
    assert result["sha256"] == hashlib.sha256(jpeg).hexdigest()
    assert result["status"] == "stored"
    assert result["blob"] is True
    assert result["url"].startswith(f"{live.base_url}/uploads/")
    assert result["unsent"] == 0
    with live.as_user("worker1") as http:
        listing = http.get(f"/visits/{visit_id}/photos").json()
    stored = {p["sha256"]: p for p in listing["photos"]}
    assert stored[result["sha256"]]["status"] == "stored"
    assert stored[result["sha256"]]["byte_size"] == len(jpeg)
    assert listing["evidence_pending"] is False
