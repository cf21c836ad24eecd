"""The upload state machine under random chunking and random drops (property-based, in process).

Whatever the sizes of the client's PATCHes, the sizes of the pieces the server reads, where the
connection drops and whether the client resumes from a stale offset, the bytes assembled under
the content address are exactly the photo's, the offset never goes backwards, and what arrived
before a drop is kept. Parts are cut small here (1000 bytes) so every photo spans many of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from media.store import LocalStore
from schemas.auth import Role
from schemas.media import PhotoKind
from server.auth.identity import Actor, CurrentUser
from server.auth.models import Device
from server.db.session import make_engine, make_session_factory
from server.errors import Conflict
from server.media import services
from server.media.config import MediaConfig
from server.media.services import ClientGone, MediaContext, UploadMeta
from server.planning.models import Visit
from server.registry.models import Household
from tests.support import World as SeedWorld
from tests.support import make_id_number, seed_world


def _photo() -> bytes:
    im = Image.linear_gradient("L").resize((300, 200)).convert("RGB")
    out = io.BytesIO()
    im.save(out, "JPEG", quality=95)
    return out.getvalue()


PHOTO = _photo()


@dataclass
class World:
    database_url: str
    media: Path
    user: CurrentUser
    visit_id: uuid.UUID


async def _setup(url: str, world: SeedWorld) -> tuple[CurrentUser, uuid.UUID]:
    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            area = world.area_ids["T1-a"]
            household = Household(
                code="HH-P",
                head_name="户主",
                head_id_number=make_id_number("520111", dt.date(1970, 1, 1), 7),
                area_id=area,
                residence="rural",
                category="general",
            )
            session.add(household)
            await session.flush()
            user_id = world.user_ids["worker1"]
            visit = Visit(
                household_id=household.id,
                area_id=area,
                reason="scheduled",
                due_on=dt.date(2026, 12, 1),
                state="assigned",
                assigned_to=user_id,
            )
            device = Device(id=uuid.uuid4(), user_id=user_id, name="tablet", secret_hash="x")
            session.add_all([visit, device])
            await session.flush()
            user = CurrentUser(
                id=user_id,
                username="worker1",
                role=Role.worker,
                area_ids=(area,),
                visible_area_ids=frozenset({area}),
                device_id=device.id,
            )
            return user, visit.id
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("upload-state")
    url = f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"
    user, visit_id = asyncio.run(_setup(url, seed_world(url)))
    return World(database_url=url, media=folder / "media", user=user, visit_id=visit_id)


async def _body(data: bytes, pieces: list[int], drop_after: int | None) -> AsyncIterator[bytes]:
    """``data`` in pieces of the given sizes (cycled); the connection drops after ``drop_after``."""
    sent, i = 0, 0
    while sent < len(data):
        size = pieces[i % len(pieces)]
        i += 1
        if drop_after is not None and sent + size > drop_after:
            if drop_after > sent:
                yield data[sent:drop_after]
            raise ClientGone
        yield data[sent : sent + size]
        sent += size


async def _scenario(world: World, requests: list[tuple[int, list[int], int | None, bool]]) -> None:
    engine = make_engine(world.database_url, null_pool=True)
    store = LocalStore(world.media, signing_secret="s" * 32)
    ctx = MediaContext(make_session_factory(engine), store, MediaConfig(local_part_size=1000))
    user, actor = world.user, Actor.of(world.user)
    sha = hashlib.sha256(PHOTO).hexdigest()
    meta = UploadMeta(sha256=sha, visit_id=world.visit_id, kind=PhotoKind.document, filename=None, raw="")
    try:
        upload = await services.create_upload(ctx, user, actor, meta, len(PHOTO))
        known = 0  # what the client believes the server has (it may be stale)
        highest = 0
        for length, pieces, drop_after, stale in [*requests, *[(len(PHOTO), [4096], None, False)] * 2]:
            status = await services.upload_status(ctx, user, actor, upload.id)
            if status.state == "done":
                break
            assert status.offset >= highest, "the offset went backwards"
            highest = status.offset
            offset = known if stale else status.offset
            body = _body(PHOTO[offset : offset + length], pieces, drop_after)
            try:
                result = await services.receive_bytes(ctx, user, actor, upload.id, offset, body)
                known = result.offset if result.state != "done" else len(PHOTO)
            except ClientGone:
                after = await services.upload_status(ctx, user, actor, upload.id)
                if drop_after is not None and not stale:
                    # What arrived before the drop was kept.
                    assert after.offset == min(offset + drop_after, offset + length, len(PHOTO))
            except Conflict:
                assert stale
        final = await services.upload_status(ctx, user, actor, upload.id)
        assert final.state == "done"
        assert store.get(sha) == PHOTO
        assert not any((world.media / "staging").iterdir())
    finally:
        store.delete(sha)
        await engine.dispose()


request_strategy = st.tuples(
    st.integers(min_value=1, max_value=len(PHOTO)),  # bytes the client puts in this PATCH
    st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=4),  # pieces the server reads
    st.one_of(st.none(), st.integers(min_value=0, max_value=len(PHOTO))),  # drop after this many bytes
    st.booleans(),  # the client resumes from the offset it last knew, not the server's
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(request_strategy, min_size=1, max_size=8))
def test_any_chunking_and_drops_assemble_the_exact_photo(
    world: World, requests: list[tuple[int, list[int], int | None, bool]]
) -> None:
    asyncio.run(_scenario(world, requests))
