"""The proof: a real tus client (tuspy) uploads a 6 MB photo through a connection cut several times
mid-transfer and resumes, without resending what arrived, to a byte-identical verified object —
on both stores (and both databases). Also: a second app worker continues an upload."""

from __future__ import annotations

import hashlib
import io
import itertools
import urllib.parse
from typing import Any

import httpx
import pytest
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from tests.server.media.conftest import TUS, MediaWorld, jpeg_bytes, tus_create, tus_patch, upload_metadata
from tests.server.media.cutproxy import cut_proxy
from tests.support import start_live_server

_PHOTO: dict[str, bytes] = {}


def big_photo() -> bytes:
    """A 12 MP JPEG of sensor-like noise, a little over 6 MB (so S3 sees two multipart parts)."""
    if "photo" not in _PHOTO:
        _PHOTO["photo"] = jpeg_bytes(size=(3000, 2250), noise=True, quality=90)
    return _PHOTO["photo"]


class Sha256Uploader(Uploader):
    """tuspy's uploader with sha256 chunk checksums (its default is sha1, also accepted)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def _stored_photo(media: MediaWorld, visit: str = "v1") -> dict[str, Any]:
    with media.live.as_user("worker1") as c:
        listing = c.get(f"/visits/{media.visits[visit]}/photos").json()
    [photo] = listing["photos"]
    assert photo["status"] == "stored", photo
    assert listing["evidence_pending"] is False
    result: dict[str, Any] = photo
    return result


def _download(url: str) -> bytes:
    with httpx.Client(timeout=30) as c:
        response = c.get(url)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("checksum", ["none", "sha256", "sha1"])
def test_tuspy_resumes_through_cut_connections(media: MediaWorld, checksum: str) -> None:
    data = big_photo()
    assert len(data) > 6_000_000
    token = media.device_token("worker1")
    port = urllib.parse.urlparse(media.live.base_url).port
    assert port is not None
    cuts = [1_300_000, 2_900_000, 4_600_000]
    with cut_proxy(port, cuts) as proxy:
        client = TusClient(f"{proxy.url}/uploads/", headers={"Authorization": f"Bearer {token}"})
        uploader_class = Sha256Uploader if checksum == "sha256" else Uploader
        uploader = uploader_class(
            file_stream=io.BytesIO(data),
            client=client,
            # One PATCH for the whole file without checksums (what arrived before a cut is kept);
            # 512 KiB chunks with checksums (a cut chunk cannot be checked, so it is resent).
            chunk_size=len(data) if checksum == "none" else 512 * 1024,
            metadata={
                "sha256": hashlib.sha256(data).hexdigest(),
                "visit_id": str(media.visits["v1"]),
                "kind": "house_outside",
                "filename": "house.jpg",
            },
            retries=10,
            retry_delay=0,
            upload_checksum=checksum != "none",
        )
        uploader.upload()
    assert proxy.cuts == len(cuts)
    # Resumed, never restarted: no PATCH goes back to an offset before the one sent before it.
    # (A client that asks for the offset before the server has begun saving what arrived ahead of
    # the cut may send one PATCH from the older offset; the server refuses it with 409 — a 409 the
    # proxy may cut before it is seen — nothing is stored twice, and the next one starts from the
    # right place.)
    offsets = proxy.patch_offsets
    assert offsets[0] == 0
    assert all(b >= a for a, b in itertools.pairwise(offsets))
    assert len(set(offsets)) >= len(cuts)  # resumed from at least two points inside the file
    # Bytes sent: the file, what was in flight at each cut, and at most one stale PATCH's body
    # (sent before its 409 arrived; the server never stored it).
    assert proxy.patch_bytes < 3 * len(data)
    photo = _stored_photo(media)
    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    assert photo["byte_size"] == len(data)
    original = _download(photo["links"]["original"])
    assert original == data
    review = _download(photo["links"]["review"])
    thumb = _download(photo["links"]["thumb"])
    assert review[:3] == thumb[:3] == b"\xff\xd8\xff"
    assert len(thumb) < len(review) < len(data)


def test_second_worker_continues_an_upload(media: MediaWorld, database_url: str) -> None:
    """Upload state lives in the database: another app process picks up where the first stopped."""
    data = big_photo()
    overrides: dict[str, Any] = {}
    if media.backend == "s3":
        settings = media.live.settings
        overrides = {
            "s3_endpoint_url": settings.s3_endpoint_url,
            "s3_access_key": settings.s3_access_key,
            "s3_secret_key": settings.s3_secret_key,
        }
    with start_live_server(database_url, media.live.settings.media_url, media.live.world, **overrides) as second:
        token = media.device_token("worker1")
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=media.live.base_url, headers=auth, timeout=60) as first_client:
            created = tus_create(first_client, len(data), upload_metadata(data, media.visits["v1"]))
            path = urllib.parse.urlparse(created.headers["Location"]).path
            assert tus_patch(first_client, path, 0, data[:5_500_000]).status_code == 204
        with httpx.Client(base_url=second.base_url, headers=auth, timeout=60) as second_client:
            offset = int(second_client.head(path, headers=TUS).headers["Upload-Offset"])
            assert offset == 5_500_000
            done = tus_patch(second_client, path, offset, data[offset:])
        assert done.status_code == 204, done.text
    photo = _stored_photo(media)
    assert _download(photo["links"]["original"]) == data
