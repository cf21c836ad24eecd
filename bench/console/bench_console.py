"""The console's figures on a 100,000-household county, on SQLite and on PostgreSQL.

Seeds a fresh migrated database (households by bulk load, as bench/planning/bench_plan.py does;
a plan for the current quarter by the planning service; a county supervisor and 20 field
workers; one pair's day of 20 visits), serves the app with uvicorn, signs in through the login
form, then times answers on loopback (request sent to last byte read, so an upper bound of the
server's time): the due-visit list (first page, a sorted later page, a filtered page), the
assignment page and its suggested split for 10 pairs, the route page. Then, in Chromium, the
time from navigation to an interactive map of 5,000 households (the suggested split's map).

    .venv/bin/python bench/console/bench_console.py [--households 100000] [--engine sqlite|postgres|both] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "planning"))

from bench_plan import PG_HOST, PG_PORT, _admin, _seed_postgres, _seed_sqlite  # noqa: E402

from schemas.planning import AssignItem  # noqa: E402
from server.auth.bootstrap import add_user  # noqa: E402
from server.auth.identity import Actor  # noqa: E402
from server.auth.services import resolve_user  # noqa: E402
from server.db.base import utcnow  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.db.session import make_engine, make_session_factory  # noqa: E402
from server.planning import services as planning  # noqa: E402
from server.planning.models import Visit  # noqa: E402
from tests.support import PASSWORD, World, start_live_server  # noqa: E402

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def _period(today: dt.date) -> str:
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


async def _prepare(url: str) -> tuple[uuid.UUID, dt.date, int]:
    """Plan the quarter, add the users and one pair's day; (lead id, day, visits planned)."""
    from sqlalchemy import select

    engine = make_engine(url, null_pool=True)
    try:
        factory = make_session_factory(engine)
        async with factory() as session, session.begin():
            result = await planning.generate_plan(session, Actor.system("bench"), _period(utcnow().date()))
            add_user(session, "county", "supervisor", PASSWORD, [1], "县级主管")
            workers = [add_user(session, f"w{n:02d}", "worker", PASSWORD, [1], f"调查员{n:02d}") for n in range(20)]
        day = utcnow().date() + dt.timedelta(days=1)
        async with factory() as session, session.begin():
            from server.auth.models import User

            user_id = await session.scalar(select(User.id).where(User.username == "county"))
            assert user_id is not None
            caller = await resolve_user(session, user_id, None)
            assert caller is not None
            ids = (await session.scalars(select(Visit.id).where(Visit.state == "planned").limit(20))).all()
            items = [
                AssignItem(visit_id=v, worker_id=workers[0].id, partner_id=workers[1].id, visit_on=day) for v in ids
            ]
            await planning.assign(session, caller, Actor.of(caller), items)
        return workers[0].id, day, result.created
    finally:
        await engine.dispose()


def _sign_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    token = _CSRF.search(client.get("/console/login").text)
    assert token
    answer = client.post("/console/login", data={"username": "county", "password": PASSWORD, "_csrf": token[1]})
    assert answer.status_code == 303, answer.text[:300]
    return client


def _time(client: httpx.Client, rounds: int, method: str, path: str, **kw: Any) -> tuple[float, float, float, float]:
    """Wall p50 and p95, and CPU p50 and p95 of this process (the server runs in a thread of it;
    SQLite too; the client's share is small): on a shared machine CPU is the steadier figure."""
    walls, cpus = [], []
    for _ in range(rounds):
        began, cpu = time.perf_counter(), time.process_time()
        answer = client.request(method, path, **kw)
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    walls.sort()
    cpus.sort()

    def q95(values: list[float]) -> float:
        return values[max(0, round(0.95 * len(values)) - 1)]

    return statistics.median(walls), q95(walls), statistics.median(cpus), q95(cpus)


def _suggest_form(client: httpx.Client, workers: int, days: int, capacity: int) -> dict[str, Any]:
    page = client.get("/console/assign").text
    token = _CSRF.search(page)
    assert token
    ids = re.findall(r'<option value="([0-9a-f-]{36})"', page)
    unique = list(dict.fromkeys(ids))[:workers]
    form: dict[str, Any] = {
        "_csrf": token[1],
        "start_on": (utcnow().date() + dt.timedelta(days=7)).isoformat(),
        "days": str(days),
        "capacity": str(capacity),
    }
    for n in range(0, len(unique) - 1, 2):
        form[f"lead_{n // 2}"], form[f"partner_{n // 2}"] = unique[n], unique[n + 1]
    return form


def _chromium(base: str) -> float:
    """Milliseconds from navigation to the map holding 5,000 markers (suggest page, 10 pairs)."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", "county")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/")
        page.goto(f"{base}/console/assign")
        page.fill("input[name=days]", "25")
        page.fill("input[name=capacity]", "20")
        page.click("form[action='/console/assign/suggest'] button[type=submit]")
        page.wait_for_selector("#split-map[data-ready]", timeout=120_000)
        ready = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [performance.now(), n.responseEnd, document.getElementById('split-map').dataset.ready]; }"
        )
        browser.close()
    print(
        f"  chromium: map with {ready[2]} markers interactive {ready[0]:.0f} ms after navigation "
        f"(answer received at {ready[1]:.0f} ms)"
    )
    return float(ready[0])


def _print(label: str, figures: tuple[float, float, float, float]) -> None:
    wall50, wall95, cpu50, cpu95 = figures
    print(f"  {label:40s} wall p50 {wall50:7.1f} p95 {wall95:7.1f} ms | CPU p50 {cpu50:6.1f} p95 {cpu95:6.1f} ms")


def _run(engine: str, url: str, seed: Any, households: int, rounds: int) -> None:
    upgrade(url)
    began = time.perf_counter()
    seed()
    lead, day, planned = asyncio.run(_prepare(url))
    print(
        f"{engine}: {households:,} households, {planned:,} visits planned (set-up {time.perf_counter() - began:.0f} s)"
    )
    with tempfile.TemporaryDirectory() as media, start_live_server(url, f"file://{media}", World()) as live:
        client = _sign_in(live.base_url)
        try:
            cases = [
                ("due-visit list, page 1", "GET", "/console/visits", {}),
                ("due-visit list, page 40 sorted by head", "GET", "/console/visits?sort=head_name&page=40", {}),
                ("due-visit list, overdue + not assigned", "GET", "/console/visits?due=overdue&assigned=no", {}),
                ("assignment page", "GET", "/console/assign", {}),
                ("route page (20 stops)", "GET", f"/console/routes?day={day}&worker_id={lead}", {}),
            ]
            for label, method, path, kw in cases:
                _print(label, _time(client, rounds, method, path, **kw))
            form = _suggest_form(client, 20, 5, 8)
            figures = _time(client, max(5, rounds // 8), "POST", "/console/assign/suggest", data=form)
            _print("suggested split, 10 pairs x 5 days x 8", figures)
        finally:
            client.close()
        _chromium(live.base_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    start = dt.date(utcnow().year, 1, 1)
    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.db"
            url = f"sqlite+aiosqlite:///{path}"
            _run("sqlite", url, lambda: _seed_sqlite(path, args.households, start), args.households, args.rounds)
    if args.engine in ("postgres", "both"):
        try:
            socket.create_connection((PG_HOST, PG_PORT), timeout=1).close()
        except OSError:
            print(f"postgres skipped: nothing listening on {PG_HOST}:{PG_PORT}")
            return
        name = f"recheck_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
            _run(
                "postgres",
                url,
                lambda: asyncio.run(_seed_postgres(name, args.households, start)),
                args.households,
                args.rounds,
            )
        finally:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
