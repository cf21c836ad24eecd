"""Proposals for N accepted visits, end to end, on SQLite and PostgreSQL.

Seeds a migrated database (untimed) with N households (1–4 members, 0–3 income lines) each with
one accepted visit, then times ``server.decisions.services.generate`` — finding the visits
without a proposal, checking conflicts and evidence, loading every input in batches, running
the policy engine, inserting proposals, audit entries and follow-up visits — and the commit.

    .venv/bin/python bench/decisions/bench_proposals.py [--visits 100000] [--engine both]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, select

from bench.decisions.common import database, postgres_up, seed
from server.auth.identity import Actor
from server.db.session import make_engine, make_session_factory
from server.decisions.models import Proposal
from server.decisions.services import generate


async def _run(url: str) -> tuple[float, int, dict[str, int]]:
    engine = make_engine(url, null_pool=True)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        async with make_session_factory(engine)() as session, session.begin():
            result = await generate(session, Actor.system("bench"))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        async with make_session_factory(engine)() as session:
            outcomes = dict(
                Counter(
                    {
                        o: n
                        for o, n in (
                            await session.execute(select(Proposal.outcome, func.count()).group_by(Proposal.outcome))
                        ).all()
                    }
                )
            )
        again = time.perf_counter()
        async with make_session_factory(engine)() as session, session.begin():
            repeat = await generate(session, Actor.system("bench"))
        assert repeat.created == 0, "generation must be idempotent"
        outcomes["_rerun_seconds"] = round(time.perf_counter() - again, 2)  # type: ignore[assignment]
        outcomes["_cpu_seconds"] = round(cpu, 1)  # type: ignore[assignment]
    finally:
        await engine.dispose()
    return seconds, result.created, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    for name in engines:
        if name == "postgres" and not postgres_up():
            print("postgres   skipped: nothing listening on 127.0.0.1:5432")
            continue
        with database(name) as url:
            seeded = asyncio.run(seed(url, args.visits))
            seconds, created, outcomes = asyncio.run(_run(url))
        rerun = outcomes.pop("_rerun_seconds")
        cpu = outcomes.pop("_cpu_seconds")
        print(
            f"{name:9}  {created:,} proposals from {seeded['visits']:,} accepted visits in {seconds:.1f} s "
            f"({created / seconds:,.0f}/s; this process's CPU {cpu} s); idempotent re-run {rerun} s; "
            f"outcomes {dict(sorted(outcomes.items()))}; "
            f"seed {seeded['seconds']} s ({seeded['members']:,} members, {seeded['incomes']:,} income lines)"
        )


if __name__ == "__main__":
    main()
