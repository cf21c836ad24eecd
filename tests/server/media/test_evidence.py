"""Evidence records, near-duplicate flags across households, who sees which photos, signed links."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import urllib.parse
import uuid

import httpx
import pytest
from PIL import Image

from server.db.session import make_engine, make_session_factory
from server.media.services import evidence_status
from tests.server.media.conftest import MediaWorld, jpeg_bytes, scene, tus_create, tus_patch, upload_metadata

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.parametrize("media_backend", ["local"]),
]


def upload(media: MediaWorld, user: str, visit: str, data: bytes, kind: str = "house_outside") -> httpx.Response:
    with media.device_client(user) as c:
        created = tus_create(c, len(data), upload_metadata(data, media.visits[visit], kind=kind))
        assert created.status_code == 201, created.text
        return tus_patch(c, created.headers["Location"], 0, data)


def listing(media: MediaWorld, user: str, visit: str) -> httpx.Response:
    with media.live.as_user(user) as c:
        return c.get(f"/visits/{media.visits[visit]}/photos")


def status(media: MediaWorld, visit_id: uuid.UUID) -> list[str]:
    async def run() -> list[str]:
        engine = make_engine(media.live.settings.database_url, null_pool=True)
        try:
            async with make_session_factory(engine)() as session:
                return await evidence_status(session, visit_id)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def reencoded(data: bytes) -> bytes:
    """The same picture, resized and saved again (what a reused photo usually looks like)."""
    im = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(out, "JPEG", quality=70)
    return out.getvalue()


def test_reference_before_bytes_is_evidence_pending_until_stored(media: MediaWorld) -> None:
    house, document = jpeg_bytes(seed=21), jpeg_bytes(seed=22)
    sha_house, sha_doc = hashlib.sha256(house).hexdigest(), hashlib.sha256(document).hexdigest()
    media.reference(media.visits["v1"], [(sha_house, "house_outside"), (sha_doc, "document")])
    media.reference(media.visits["v1"], [(sha_house, "house_outside")])  # a replayed capture: no change
    assert sorted(status(media, media.visits["v1"])) == sorted([sha_house, sha_doc])
    pending = listing(media, "worker1", "v1").json()
    assert pending["evidence_pending"] is True
    assert {p["status"] for p in pending["photos"]} == {"pending"}

    assert upload(media, "worker1", "v1", house).status_code == 204
    assert status(media, media.visits["v1"]) == [sha_doc]
    assert upload(media, "worker1", "v1", document, kind="document").status_code == 204
    assert status(media, media.visits["v1"]) == []
    done = listing(media, "worker1", "v1").json()
    assert done["evidence_pending"] is False
    kinds = {p["sha256"]: p["kind"] for p in done["photos"]}
    assert kinds == {sha_house: "house_outside", sha_doc: "document"}


def test_photo_reused_for_another_household_is_flagged(media: MediaWorld) -> None:
    original = scene(31)
    assert upload(media, "worker1", "v1", original).status_code == 204
    # The same household's next visit reuses it: not a fraud signal.
    assert upload(media, "worker1", "v1_again", original).status_code == 204
    # Another household's visit gets the same picture, re-encoded: flagged, naming both visits.
    assert upload(media, "worker1b", "v2", reencoded(original)).status_code == 204
    # A different picture for another household: not flagged.
    assert upload(media, "worker2", "v3", scene(77)).status_code == 204

    [flagged] = listing(media, "sup1", "v2").json()["photos"]
    first = listing(media, "sup1", "v1").json()["photos"][0]
    again = listing(media, "sup1", "v1_again").json()["photos"][0]
    duplicate = flagged["duplicate_of"]
    assert duplicate["visit_id"] == str(media.visits["v2"])
    assert (duplicate["other_visit_id"], duplicate["photo_id"]) in {
        (str(media.visits["v1"]), first["id"]),
        (str(media.visits["v1_again"]), again["id"]),
    }
    assert duplicate["distance"] <= 8
    assert "duplicate_of" not in listing(media, "worker1", "v1_again").json()["photos"][0]
    assert "duplicate_of" not in listing(media, "worker2", "v3").json()["photos"][0]
    with media.live.as_user("auditor") as c:
        events = c.get("/audit/", params={"entity": "visit", "entity_id": str(media.visits["v2"])})
    flags = [e for e in events.json() if e["action"] == "photo.duplicate_flagged"]
    assert len(flags) == 1
    assert flags[0]["changes"]["other_visit"] == duplicate["other_visit_id"]
    assert flags[0]["device_id"] == media.devices["worker1b"][0]


def test_featureless_photos_are_not_compared(media: MediaWorld) -> None:
    """Flat pictures (a white wall, a night shot) all hash alike: they are never flagged."""
    assert upload(media, "worker1", "v1", jpeg_bytes(seed=31)).status_code == 204
    assert upload(media, "worker1b", "v2", jpeg_bytes(seed=77)).status_code == 204
    assert "duplicate_of" not in listing(media, "sup1", "v2").json()["photos"][0]


def test_who_may_see_a_visits_photos(media: MediaWorld) -> None:
    assert upload(media, "worker1", "v1", jpeg_bytes(seed=41)).status_code == 204
    assert listing(media, "worker1", "v1").status_code == 200
    assert listing(media, "worker1b", "v1").status_code == 404  # a worker: only their own visits
    assert listing(media, "worker2", "v1").status_code == 404
    assert listing(media, "sup1", "v1").status_code == 200  # supervisor of the township
    assert listing(media, "sup2", "v1").status_code == 404  # another township
    assert listing(media, "auditor", "v1").status_code == 200
    assert listing(media, "approver", "v1").status_code == 200
    with media.live.client() as c:
        assert c.get(f"/visits/{media.visits['v1']}/photos").status_code == 401


def test_signed_links_refuse_tampering_and_expiry(media: MediaWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECHECK_MEDIA_LINK_SECONDS", "2")  # read when the media context is first built
    data = jpeg_bytes(seed=51)
    assert upload(media, "worker1", "v1", data).status_code == 204
    [photo] = listing(media, "worker1", "v1").json()["photos"]
    links = photo["links"]
    with httpx.Client(timeout=10) as c:
        good = c.get(links["original"])
        assert good.status_code == 200
        assert good.content == data
        assert good.headers["content-type"].startswith("image/jpeg")
        parts = urllib.parse.urlsplit(links["original"])
        query = dict(urllib.parse.parse_qsl(parts.query))
        other_key = urllib.parse.urlsplit(links["review"]).path.rsplit("/", 1)[1]
        tampered = {
            "signature": {**query, "sig": "A" * len(query["sig"])},
            "expiry": {**query, "exp": str(int(query["exp"]) + 3600)},
            "type": {**query, "ct": "text/html"},
        }
        for label, q in tampered.items():
            response = c.get(f"{parts.scheme}://{parts.netloc}{parts.path}", params=q)
            assert response.status_code == 403, label
            assert response.json()["code"] == "link_invalid", label
        swapped = c.get(f"{parts.scheme}://{parts.netloc}/media/{other_key}", params=query)
        assert swapped.status_code == 403
        missing = c.get(f"{parts.scheme}://{parts.netloc}{parts.path}")
        assert missing.status_code == 403
        time.sleep(2.2)
        expired = c.get(links["thumb"])
    assert expired.status_code == 403
    body = expired.json()
    assert body["code"] == "link_expired"
    assert body["errors"][0]["reason"] == "expired"
