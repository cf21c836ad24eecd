"""The hostile corpus over HTTP: each file is refused with a machine-readable reason and leaves no
object behind, in a folder or in S3."""

from __future__ import annotations

import hashlib
import io

import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusUploadFailed

from tests.media.test_images import HOSTILE
from tests.server.media.conftest import TUS, MediaWorld, tus_create, tus_patch, upload_metadata


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hostile_files_rejected_cleanly(media: MediaWorld) -> None:
    before = media.stored_objects()
    outcomes: dict[str, tuple[int, str]] = {}
    with media.device_client("worker1") as c:
        for name, (data, _reason) in HOSTILE.items():
            meta = upload_metadata(data, media.visits["v1"], kind="document", filename="photo.jpg")
            created = tus_create(c, len(data), meta)
            if created.status_code != 201:
                outcomes[name] = (created.status_code, created.json()["errors"][0]["reason"])
                continue
            location = created.headers["Location"]
            response = tus_patch(c, location, 0, data)
            body = response.json()
            outcomes[name] = (response.status_code, body["errors"][0]["reason"])
            assert body["code"] == "image_rejected", body
            assert c.head(location, headers=TUS).status_code == 410
    with media.live.as_user("worker1") as c:
        listing = c.get(f"/visits/{media.visits['v1']}/photos").json()
    expected = {name: (422, reason) for name, (_data, reason) in HOSTILE.items()}
    assert outcomes == expected
    assert media.stored_objects() == before
    assert listing.get("photos", []) == []  # empty lists are omitted on the wire


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rejected_reference_stays_evidence_pending(media: MediaWorld) -> None:
    """A referenced photo whose upload fails the pipeline is marked rejected: still missing."""
    data, _reason = HOSTILE["zip named .jpg"]
    sha = hashlib.sha256(data).hexdigest()
    media.reference(media.visits["v1"], [(sha, "document")])
    client = TusClient(
        f"{media.live.base_url}/uploads/", headers={"Authorization": f"Bearer {media.device_token('worker1')}"}
    )
    uploader = client.uploader(
        file_stream=io.BytesIO(data),
        metadata={"sha256": sha, "visit_id": str(media.visits["v1"]), "kind": "document", "filename": "scan.jpg"},
    )
    with pytest.raises(TusUploadFailed) as failed:
        uploader.upload()
    assert failed.value.status_code == 422
    with media.live.as_user("worker1") as c:
        listing = c.get(f"/visits/{media.visits['v1']}/photos").json()
    assert listing["evidence_pending"] is True
    assert listing["missing"] == [sha]
    [photo] = listing["photos"]
    assert (photo["status"], photo["reject_reason"]) == ("rejected", "unsupported_format")
    assert "links" not in photo
