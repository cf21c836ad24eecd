"""``recheck demo``: a deterministic, realistic demo county for development and ``make run``.

青溪县 (Qingxi county, code 520199): 20 townships — 4 urban sub-district offices (街道) with 12
urban communities, and 16 rural towns with their villages — about 5,000 dibao households with
members, monthly incomes, benefit amounts consistent with the demo standards (urban 720.00,
rural 560.00 yuan per person per month) and GPS points clustered around each village; and
users for every role (passwords in ``docs/demo.md``).

Everything comes from one :class:`random.Random` seeded with ``--seed``: the same seed gives the
same areas, households, people, IDs, amounts and points. Building (:func:`build_county`) is
pure; :func:`load_demo` writes it with bulk inserts. Other areas extend the demo by appending
a step to :data:`STEPS` (an async function receiving the session, the county and the random
generator, run after the registry is written).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.registry import IncomeKind
from server.audit.services import record
from server.auth.identity import Actor
from server.auth.models import User, UserArea
from server.auth.secrets import hash_password
from server.registry.models import Area, Household, IncomeItem, Member
from server.settings import Settings

__all__ = [
    "COUNTY_CODE",
    "DEMO_TODAY",
    "PASSWORDS",
    "STANDARDS",
    "STEPS",
    "DemoCounty",
    "build_county",
    "demo_args",
    "demo_exists",
    "load_demo",
    "run_demo",
]

COUNTY_CODE = "520199"
COUNTY_NAME = "青溪县"
#: The demo's "today": recheck and approval dates are placed relative to it (deterministic data).
DEMO_TODAY = dt.date(2026, 12, 1)
#: Demo standards (fen per person per month), from DOMAIN.md.
STANDARDS = {"urban": 720_00, "rural": 560_00}
#: One documented password per role (docs/demo.md). Development data only.
PASSWORDS = {
    "admin": "demo-admin-2026",
    "approver": "demo-approver-2026",
    "auditor": "demo-auditor-2026",
    "supervisor": "demo-supervisor-2026",
    "worker": "demo-worker-2026",
}
_CENTRE = (26.45, 106.85)
_DISREGARDED = {
    IncomeKind.veteran_preferential,
    IncomeKind.family_planning_reward,
    IncomeKind.scholarship,
    IncomeKind.bravery_reward,
    IncomeKind.social_assistance,
    IncomeKind.resident_basic_pension,
}

_URBAN_OFFICES = ["城关街道", "东城街道", "西城街道", "南湖街道"]
_COMMUNITIES = [
    ["文昌社区", "中山社区", "北门社区"],
    ["东风社区", "新桥社区", "东山社区"],
    ["西湖社区", "育才社区", "西关社区"],
    ["南湖社区", "滨江社区", "锦绣社区"],
]
_TOWNS = [
    "青山镇",
    "白岩镇",
    "龙场镇",
    "石板镇",
    "花溪镇",
    "马场镇",
    "高坡乡",
    "云雾镇",
    "羊昌镇",
    "麦架镇",
    "黔陶乡",
    "孟关乡",
    "洛湾镇",
    "新堡乡",
    "久安乡",
    "燕楼镇",
]
_VILLAGE_WORDS = "大小上下新老东西南北中前后和平安丰茂兴旺红光团结湾坝寨坪沟田冲坡桥"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢"
    "姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤"
)
_GIVEN = "国建军明华平德志文秀英兰芳玉珍桂凤霞红梅丽敏静燕娟海涛强伟勇斌杰刚成林春福贵荣昌永兴家小芬琴云莉婷"
_EMPLOYMENT = ["务农", "零工", "环卫工", "保洁员", "餐馆帮工", "建筑工", "快递员", "保安", "个体摊贩", "外出务工"]
_BANKS = ["农村信用社", "中国农业银行", "中国邮政储蓄银行", "贵州银行"]


@dataclass
class DemoCounty:
    """The demo county as rows, ready for bulk inserts (areas carry codes, not ids)."""

    seed: int
    areas: list[dict[str, Any]] = field(default_factory=list)
    """``code, name, level, parent_code, residence, lat, lon`` in parent-before-child order."""
    households: list[dict[str, Any]] = field(default_factory=list)
    """Household rows with ``area_code`` instead of ``area_id``."""
    members: list[dict[str, Any]] = field(default_factory=list)
    incomes: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    """``username, display_name, role, area_codes, home_lat, home_lon, id``."""
    area_ids: dict[str, int] = field(default_factory=dict)
    """Filled by :func:`load_demo`: area code → id."""


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _id_number(region: str, birth: dt.date, male: bool, used: set[str], rng: random.Random) -> str:
    """A valid, unused resident ID (GB 11643): the 17th digit is odd for men."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    while True:
        serial = rng.randrange(0, 500) * 2 + (1 if male else 0)
        body = f"{region}{birth:%Y%m%d}{serial:03d}"
        number = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
        if number not in used:
            used.add(number)
            return number


def _name(rng: random.Random, surname: str | None = None) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else "")
    return (surname or rng.choice(_SURNAMES)) + given


def _birth(rng: random.Random, low_age: int, high_age: int) -> dt.date:
    age_days = rng.randint(low_age * 365 + 30, high_age * 365 + 300)
    return DEMO_TODAY - dt.timedelta(days=age_days)


def build_areas(county: DemoCounty, rng: random.Random) -> None:
    """The area tree: county, 4 urban offices with 3 communities each, 16 towns with 6-12 villages."""
    county.areas.append(
        {
            "code": COUNTY_CODE,
            "name": COUNTY_NAME,
            "level": "county",
            "parent_code": None,
            "residence": None,
            "lat": _CENTRE[0],
            "lon": _CENTRE[1],
        }
    )
    for i, office in enumerate(_URBAN_OFFICES):
        code = f"{COUNTY_CODE}{i + 1:03d}"
        lat, lon = _CENTRE[0] + rng.uniform(-0.03, 0.03), _CENTRE[1] + rng.uniform(-0.03, 0.03)
        county.areas.append(
            {"code": code, "name": office, "level": "township", "parent_code": COUNTY_CODE, "residence": "urban"}
            | {"lat": round(lat, 5), "lon": round(lon, 5)}
        )
        for j, community in enumerate(_COMMUNITIES[i]):
            county.areas.append(
                {
                    "code": f"{code}{j + 1:03d}",
                    "name": community,
                    "level": "community",
                    "parent_code": code,
                    "residence": "urban",
                    "lat": round(lat + rng.uniform(-0.008, 0.008), 5),
                    "lon": round(lon + rng.uniform(-0.008, 0.008), 5),
                }
            )
    for i, town in enumerate(_TOWNS):
        code = f"{COUNTY_CODE}{101 + i:03d}"
        angle = 2 * math.pi * i / len(_TOWNS)
        distance = rng.uniform(0.12, 0.3)
        lat, lon = _CENTRE[0] + distance * math.sin(angle), _CENTRE[1] + distance * math.cos(angle)
        county.areas.append(
            {"code": code, "name": town, "level": "township", "parent_code": COUNTY_CODE, "residence": "rural"}
            | {"lat": round(lat, 5), "lon": round(lon, 5)}
        )
        names: set[str] = set()
        for j in range(rng.randint(6, 12)):
            name = ""
            while not name or name in names:
                name = rng.choice(_VILLAGE_WORDS) + rng.choice(_VILLAGE_WORDS) + "村"
            names.add(name)
            county.areas.append(
                {
                    "code": f"{code}{201 + j:03d}",
                    "name": name,
                    "level": "community",
                    "parent_code": code,
                    "residence": "rural",
                    "lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                    "lon": round(lon + rng.uniform(-0.05, 0.05), 5),
                }
            )


def _size(rng: random.Random, category: str) -> int:
    if category == "three_no":
        return 1
    return rng.choices([1, 2, 3, 4, 5, 6], weights=[22, 26, 22, 16, 9, 5])[0]


def _members(
    county: DemoCounty, rng: random.Random, household_id: uuid.UUID, category: str, used: set[str]
) -> list[dict[str, Any]]:
    """The people of one household: a head, maybe a spouse, children, a parent, grandchildren."""
    size = _size(rng, category)
    surname = rng.choice(_SURNAMES)
    head_age = (65, 90) if category == "three_no" else (30, 80)
    plan: list[tuple[str, tuple[int, int], bool | None]] = [("head", head_age, rng.random() < 0.6)]
    if size >= 2:
        plan.append(("spouse", (head_age[0], head_age[1]), not plan[0][2]))
    for _ in range(size - len(plan)):
        if plan[0][1][0] >= 55 and rng.random() < 0.4:
            plan.append(("grandchild", (3, 17), None))
        elif rng.random() < 0.1:
            plan.append(("parent", (70, 92), None))
        else:
            plan.append(("child", (2, 30), None))
    rows = []
    head_birth = _birth(rng, *head_age)
    for relation, (low, high), male in plan:
        male = rng.random() < 0.5 if male is None else male
        if relation == "spouse":
            birth = head_birth + dt.timedelta(days=rng.randint(-1500, 1500))
        elif relation == "child":
            birth = max(_birth(rng, low, high), head_birth + dt.timedelta(days=20 * 365))
        else:
            birth = _birth(rng, low, high)
        birth = min(birth, DEMO_TODAY - dt.timedelta(days=200))
        age = (DEMO_TODAY - birth).days // 365
        region = COUNTY_CODE if rng.random() < 0.85 else rng.choice(["520102", "520111", "520181", "522701"])
        health, grade, labour = "healthy", None, "full"
        risk = {"three_no": 0.8, "extreme_hardship": 0.55, "general": 0.25}[category]
        if rng.random() < risk * (1.5 if age >= 60 else 1.0):
            health = rng.choice(["often_ill", "often_ill", "seriously_ill"])
        if rng.random() < risk * 0.5:
            grade = rng.choice([1, 2, 2, 3, 3, 4])
        if age < 16 or age >= 70 or health == "seriously_ill" or grade in (1, 2):
            labour = "none"
        elif age >= 60 or health == "often_ill" or grade is not None:
            labour = "partial"
        if category == "three_no":
            labour = "none"
        employment = rng.choice(_EMPLOYMENT) if labour != "none" and rng.random() < 0.6 else None
        rows.append(
            {
                "id": _uuid(rng),
                "household_id": household_id,
                "name": _name(rng, surname if relation in ("head", "child", "grandchild") else None),
                "relation": relation,
                "id_number": _id_number(region, birth, male, used, rng),
                "sex": "male" if male else "female",
                "birth_date": birth,
                "health": health,
                "disability_grade": grade,
                "labour_capacity": labour,
                "employment": employment,
            }
        )
    return rows


def _incomes(
    rng: random.Random, household_id: uuid.UUID, members: list[dict[str, Any]], category: str, standard: int
) -> tuple[list[dict[str, Any]], int]:
    """Monthly income items below the standard, and the counted total (fen)."""
    items: list[dict[str, Any]] = []

    def add(member: dict[str, Any], kind: IncomeKind, amount: int) -> None:
        if amount > 0:
            items.append(
                {
                    "id": _uuid(rng),
                    "household_id": household_id,
                    "member_id": member["id"],
                    "kind": kind.value,
                    "monthly_amount": amount,
                    "note": None,
                }
            )

    if category != "three_no":
        budget = int(standard * len(members) * rng.uniform(0.0, 0.85))
        earners = [m for m in members if m["labour_capacity"] != "none"] or members[:1]
        for member in earners:
            if budget <= 0:
                break
            share = min(budget, rng.randint(100_00, 1200_00) // 100 * 100)
            if member["labour_capacity"] == "full" and member["employment"] not in (None, "务农"):
                add(member, IncomeKind.wages, share)
            else:
                add(member, IncomeKind.business, share)
            budget -= share
        if budget > 50_00 and rng.random() < 0.3:
            add(members[0], IncomeKind.support, budget // 100 * 100)
    for member in members:
        if (DEMO_TODAY - member["birth_date"]).days >= 60 * 365:
            add(member, IncomeKind.resident_basic_pension, rng.choice([150_00, 163_00, 178_00]))
        elif member["disability_grade"] and rng.random() < 0.5:
            add(member, IncomeKind.social_assistance, rng.choice([60_00, 90_00]))
    counted = sum(i["monthly_amount"] for i in items if IncomeKind(i["kind"]) not in _DISREGARDED)
    return items, counted


def _benefit(category: str, size: int, counted: int, standard: int) -> int:
    """Gap top-up on the household's totals (standard × members − counted), rounded up to the
    whole yuan, at least 10 yuan; ``three_no`` gets the full standard."""
    if category == "three_no":
        return standard * size
    gap = max(standard * size - counted, 0)
    return max(-(-gap // 100) * 100, 10_00)


def build_households(county: DemoCounty, rng: random.Random, total: int = 5000) -> None:
    """About ``total`` households spread over the communities (fewer) and villages (more)."""
    places = [a for a in county.areas if a["level"] == "community"]
    weights = [7.0 if a["residence"] == "urban" else 1.9 for a in places]
    scale = total / sum(weights)
    used: set[str] = set()
    created = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
    for place, weight in zip(places, weights, strict=True):
        count = max(1, round(weight * scale * rng.uniform(0.8, 1.2)))
        for number in range(count):
            category = rng.choices(["three_no", "extreme_hardship", "general"], weights=[8, 22, 70])[0]
            household_id = _uuid(rng)
            members = _members(county, rng, household_id, category, used)
            standard = STANDARDS[place["residence"]]
            items, counted = _incomes(rng, household_id, members, category, standard)
            status = rng.choices(["active", "suspended", "cancelled"], weights=[95, 2, 3])[0]
            interval = {"three_no": 365, "extreme_hardship": 182, "general": 91}[category]
            last = DEMO_TODAY - dt.timedelta(days=rng.randint(10, int(interval * 1.3)))
            approved = min(last, DEMO_TODAY - dt.timedelta(days=rng.randint(120, 8 * 365)))
            spread = 0.004 if place["residence"] == "urban" else 0.012
            head = members[0]
            village = place["name"]
            address = (
                f"{village}{rng.randint(1, 60)}号{rng.randint(1, 6)}栋{rng.randint(1, 30)}0{rng.randint(1, 4)}室"
                if place["residence"] == "urban"
                else f"{village}{rng.randint(1, 12)}组{rng.randint(1, 80)}号"
            )
            county.households.append(
                {
                    "id": household_id,
                    "code": f"{place['code']}{number + 1:04d}",
                    "head_name": head["name"],
                    "head_id_number": head["id_number"],
                    "address": address,
                    "area_code": place["code"],
                    "residence": place["residence"],
                    "lat": round(rng.gauss(place["lat"], spread), 6),
                    "lon": round(rng.gauss(place["lon"], spread), 6),
                    "category": category,
                    "status": status,
                    "benefit_amount": 0
                    if status == "cancelled"
                    else _benefit(category, len(members), counted, standard),
                    "bank_name": rng.choice(_BANKS),
                    "bank_account": "62" + "".join(rng.choice("0123456789") for _ in range(17)),
                    "phone": "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)),
                    "approved_on": approved,
                    "last_recheck_on": last,
                    "version": 1,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            county.members.extend(members)
            county.incomes.extend(items)


def build_users(county: DemoCounty, rng: random.Random) -> None:
    """admin, approver, auditor (county); a supervisor per township; 2-3 workers per township."""
    for role, title in (("admin", "县系统管理员"), ("approver", "县低保中心审批员"), ("auditor", "县审计员")):
        county.users.append(
            {"username": role, "display_name": title, "role": role, "area_codes": [COUNTY_CODE], "id": _uuid(rng)}
        )
    townships = [a for a in county.areas if a["level"] == "township"]
    for t, township in enumerate(townships, start=1):
        county.users.append(
            {
                "username": f"sup{t:02d}",
                "display_name": f"{township['name']}主任{_name(rng)}",
                "role": "supervisor",
                "area_codes": [township["code"]],
                "id": _uuid(rng),
            }
        )
        for w in range(1, rng.choice([2, 3, 3]) + 1):
            county.users.append(
                {
                    "username": f"w{t:02d}{w}",
                    "display_name": _name(rng),
                    "role": "worker",
                    "area_codes": [township["code"]],
                    "id": _uuid(rng),
                    "home_lat": round(township["lat"] + rng.uniform(-0.01, 0.01), 5),
                    "home_lon": round(township["lon"] + rng.uniform(-0.01, 0.01), 5),
                }
            )


def build_county(seed: int = 2026, households: int = 5000) -> DemoCounty:
    """The whole demo county for ``seed`` (pure: no database, same seed → same rows)."""
    rng = random.Random(seed)
    county = DemoCounty(seed=seed)
    build_areas(county, rng)
    build_households(county, rng, households)
    build_users(county, rng)
    return county


#: Extra demo steps run after the registry and users are written, in order (other areas append).
STEPS: list[Callable[[AsyncSession, DemoCounty, random.Random], Awaitable[None]]] = []


async def demo_exists(session: AsyncSession) -> bool:
    """True once the demo county has been loaded."""
    return await session.scalar(select(Area.id).where(Area.code == COUNTY_CODE)) is not None


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        await session.execute(insert(model), rows[start : start + 5000])


async def load_demo(session: AsyncSession, county: DemoCounty) -> None:
    """Write ``county`` (areas level by level for their ids and paths, the rest in bulk)."""
    paths: dict[str, str] = {}
    for level in ("county", "township", "community"):
        rows = [a for a in county.areas if a["level"] == level]
        areas = [
            Area(
                code=a["code"],
                name=a["name"],
                level=level,
                parent_id=county.area_ids.get(a["parent_code"]) if a["parent_code"] else None,
                residence=a["residence"],
                lat=a["lat"],
                lon=a["lon"],
            )
            for a in rows
        ]
        session.add_all(areas)
        await session.flush()
        for row, area in zip(rows, areas, strict=True):
            area.path = f"{paths[row['parent_code']] if row['parent_code'] else '/'}{area.id}/"
            paths[row["code"]] = area.path
            county.area_ids[row["code"]] = area.id
        await session.flush()
    hashes = {role: hash_password(password) for role, password in PASSWORDS.items()}
    await _insert(
        session,
        User,
        [
            {
                "id": u["id"],
                "username": u["username"],
                "display_name": u["display_name"],
                "role": u["role"],
                "password_hash": hashes[u["role"]],
                "active": True,
                "home_lat": u.get("home_lat"),
                "home_lon": u.get("home_lon"),
            }
            for u in county.users
        ],
    )
    await _insert(
        session,
        UserArea,
        [{"user_id": u["id"], "area_id": county.area_ids[c]} for u in county.users for c in u["area_codes"]],
    )
    households = [
        {k: v for k, v in h.items() if k != "area_code"} | {"area_id": county.area_ids[h["area_code"]]}
        for h in county.households
    ]
    await _insert(session, Household, households)
    await _insert(session, Member, county.members)
    await _insert(session, IncomeItem, county.incomes)
    rng = random.Random(county.seed + 1)
    for step in STEPS:
        await step(session, county, rng)
    record(
        session,
        Actor.system("demo"),
        "create",
        "demo",
        COUNTY_CODE,
        {
            "seed": county.seed,
            "areas": len(county.areas),
            "households": len(county.households),
            "members": len(county.members),
            "users": len(county.users),
        },
    )


# ---------------------------------------------------------------- command line


def demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="do nothing if the demo county is already loaded")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same county)")
    parser.add_argument("--households", type=int, default=5000, help="about this many households")


async def _run(settings: Settings, seed: int, households: int, once: bool) -> str:
    from server.cli import CommandError
    from server.db.session import command_transaction

    async with command_transaction(settings.database_url) as session:
        if await demo_exists(session):
            if once:
                return "demo county already loaded: nothing to do"
            raise CommandError("the demo county is already loaded (use a fresh database, or --once)")
        county = build_county(seed, households)
        names = [u["username"] for u in county.users]
        taken = (await session.scalars(select(User.username).where(User.username.in_(names)))).all()
        if taken:
            raise CommandError(f"user name(s) already taken: {', '.join(sorted(taken))}")
        await load_demo(session, county)
    return (
        f"demo county {COUNTY_NAME} ({COUNTY_CODE}) loaded: {len(county.areas)} areas, "
        f"{len(county.households)} households, {len(county.members)} members, {len(county.users)} users "
        "(passwords: docs/demo.md)"
    )


def run_demo(args: argparse.Namespace, settings: Settings) -> None:
    """``recheck demo [--once] [--seed N]``; refused in production."""
    from server.cli import CommandError

    if settings.env == "production":
        raise CommandError("demo data is for development: refused with RECHECK_ENV=production")
    print(asyncio.run(_run(settings, args.seed, args.households, args.once)))
