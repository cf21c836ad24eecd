"""Uploads racing each other, as the fault proxy's duplicated requests and retries make them:
the same photo completed twice at once, and a request writing to an upload whose parts another
request already took. Found as 500s in the 500-device simulation; each must be a clean answer."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import shutil
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select

from server.db.session import make_engine, make_session_factory
from server.media.models import Upload
from tests.faults.test_crash_recovery import _jpeg, _own_visit
from tests.support import LiveServer


def _meta(sha: str, visit_id: str) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("sha256", sha), ("visit_id", visit_id), ("kind", "house_outside"))
    )


def test_the_same_photo_completed_by_many_uploads_at_once(live: LiveServer) -> None:
    visit_id = _own_visit(live)
    token = live.token("worker1", live.register_device("worker1", "race-tablet"))
    photo = _jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    headers = {
        "Authorization": f"Bearer {token}",
        "Tus-Resumable": "1.0.0",
        "Upload-Length": str(len(photo)),
        "Upload-Metadata": _meta(sha, visit_id),
        "Content-Type": "application/offset+octet-stream",
    }

    def upload(_: int) -> int:
        with httpx.Client(base_url=live.base_url, timeout=60) as c:
            return c.post("/uploads/", headers=headers, content=photo).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(upload, range(6)))
    assert all(s < 500 for s in statuses), statuses
    with live.as_user("sup1") as sup:
        photos = sup.get(f"/visits/{visit_id}/photos").json()["photos"]
    assert [(p["sha256"], p["status"]) for p in photos] == [(sha, "stored")]


async def _store_upload_id(url: str, upload_id: str) -> str:
    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session:
            found = await session.scalar(select(Upload.store_upload_id).where(Upload.id == uuid.UUID(upload_id)))
            assert found is not None
            return str(found)
    finally:
        await engine.dispose()


def test_writing_to_an_upload_whose_parts_are_gone_is_a_409(live: LiveServer) -> None:
    visit_id = _own_visit(live)
    token = live.token("worker1", live.register_device("worker1", "gone-tablet"))
    photo = _jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    base = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    with live.client(headers=base) as c:
        created = c.post(
            "/uploads/", headers={"Upload-Length": str(len(photo)), "Upload-Metadata": _meta(sha, visit_id)}
        )
        assert created.status_code == 201, created.text
        location = "/uploads/" + created.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        store_id = asyncio.run(_store_upload_id(live.settings.database_url, location.rsplit("/", 1)[-1]))
        parts = Path(live.settings.media_url.removeprefix("file://")) / "multipart" / store_id
        assert parts.is_dir()
        shutil.rmtree(parts)  # what a concurrent completion (or a discard) leaves behind
        patched = c.patch(
            location,
            content=photo,
            headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
    assert patched.status_code == 409, patched.text
    assert patched.json()["code"] == "upload_taken_over"
