"""The demo county: deterministic, realistic, loaded once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from schemas.registry import IncomeKind, id_number_problem
from server.auth.models import User
from server.cli import main
from server.db.migrate import upgrade
from server.db.session import make_engine, make_session_factory
from server.demo import COUNTY_CODE, PASSWORDS, STANDARDS, build_county
from server.registry.models import Area, Household, IncomeItem, Member
from server.settings import get_settings
from tests.support import create_postgres_database, drop_postgres_database

COUNTED = {k.value for k in list(IncomeKind)[:9]}


def test_same_seed_same_county_other_seed_other_county() -> None:
    assert build_county(5, 300) == build_county(5, 300)
    assert build_county(5, 300).households != build_county(6, 300).households


def test_the_county_looks_like_a_county() -> None:
    county = build_county()
    levels = Counter((a["level"], a["residence"]) for a in county.areas)
    assert levels[("county", None)] == 1
    assert levels[("township", "urban")] + levels[("township", "rural")] == 20
    assert levels[("community", "urban")] == 12
    assert levels[("community", "rural")] > 100
    assert 4500 <= len(county.households) <= 5500
    categories = Counter(h["category"] for h in county.households)
    assert 0.04 < categories["three_no"] / len(county.households) < 0.12
    assert categories["general"] > categories["extreme_hardship"] > categories["three_no"]
    assert all(id_number_problem(m["id_number"]) is None for m in county.members)
    assert len({m["id_number"] for m in county.members}) == len(county.members)
    roles = Counter(u["role"] for u in county.users)
    assert roles == Counter({"admin": 1, "approver": 1, "auditor": 1, "supervisor": 20, "worker": roles["worker"]})
    assert 40 <= roles["worker"] <= 60
    assert set(PASSWORDS) == set(roles)


def test_benefit_amounts_follow_the_standards() -> None:
    county = build_county(11, 800)
    members = Counter(m["household_id"] for m in county.members)
    counted = Counter[Any]()
    for item in county.incomes:
        if item["kind"] in COUNTED:
            counted[item["household_id"]] += item["monthly_amount"]
    for h in county.households:
        standard = STANDARDS[h["residence"]]
        size = members[h["id"]]
        assert counted[h["id"]] // size < standard  # every household is below the standard
        if h["status"] == "cancelled":
            assert h["benefit_amount"] == 0
        elif h["category"] == "three_no":
            assert h["benefit_amount"] == standard * size
        else:
            gap = standard * size - counted[h["id"]]  # on the household's totals (DOMAIN.md)
            assert h["benefit_amount"] == max(-(-gap // 100) * 100, 1000)
        assert h["benefit_amount"] % 100 == 0  # whole yuan


@pytest.fixture
def demo_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    upgrade(database_url)
    monkeypatch.setenv("RECHECK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _snapshot(url: str) -> dict[str, list[Any]]:
    async def go() -> dict[str, list[Any]]:
        engine = make_engine(url, null_pool=True)
        try:
            async with make_session_factory(engine)() as session:
                return {
                    "areas": (await session.execute(select(Area.code, Area.name, Area.path).order_by(Area.code))).all(),
                    "households": (
                        await session.execute(
                            select(
                                Household.id,
                                Household.code,
                                Household.head_id_number,
                                Household.benefit_amount,
                                Household.lat,
                                Household.lon,
                                Household.category,
                            ).order_by(Household.code)
                        )
                    ).all(),
                    "members": (
                        await session.execute(select(Member.id_number, Member.name).order_by(Member.id_number))
                    ).all(),
                    "incomes": (
                        await session.execute(select(IncomeItem.id, IncomeItem.monthly_amount).order_by(IncomeItem.id))
                    ).all(),
                    "users": (await session.execute(select(User.username, User.role).order_by(User.username))).all(),
                }
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_demo_command_once_and_deterministic(demo_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--once", "--households", "400"]) == 0
    assert f"({COUNTY_CODE}) loaded" in capsys.readouterr().out
    first = _snapshot(demo_env)
    assert len(first["households"]) > 300
    assert ("sup01", "supervisor") in first["users"]
    assert main(["demo", "--once", "--households", "400"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["demo", "--households", "400"]) == 1
    assert _snapshot(demo_env) == first

    other = "sqlite" if demo_env.startswith("sqlite") else "postgres"
    if other == "sqlite":
        second_url = demo_env.replace("recheck.db", "second.db")
        name = None
    else:
        name, second_url = create_postgres_database()
    try:
        upgrade(second_url)
        get_settings.cache_clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RECHECK_DATABASE_URL", second_url)
            assert main(["demo", "--households", "400"]) == 0
        second = _snapshot(second_url)
    finally:
        if name:
            drop_postgres_database(name)
    assert second == first  # same seed, another database: the same county


def test_demo_is_refused_in_production(demo_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECHECK_ENV", "production")
    monkeypatch.setenv("RECHECK_SECRET_KEY", "y" * 40)
    get_settings.cache_clear()
    assert main(["demo", "--once"]) == 1
