"""The payment roster for N households: build + close, export CSV and XLSX, import the bank's return.

Seeds (untimed) N active households and, for a fifth of them, an approved decision effective
from the roster month, then times each step through ``server.payments.services`` on a real
database, checking that the totals reconcile to the fen.

    .venv/bin/python bench/decisions/bench_roster.py [--households 100000] [--engine both]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select

from bench.decisions.common import database, postgres_up, seed
from server.auth.identity import Actor
from server.db.base import utcnow
from server.db.session import make_engine, make_session_factory
from server.decisions.bulk import fast_insert
from server.decisions.models import Proposal
from server.payments import services
from server.payments.layouts import find_layout
from server.planning.models import Visit

MONTH = "2027-01"


async def _decisions(url: str, share: int = 5) -> int:
    """An approved decision effective from MONTH for every ``share``-th household."""
    engine = make_engine(url, null_pool=True)
    now = utcnow()
    try:
        async with make_session_factory(engine)() as session, session.begin():
            visits = (
                await (await session.connection()).execute(select(Visit.id, Visit.household_id, Visit.area_id))
            ).all()
            rows = []
            for i, (visit_id, household_id, area_id) in enumerate(visits):
                if i % share:
                    continue
                amount = 0 if i % (share * 7) == 0 else 50_000 + i % 977 * 100
                outcome = "cancel" if amount == 0 else "adjust"
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "visit_id": visit_id,
                        "household_id": household_id,
                        "area_id": area_id,
                        "state": "approved",
                        "outcome": outcome,
                        "reasons": [],
                        "rule_version": "bench",
                        "standard": 56000,
                        "old_amount": 0,
                        "new_amount": amount,
                        "near_dibao": False,
                        "needs_confirmation": False,
                        "explanation_zh": "",
                        "explanation_en": "",
                        "detail": {},
                        "situation": {},
                        "inputs": {},
                        "revision": 1,
                        "changes": [],
                        "decided_outcome": outcome,
                        "decided_amount": amount,
                        "objections": 0,
                        "effective_from": dt.date(2027, 1, 1),
                        "approved_at": now,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            await fast_insert(await session.connection(), Proposal.__table__, rows)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return len(rows)


async def _run(url: str) -> dict[str, float | int]:
    engine = make_engine(url, null_pool=True)
    factory = make_session_factory(engine)
    actor = Actor.system("bench")
    figures: dict[str, float | int] = {}
    try:
        started, cpu = time.perf_counter(), time.process_time()
        async with factory() as session, session.begin():
            month = await services.close(session, actor, MONTH)
        figures["build_close_s"] = time.perf_counter() - started
        figures["build_close_cpu"] = time.process_time() - cpu
        assert month.total == sum(a.total for a in month.areas), "area totals reconcile"
        figures["rows"], figures["total_fen"] = month.row_count, month.total

        started = time.perf_counter()
        async with factory() as session:
            _row, lines = await services.export_rows(session, MONTH)
        figures["read_s"] = time.perf_counter() - started
        started = time.perf_counter()
        today = dt.date.today()
        content = find_layout("generic-csv").write(MONTH, lines, today)
        figures["csv_s"] = time.perf_counter() - started
        figures["csv_mb"] = len(content) / 1e6
        started = time.perf_counter()
        book = find_layout("generic-xlsx").write(MONTH, lines, today)
        figures["xlsx_s"] = time.perf_counter() - started
        figures["xlsx_mb"] = len(book) / 1e6
        bank = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert sum(services.parse_amount(line[7]) or 0 for line in bank[1:-1]) == month.total

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["seq", "household_code", "bank_account", "amount", "status", "reason"])
        for i, line in enumerate(bank[1:-1]):
            failed = i % 250 == 0
            writer.writerow(
                [line[0], line[2], line[6], line[7], "failed" if failed else "paid", "账户冻结" if failed else ""]
            )
        writer.writerow(["TOTAL", len(bank) - 2, bank[-1][2]])
        started, cpu = time.perf_counter(), time.process_time()
        async with factory() as session, session.begin():
            result = await services.import_return(
                session, actor, MONTH, out.getvalue().encode(), find_layout("generic-csv")
            )
        figures["return_s"] = time.perf_counter() - started
        figures["return_cpu"] = time.process_time() - cpu
        assert result.paid_total + result.failed_total == month.total, "paid + failed reconcile"
        figures["failed"] = result.failed
    finally:
        await engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    for name in engines:
        if name == "postgres" and not postgres_up():
            print("postgres   skipped: nothing listening on 127.0.0.1:5432")
            continue
        with database(name) as url:
            asyncio.run(seed(url, args.households))
            decided = asyncio.run(_decisions(url))
            f = asyncio.run(_run(url))
        print(
            f"{name:9}  {f['rows']:,} rows ({decided:,} from approved decisions), "
            f"total {f['total_fen'] / 100:,.2f} yuan: "
            f"build+close {f['build_close_s']:.1f} s (CPU {f['build_close_cpu']:.1f} s), "
            f"read {f['read_s']:.1f} s, CSV {f['csv_s']:.1f} s "
            f"({f['csv_mb']:.1f} MB), XLSX {f['xlsx_s']:.1f} s ({f['xlsx_mb']:.1f} MB), "
            f"bank return {f['return_s']:.1f} s (CPU {f['return_cpu']:.1f} s, {f['failed']} failed); "
            "totals reconcile to the fen"
        )


if __name__ == "__main__":
    main()
