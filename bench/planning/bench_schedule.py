"""The pure part of plan generation: which of a million households are due in a period.

Run: ``.venv/bin/python bench/planning/bench_schedule.py [--households 1000000] [--period 2027Q1]``

Builds ``--households`` seeded rows ``(id, category, last recheck date, status)`` as a database
query would return them (UUID ids; categories 10 % three_no, 20 % extreme_hardship, 70 %
general; last dates over the two preceding years; 3 % not active), then times
`server.planning.schedule.due_in_period` over them, best of three, and prints rows per second
and the share of the 30-second plan-generation budget the pure loop uses. The database writes
are measured by the plan-generation benchmark that wires this into the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.planning.schedule import due_in_period, parse_period

__all__ = ["rows"]


def rows(count: int, seed: int, before: dt.date) -> list[tuple[uuid.UUID, str, dt.date | None, str]]:
    """Seeded household rows whose last recheck falls in the two years before ``before``."""
    rng = random.Random(seed)
    categories = ["three_no"] * 1 + ["extreme_hardship"] * 2 + ["general"] * 7
    out: list[tuple[uuid.UUID, str, dt.date | None, str]] = []
    for _ in range(count):
        last = before - dt.timedelta(days=rng.randrange(1, 731))
        status = "active" if rng.random() >= 0.03 else "suspended"
        out.append((uuid.UUID(int=rng.getrandbits(128)), rng.choice(categories), last, status))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--period", default="2027Q1")
    args = parser.parse_args()

    start, end = parse_period(args.period)
    data = rows(args.households, 1, start)
    best = float("inf")
    due = 0
    for _ in range(3):
        began = time.perf_counter()
        due = sum(1 for _ in due_in_period(data, start, end))
        best = min(best, time.perf_counter() - began)
    print(f"{args.households:,} households, period {args.period} ({start} – {end}): {due:,} due")
    print(f"due_in_period: {best:.3f} s, {args.households / best:,.0f} rows/s, {100 * best / 30:.1f}% of 30 s")


if __name__ == "__main__":
    main()
