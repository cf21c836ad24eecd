"""Suggested assignment: seconds to split 5,000 due visits among 50 workers.

Run: ``.venv/bin/python bench/planning/bench_assignment.py [--visits 5000] [--workers 50] [--rounds 5]``

The county (seeded): 20 townships on a 5 × 4 grid about 60 × 50 km; visits scattered around
their township's centre (σ ≈ 3 km), 5 % without GPS, 3 % urgent (complaint) rechecks, due dates
over a quarter. Workers start from their township office; the first 20 work one township, the
others also the next one. Each works 8 visits a day for 15 days (capacity 6,000 for 5,000 visits).
Prints the best and mean of ``--rounds`` runs, the spread of workloads, the unplaced count and a
compactness figure (mean distance of a worker's visits from their centroid, against a random
share of the same size).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.planning.assignment import DueVisit, Worker, suggest_assignment

__all__ = ["county"]


def county(seed: int, visits: int, workers: int) -> tuple[list[DueVisit[int]], list[Worker[str]]]:
    """The seeded benchmark county (see the module docstring)."""
    rng = random.Random(seed)
    centres = {a: (35.0 + (a // 5) * 0.11, 117.0 + (a % 5) * 0.13) for a in range(20)}
    due: list[DueVisit[int]] = []
    start = dt.date(2027, 1, 1)
    for i in range(visits):
        a = rng.randrange(20)
        lat, lon = centres[a]
        located = rng.random() >= 0.05
        due.append(
            DueVisit(
                id=i,
                area_id=a,
                lat=lat + rng.gauss(0, 0.027) if located else None,
                lon=lon + rng.gauss(0, 0.033) if located else None,
                due_on=start + dt.timedelta(days=rng.randrange(90)),
                priority=2 if rng.random() < 0.03 else 0,
            )
        )
    crew = [
        Worker(
            id=f"w{k:02d}",
            area_ids=frozenset({k % 20, (k + 1) % 20} if k >= 20 else {k % 20}),
            lat=centres[k % 20][0],
            lon=centres[k % 20][1],
            daily_capacity=8,
            days=15,
        )
        for k in range(workers)
    ]
    return due, crew


def _spread_km(points: list[tuple[float, float]]) -> float:
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    kx = 111.195 * math.cos(math.radians(cx))
    return sum(math.hypot((p[0] - cx) * 111.195, (p[1] - cy) * kx) for p in points) / len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    visits, workers = county(1, args.visits, args.workers)
    times: list[float] = []
    for _ in range(args.rounds):
        began = time.perf_counter()
        result = suggest_assignment(visits, workers)
        times.append(time.perf_counter() - began)

    counts = [len(p.visit_ids) for p in result.plans]
    where = {v.id: (v.lat, v.lon) for v in visits if v.lat is not None and v.lon is not None}
    ours = [_spread_km(pts) for p in result.plans if (pts := [where[i] for i in p.visit_ids if i in where])]
    rng = random.Random(2)
    pool = list(where.values())
    share = max(1, len(pool) // max(1, len(workers)))
    random_spread = statistics.mean(_spread_km(rng.sample(pool, share)) for _ in range(20))

    print(f"{len(visits)} visits, {len(workers)} workers, best of {args.rounds}")
    print(f"suggest_assignment: best {min(times):.3f} s, mean {statistics.mean(times):.3f} s")
    print(f"workload: min {min(counts)}, max {max(counts)}, mean {statistics.mean(counts):.1f}")
    print(f"unplaced: {len(result.unplaced)}")
    print(
        f"compactness: mean {statistics.mean(ours):.2f} km from a worker's centroid "
        f"(a random share of {share}: {random_spread:.2f} km)"
    )


if __name__ == "__main__":
    main()
