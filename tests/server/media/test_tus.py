"""tus 1.0 over real HTTP: discovery, creation, offsets, checksums, termination, expiry, access."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server.db.session import make_engine, make_session_factory
from server.media.models import Upload
from tests.server.media.conftest import (
    TUS,
    MediaWorld,
    jpeg_bytes,
    run_cleanup,
    tus_create,
    tus_patch,
    upload_metadata,
)

#: Tests of the protocol and of access, which do not depend on the store, run on the local one only.
_ONE_STORE = pytest.mark.parametrize("media_backend", ["local"])


def _photos(media: MediaWorld, visit: str, user: str = "worker1") -> dict[str, Any]:
    with media.live.as_user(user) as c:
        response = c.get(f"/visits/{media.visits[visit]}/photos")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


@_ONE_STORE
def test_options_advertises_the_extensions(media: MediaWorld) -> None:
    with media.live.client() as c:
        response = c.options("/uploads/")
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert {"creation", "creation-with-upload", "termination", "checksum", "expiration"} <= extensions
    assert "sha256" in response.headers["Tus-Checksum-Algorithm"].split(",")
    assert int(response.headers["Tus-Max-Size"]) > 0


def test_upload_in_chunks_with_sha256_checksums(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=1)
    with media.device_client("worker1") as c:
        created = tus_create(c, len(data), upload_metadata(data, media.visits["v1"], filename="house.jpg"))
        assert created.status_code == 201, created.text
        assert created.headers["Tus-Resumable"] == "1.0.0"
        assert "Upload-Expires" in created.headers
        location = created.headers["Location"]
        offset = 0
        for start in range(0, len(data), 7000):
            chunk = data[start : start + 7000]
            digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            response = tus_patch(c, location, offset, chunk, f"sha256 {digest}")
            assert response.status_code == 204, response.text
            offset = int(response.headers["Upload-Offset"])
            assert offset == start + len(chunk)
        head = c.head(location, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    photos = _photos(media, "v1")
    assert photos["evidence_pending"] is False
    [photo] = photos["photos"]
    assert photo["status"] == "stored"
    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    assert photo["filename"] == "house.jpg"
    assert (photo["width"], photo["height"]) == (1200, 900)


def test_creation_with_upload(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=2)
    with media.device_client("worker1") as c:
        created = tus_create(c, len(data), upload_metadata(data, media.visits["v1"]), body=data[:5000])
        assert created.status_code == 201, created.text
        assert created.headers["Upload-Offset"] == "5000"
        done = tus_patch(c, created.headers["Location"], 5000, data[5000:])
    assert done.status_code == 204, done.text
    assert done.headers["Upload-Offset"] == str(len(data))


def _upload_rows(media: MediaWorld) -> int:
    async def count() -> int:
        engine = make_engine(media.live.settings.database_url, null_pool=True)
        try:
            async with make_session_factory(engine)() as session:
                return int(await session.scalar(select(func.count()).select_from(Upload)) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_refused_creation_with_upload_leaves_no_upload(media: MediaWorld) -> None:
    """The client of a refused creation got no upload URL: nothing of it may remain."""
    data = jpeg_bytes(seed=13)
    meta = upload_metadata(data, media.visits["v1"])
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    before = media.stored_objects()
    stream = {**TUS, "Upload-Metadata": meta, "Content-Type": "application/offset+octet-stream"}
    with media.device_client("worker1") as c:
        bad_checksum = c.post(
            "/uploads/",
            headers={**stream, "Upload-Length": str(len(data)), "Upload-Checksum": f"sha256 {wrong}"},
            content=data[:4000],
        )
        over_length = c.post("/uploads/", headers={**stream, "Upload-Length": "4000"}, content=data[:9000])
        liar = c.post(
            "/uploads/",
            headers={
                **stream,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": upload_metadata(b"x", media.visits["v1"]),
            },
            content=data,
        )
    assert bad_checksum.status_code == 460, bad_checksum.text
    assert over_length.status_code == 413, over_length.text
    assert liar.status_code == 460, liar.text
    assert "Location" not in bad_checksum.headers
    assert _upload_rows(media) == 0
    assert media.stored_objects() == before


@_ONE_STORE
def test_wrong_offset_is_409_and_changes_nothing(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=3)
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
        assert tus_patch(c, location, 0, data[:1000]).status_code == 204
        stale = tus_patch(c, location, 0, data[:1000])
        ahead = tus_patch(c, location, 2000, data[2000:3000])
        head = c.head(location, headers=TUS)
    assert stale.status_code == ahead.status_code == 409
    assert stale.json()["code"] == "offset_mismatch"
    assert head.headers["Upload-Offset"] == "1000"


def test_bad_chunk_checksum_is_460_and_discarded(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=4)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
        response = tus_patch(c, location, 0, data[:4000], f"sha256 {wrong}")
        head = c.head(location, headers=TUS)
        unknown = tus_patch(c, location, 0, data[:10], "md5 AAAA")
    assert response.status_code == 460
    assert response.json()["code"] == "checksum_mismatch"
    assert head.headers["Upload-Offset"] == "0"
    assert unknown.status_code == 422


def test_declared_sha256_mismatch_rejected_and_discarded(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=5)
    liar = upload_metadata(jpeg_bytes(seed=6), media.visits["v1"])
    before = media.stored_objects()
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), liar).headers["Location"]
        response = tus_patch(c, location, 0, data)
        head = c.head(location, headers=TUS)
    assert response.status_code == 460
    assert response.json()["code"] == "sha256_mismatch"
    assert head.status_code == 410
    assert media.stored_objects() == before


def test_termination_discards_bytes(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=7, size=(2400, 1800), noise=True)
    before = media.stored_objects()
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
        assert tus_patch(c, location, 0, data[: len(data) // 2]).status_code == 204
        deleted = c.delete(location, headers=TUS)
        head = c.head(location, headers=TUS)
    assert deleted.status_code == 204
    assert head.status_code == 404
    assert media.stored_objects() == before


@_ONE_STORE
def test_only_a_worker_on_a_registered_device_may_upload(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=8)
    meta = upload_metadata(data, media.visits["v1"])
    with media.live.as_user("worker1") as c:  # no device
        no_device = tus_create(c, len(data), meta)
    with media.live.as_user("sup1") as c:
        supervisor = tus_create(c, len(data), meta)
    with media.live.client() as c:
        anonymous = c.post("/uploads/", headers={**TUS, "Upload-Length": "10", "Upload-Metadata": meta})
    with media.device_client("worker2") as c:
        other_worker = tus_create(c, len(data), meta)
    assert no_device.status_code == 403
    assert supervisor.status_code == 403
    assert anonymous.status_code == 401
    assert other_worker.status_code == 403
    assert other_worker.json()["code"] == "visit_not_assigned"


@_ONE_STORE
def test_revoked_device_is_refused_mid_upload(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=9)
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
        assert tus_patch(c, location, 0, data[:1000]).status_code == 204
        device_id = media.devices["worker1"][0]
        with media.live.as_user("worker1") as plain:
            revoked = plain.post(f"/devices/{device_id}/revoke")
        assert revoked.status_code in (200, 204), revoked.text
        refused = tus_patch(c, location, 1000, data[1000:])
    assert refused.status_code == 401


@_ONE_STORE
def test_other_users_cannot_see_an_upload(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=10)
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
    with media.device_client("worker1b") as c:
        assert c.head(location, headers=TUS).status_code == 404
        assert tus_patch(c, location, 0, data).status_code == 404


@_ONE_STORE
def test_metadata_and_headers_are_validated(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=11)
    with media.device_client("worker1") as c:
        no_sha = c.post(
            "/uploads/",
            headers={**TUS, "Upload-Length": "10", "Upload-Metadata": "kind aG91c2Vfb3V0c2lkZQ=="},
        )
        bad_kind = tus_create(c, len(data), upload_metadata(data, media.visits["v1"], kind="selfie"))
        too_big = tus_create(c, 10**10, upload_metadata(data, media.visits["v1"]))
        no_length = c.post("/uploads/", headers={**TUS, "Upload-Metadata": upload_metadata(data, media.visits["v1"])})
        old_version = c.post("/uploads/", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"})
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
        wrong_type = c.patch(
            location, headers={**TUS, "Upload-Offset": "0", "Content-Type": "image/jpeg"}, content=data
        )
        too_long = tus_patch(c, location, 0, data + b"extra")
    assert no_sha.status_code == 422
    assert no_sha.json()["errors"][0]["path"] == "Upload-Metadata.sha256"
    assert bad_kind.status_code == 422
    assert bad_kind.json()["errors"][0]["path"] == "Upload-Metadata.kind"
    assert too_big.status_code == 413
    assert no_length.status_code == 422
    assert old_version.status_code == 412
    assert wrong_type.status_code == 415
    assert too_long.status_code == 413


def test_expired_uploads_are_refused_and_cleaned_up(media: MediaWorld) -> None:
    data = jpeg_bytes(seed=12, size=(2400, 1800), noise=True)
    before = media.stored_objects()
    with media.device_client("worker1") as c:
        location = tus_create(c, len(data), upload_metadata(data, media.visits["v1"])).headers["Location"]
        assert tus_patch(c, location, 0, data[:300_000]).status_code == 204
        assert run_cleanup(media, dt.datetime.now(dt.UTC)) == 0
        removed = run_cleanup(media, dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
        head = c.head(location, headers=TUS)
    assert removed == 1
    assert head.status_code == 404
    assert media.stored_objects() == before


@_ONE_STORE
def test_unauthenticated_head_is_refused(media: MediaWorld) -> None:
    with httpx.Client(base_url=media.live.base_url) as c:
        assert c.head("/uploads/00000000-0000-0000-0000-000000000000", headers=TUS).status_code == 401
