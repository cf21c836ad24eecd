"""``recheck simulate``: a fleet of simulated tablets against a real server process, with faults.

Builds a fresh database (a temporary SQLite file, or ``--database-url``), starts the server as its
own process, optionally puts the fault-injecting proxy between the tablets and the server, runs
:class:`sync.simulation.fleet.Fleet`, and prints the reconciliation (``--json`` for machines).
Exit code 1 when anything was lost, duplicated, half-written or left unconverged.
See docs/simulation.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.auth.bootstrap import add_user
from server.db.migrate import upgrade
from server.db.session import make_engine, make_session_factory
from server.registry.models import Area
from server.settings import Settings
from sync.simulation.faultproxy import FaultPlan, FaultProxy
from sync.simulation.fleet import Fleet, FleetConfig, FleetReport
from sync.simulation.process import ServerProcess

__all__ = ["ADMIN", "Killer", "add_arguments", "bootstrap", "run", "simulate"]

ADMIN = ("sim-admin", "simulation-admin-password")


async def _bootstrap(database_url: str) -> int:
    engine = make_engine(database_url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            county = Area(code="SIM", name="Simulated county", level="county", parent_id=None)
            session.add(county)
            await session.flush()
            county.path = f"/{county.id}/"
            add_user(session, ADMIN[0], "admin", ADMIN[1], [county.id], "Simulation admin")
            return int(county.id)
    finally:
        await engine.dispose()


def bootstrap(database_url: str) -> int:
    """Migrate an empty database, add the simulated county and its admin; returns the county's id."""
    upgrade(database_url)
    return asyncio.run(_bootstrap(database_url))


class Killer:
    """Kills the server with SIGKILL at seeded random moments and starts it again, until stopped."""

    def __init__(self, server: ServerProcess, seed: int, interval: tuple[float, float], min_kills: int = 0) -> None:
        self.server = server
        self.min_kills = min_kills
        self.rng = random.Random(seed)
        self.interval = interval
        self.kills = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-killer", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(*self.interval)):
            self.server.kill()
            self.kills += 1
            self.server.start(timeout=60)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """No more kills (after at least ``min_kills``); the server is running again when this returns.

        A fast run must not end before the server was killed the promised number of times, whatever
        the machine's speed: the kill schedule, not the fleet, decides how often it dies.
        """
        deadline = time.monotonic() + 300
        while self.kills < self.min_kills and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(120)
        if not self.server.running:
            self.server.start(timeout=60)

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SimulationResult:
    report: FleetReport
    work_dir: Path
    database_url: str


@contextmanager
def _maybe(proxy: FaultProxy | None) -> Iterator[FaultProxy | None]:
    if proxy is None:
        yield None
        return
    with proxy:
        yield proxy


def simulate(
    config: FleetConfig,
    *,
    fault_rate: float = 0.0,
    database_url: str | None = None,
    work_dir: Path | None = None,
    kill_interval: tuple[float, float] | None = None,
    min_kills: int = 0,
    disturb: Callable[[ServerProcess], AbstractContextManager[Any]] | None = None,
    log: bool = False,
) -> SimulationResult:
    """Run a whole simulation.

    ``kill_interval`` (seconds) SIGKILLs the server now and then (and starts it again), at least
    ``min_kills`` times before the run settles; ``disturb``
    wraps the run in any other trouble (e.g. restarting the database), given the server process.
    """
    work = work_dir or Path(tempfile.mkdtemp(prefix="recheck-sim-"))
    work.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite+aiosqlite:///{work / 'recheck.db'}"
    county_id = bootstrap(url)
    # every tablet keeps a connection alive: the proxy must hold one per device, and then some
    slots = max(1024, 2 * config.devices + 64)
    plan = FaultPlan.uniform(fault_rate, delay_range=(0.01, 0.3), max_connections=slots) if fault_rate > 0 else None
    printer = print if log else (lambda _line: None)
    with ServerProcess(url, f"file://{work / 'media'}", log_path=work / "server.log") as server:
        proxy = FaultProxy(server.port, plan, seed=config.seed) if plan else None
        with _maybe(proxy):
            fleet = Fleet(server.url, ADMIN, county_id, config, work, proxy=proxy, log=printer)
            try:
                with disturb(server) if disturb else nullcontext() as trouble:
                    calm_trouble = getattr(trouble, "stop", lambda: None)
                    if kill_interval:
                        with Killer(server, config.seed, kill_interval, min_kills) as killer:

                            def calm() -> None:
                                killer.stop()
                                calm_trouble()

                            report = fleet.run(kill_count=lambda: killer.kills, calm=calm)
                    else:
                        report = fleet.run(calm=calm_trouble)
            finally:
                fleet.close()
    return SimulationResult(report, work, url)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=20, help="simulated tablets (one field worker each)")
    parser.add_argument("--days", type=int, default=2, help="working days to simulate")
    parser.add_argument("--visits-per-day", type=int, default=2, help="visits per device per day")
    parser.add_argument("--photos-per-visit", type=int, default=1)
    parser.add_argument("--faults", type=float, default=0.1, help="share of requests hit by a fault (0: no proxy)")
    parser.add_argument("--kill-every", type=float, default=0.0, help="SIGKILL the server about every N seconds")
    parser.add_argument("--threads", type=int, default=4, help="devices working at the same time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where stores, media and logs go")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace, settings: Settings) -> None:
    from server.cli import CommandError

    config = FleetConfig(
        devices=args.devices,
        days=args.days,
        visits_per_day=args.visits_per_day,
        photos_per_visit=args.photos_per_visit,
        threads=args.threads,
        seed=args.seed,
    )
    kill = (args.kill_every * 0.5, args.kill_every * 1.5) if args.kill_every > 0 else None
    started = time.monotonic()
    result = simulate(
        config,
        fault_rate=args.faults,
        database_url=args.database_url,
        work_dir=args.work_dir,
        kill_interval=kill,
        log=not args.json,
    )
    if args.json:
        print(json.dumps(result.report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(result.report.render())
        print(f"work dir           {result.work_dir}  ({time.monotonic() - started:.1f} s in all)")
    if not result.report.ok:
        raise CommandError("the fleet lost, duplicated or left something unconverged (see above)")
