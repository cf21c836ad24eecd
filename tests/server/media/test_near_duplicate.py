"""The reused-photo lookup through the band index gives exactly what comparing with every stored
photo gives, on both engines: on a random set of hashes planted at every distance around the
limit (the boundary included), for photos of the household itself, of rejected photos and of
hashes too plain to compare."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid

from sqlalchemy import select

from media.images import hamming, phash_bands
from server.db.session import make_engine, make_session_factory
from server.media.config import MediaConfig
from server.media.models import Photo
from server.media.services import _informative, _signed, near_duplicate
from server.planning.models import Visit
from server.registry.models import Household
from tests.support import World, make_id_number, seed_world


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), bits):
        value ^= 1 << bit
    return value


Row = tuple[uuid.UUID, uuid.UUID, uuid.UUID, int, str]


def _full_scan(
    rows: list[Row], household: uuid.UUID, phash: int, limit: int
) -> tuple[int, uuid.UUID, uuid.UUID] | None:
    """What the lookup must answer: every other household's stored photo compared."""
    if not _informative(phash):
        return None
    found = [
        (hamming(phash, h), pid, vid)
        for pid, vid, hid, h, status in rows
        if status == "stored" and hid != household and _informative(h) and hamming(phash, h) <= limit
    ]
    return min(found, key=lambda f: (f[0], str(f[1])), default=None)


async def _scenario(url: str, world: World) -> None:
    rng = random.Random(2026)
    engine = make_engine(url, null_pool=True)
    config = MediaConfig()
    try:
        async with make_session_factory(engine)() as session, session.begin():
            homes = []
            for n in range(4):
                household = Household(
                    code=f"ND-{n}",
                    head_name=f"户主{n}",
                    head_id_number=make_id_number("520111", dt.date(1960, 2, n + 1), n),
                    area_id=world.area_ids["T1-a"],
                    residence="rural",
                    category="general",
                )
                session.add(household)
                await session.flush()
                visit = Visit(
                    household_id=household.id,
                    area_id=world.area_ids["T1-a"],
                    reason="scheduled",
                    due_on=dt.date(2026, 12, 1),
                    state="assigned",
                )
                session.add(visit)
                await session.flush()
                homes.append((household.id, visit.id))
            queries = [rng.getrandbits(64) for _ in range(12)]
            rows: list[Row] = []
            for q in queries:
                # around each query: hashes at every distance from 0 to 12, in random households
                for distance in range(13):
                    for _ in range(2):
                        household, visit = rng.choice(homes)
                        h = _flip(q, distance, rng)
                        rows.append((uuid.uuid4(), visit, household, h, rng.choice(["stored"] * 4 + ["rejected"])))
            rows += [(uuid.uuid4(), v, hh, rng.getrandbits(64), "stored") for hh, v in rng.choices(homes, k=300)]
            rows.append((uuid.uuid4(), homes[0][1], homes[0][0], 0, "stored"))  # too plain to compare
            for pid, vid, hid, h, status in rows:
                b0, b1, b2 = phash_bands(h)
                session.add(
                    Photo(
                        id=pid,
                        visit_id=vid,
                        household_id=hid,
                        sha256=f"{pid.hex}{pid.hex}",
                        kind="house_outside",
                        status=status,
                        phash=_signed(h),
                        phash_b0=b0,
                        phash_b1=b1,
                        phash_b2=b2,
                    )
                )
            await session.flush()
            stored = [
                (r.id, r.visit_id, r.household_id, r.phash & 0xFFFF_FFFF_FFFF_FFFF, r.status)
                for r in (await session.scalars(select(Photo))).all()
            ]
            checked = found = 0
            for limit in (4, 7, 8, 11, 12, 16):
                config = MediaConfig(duplicate_max_distance=limit)
                for q in [*queries, 0]:
                    for household, _visit in homes:
                        expected = _full_scan(stored, household, q, limit)
                        assert await near_duplicate(session, config, household, q) == expected, (limit, q)
                        checked += 1
                        found += expected is not None
                        if expected is not None:
                            assert expected[0] <= limit
            assert checked == 6 * 13 * 4
            assert found > checked // 2, "the planted neighbours are found"
    finally:
        await engine.dispose()


def test_the_band_index_answers_as_the_full_scan(database_url: str) -> None:
    world = seed_world(database_url)
    asyncio.run(_scenario(database_url, world))
