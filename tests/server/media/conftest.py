"""A live server with media on either backend, seeded households and visits, and tus helpers."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import random
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from PIL import Image, ImageDraw

from server.db.session import make_engine, make_session_factory
from server.planning.models import Visit
from server.registry.models import Household
from tests.media.conftest import moto_endpoint
from tests.support import LiveServer, make_id_number, seed_world, start_live_server

__all__ = [
    "MediaWorld",
    "jpeg_bytes",
    "moto_endpoint",
    "run_cleanup",
    "scene",
    "tus_create",
    "tus_patch",
    "upload_metadata",
]


@dataclass
class MediaWorld:
    """The live server plus seeded visits: ``visits[name]`` and the households they belong to.

    Visits: ``v1`` (household h1, worker1), ``v1_again`` (h1 again, worker1), ``v2`` (h2,
    worker1b; same community as h1), ``v3`` (h3, worker2, in township two).
    """

    live: LiveServer
    backend: str
    visits: dict[str, uuid.UUID] = field(default_factory=dict)
    households: dict[str, uuid.UUID] = field(default_factory=dict)
    devices: dict[str, tuple[str, str]] = field(default_factory=dict)
    s3: Any = None
    bucket: str | None = None

    def device_client(self, username: str, **kwargs: Any) -> httpx.Client:
        """A client authenticated as ``username`` on a registered device of theirs."""
        if username not in self.devices:
            self.devices[username] = self.live.register_device(username, f"{username}-tablet")
        return self.live.as_user(username, self.devices[username])

    def device_token(self, username: str) -> str:
        if username not in self.devices:
            self.devices[username] = self.live.register_device(username, f"{username}-tablet")
        return self.live.token(username, self.devices[username])

    def reference(self, visit_id: uuid.UUID, refs: list[tuple[str, str]]) -> None:
        """Register photo references for a visit, as the sync engine does when a capture arrives."""
        from schemas.media import PhotoKind, PhotoRef
        from server.media.services import reference_photos

        async def run() -> None:
            engine = make_engine(self.live.settings.database_url, null_pool=True)
            try:
                async with make_session_factory(engine)() as session, session.begin():
                    await reference_photos(session, visit_id, [PhotoRef(sha256=s, kind=PhotoKind(k)) for s, k in refs])
            finally:
                await engine.dispose()

        asyncio.run(run())

    def stored_objects(self) -> set[str]:
        """Every object, staging file and pending multipart upload the media store holds."""
        if self.backend == "s3":
            found = {o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])}
            uploads = self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
            return found | {f"multipart:{u['Key']}" for u in uploads}
        root = self.live.settings.media_url.removeprefix("file://")
        from pathlib import Path

        return {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file()}


async def _seed_visits(url: str, world: MediaWorld) -> None:
    engine = make_engine(url, null_pool=True)
    area_ids = world.live.world.area_ids
    user_ids = world.live.world.user_ids
    try:
        async with make_session_factory(engine)() as session, session.begin():
            for n, (name, area) in enumerate([("h1", "T1-a"), ("h2", "T1-a"), ("h3", "T2-a")], start=1):
                household = Household(
                    code=f"HH-{n}",
                    head_name=f"户主{n}",
                    head_id_number=make_id_number("520111", dt.date(1960, 1, n), n),
                    area_id=area_ids[area],
                    residence="rural",
                    category="general",
                )
                session.add(household)
                await session.flush()
                world.households[name] = household.id
            for name, household_name, worker, area in [
                ("v1", "h1", "worker1", "T1-a"),
                ("v1_again", "h1", "worker1", "T1-a"),
                ("v2", "h2", "worker1b", "T1-a"),
                ("v3", "h3", "worker2", "T2-a"),
            ]:
                visit = Visit(
                    household_id=world.households[household_name],
                    area_id=area_ids[area],
                    reason="scheduled" if name != "v1_again" else "complaint",
                    due_on=dt.date(2026, 12, 1),
                    state="assigned",
                    assigned_to=user_ids[worker],
                )
                session.add(visit)
                await session.flush()
                world.visits[name] = visit.id
    finally:
        await engine.dispose()


@pytest.fixture(params=["local", "s3"])
def media_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def media(
    database_url: str,
    media_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[MediaWorld]:
    """A live app on ``database_url`` with media in a folder or in a moto S3 bucket."""
    world = seed_world(database_url)
    overrides: dict[str, Any] = {}
    s3 = bucket = None
    if media_backend == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = f"media-{secrets.token_hex(6)}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=bucket)
        media_url = f"s3://{bucket}"
        overrides = {"s3_endpoint_url": endpoint, "s3_access_key": "testing", "s3_secret_key": "testing"}
    else:
        media_url = f"file://{tmp_path_factory.mktemp('media')}"
    with start_live_server(database_url, media_url, world, **overrides) as live:
        media_world = MediaWorld(live=live, backend=media_backend, s3=s3, bucket=bucket)
        asyncio.run(_seed_visits(database_url, media_world))
        yield media_world
    if s3 is not None:
        s3.close()


def jpeg_bytes(
    size: tuple[int, int] = (1200, 900), seed: int = 0, quality: int = 90, noise: bool = False, **exif: Any
) -> bytes:
    """A JPEG photo (coloured blocks, or sensor-like noise for big files)."""
    if noise:
        im = Image.merge("RGB", [Image.effect_noise(size, 80 + 10 * i) for i in range(3)])
    else:
        im = Image.new("RGB", size, ((seed * 53) % 256, 90, 160))
        for i in range(8):
            box = ((seed * 31 + i * 97) % size[0], (i * 71) % size[1])
            im.paste(((i * 40 + seed * 17) % 256, (i * 90) % 256, (seed * 7) % 256), (*box, box[0] + 200, box[1] + 150))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def scene(seed: int, size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A photo-like JPEG with real structure (gradients, shapes): distinct seeds hash far apart."""
    rnd = random.Random(seed)
    grad = Image.linear_gradient("L").rotate(rnd.randrange(360)).resize(size)
    radial = Image.radial_gradient("L").resize(size)
    im = Image.merge("RGB", (grad, radial, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y, r = rnd.randrange(size[0]), rnd.randrange(size[1]), rnd.randrange(60, 300)
        draw.ellipse((x, y, x + r, y + r), fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=88)
    return out.getvalue()


def upload_metadata(data: bytes, visit_id: uuid.UUID, kind: str = "house_outside", **extra: str) -> str:
    values = {"sha256": hashlib.sha256(data).hexdigest(), "visit_id": str(visit_id), "kind": kind, **extra}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


TUS = {"Tus-Resumable": "1.0.0"}


def tus_create(client: httpx.Client, length: int, metadata: str, body: bytes | None = None) -> httpx.Response:
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata}
    if body is not None:
        headers["Content-Type"] = "application/offset+octet-stream"
    return client.post("/uploads/", headers=headers, content=body or b"")


def tus_patch(
    client: httpx.Client, location: str, offset: int, body: bytes, checksum: str | None = None
) -> httpx.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    if checksum:
        headers["Upload-Checksum"] = checksum
    return client.patch(location, headers=headers, content=body)


def run_cleanup(media: MediaWorld, now: dt.datetime) -> int:
    """Run the expired-upload sweep against the live server's database and store, as of ``now``."""
    from server.media.config import MediaConfig, open_media_store
    from server.media.services import MediaContext, cleanup_expired_uploads

    async def sweep() -> int:
        engine = make_engine(media.live.settings.database_url, null_pool=True)
        config = MediaConfig()
        store = open_media_store(media.live.settings, config)
        try:
            return await cleanup_expired_uploads(MediaContext(make_session_factory(engine), store, config), now)
        finally:
            store.close()
            await engine.dispose()

    return asyncio.run(sweep())
