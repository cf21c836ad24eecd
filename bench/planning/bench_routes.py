"""Day-route ordering: time for a 40-stop route, and how much 2-opt saves over nearest neighbour.

Run: ``.venv/bin/python bench/planning/bench_routes.py [--instances 500] [--stops 40] [--box-km 60]``

Each instance is seeded (instance ``k`` uses ``random.Random(k)``): ``--stops`` stops spread
uniformly over a ``--box-km`` square around a start point at 35°N (a county is roughly 40–80 km
across), no stop without GPS. For every instance it times `plan_route` (distance matrix,
nearest neighbour, 2-opt, GeoJSON) and `nearest_neighbour_only`, and records the total distance
ratio 2-opt / nearest neighbour. It prints the mean, median and 95th percentile milliseconds and
the mean, best and worst ratio.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.planning.routes import Stop, nearest_neighbour_only, plan_route

__all__ = ["instance"]

START = (35.0, 117.0)


def instance(seed: int, stops: int, box_km: float) -> list[Stop[int]]:
    """``stops`` seeded random stops in a square of ``box_km`` around :data:`START`."""
    rng = random.Random(seed)
    dlat = box_km / 111.195
    dlon = box_km / (111.195 * math.cos(math.radians(START[0])))
    return [
        Stop(id=i, lat=START[0] + (rng.random() - 0.5) * dlat, lon=START[1] + (rng.random() - 0.5) * dlon)
        for i in range(stops)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--stops", type=int, default=40)
    parser.add_argument("--box-km", type=float, default=60.0)
    args = parser.parse_args()

    plan_ms: list[float] = []
    nn_ms: list[float] = []
    ratios: list[float] = []
    for seed in range(args.instances):
        stops = instance(seed, args.stops, args.box_km)
        began = time.perf_counter()
        nn = nearest_neighbour_only(START, stops)
        nn_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        best = plan_route(START, stops)
        plan_ms.append((time.perf_counter() - began) * 1000)
        ratios.append(best.total_m / nn.total_m)

    def q95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1]

    print(f"{args.instances} seeded instances, {args.stops} stops in a {args.box_km:g} km square")
    print(
        f"plan_route (NN + 2-opt): mean {statistics.mean(plan_ms):.2f} ms, "
        f"median {statistics.median(plan_ms):.2f} ms, p95 {q95(plan_ms):.2f} ms"
    )
    print(f"nearest_neighbour_only:  mean {statistics.mean(nn_ms):.2f} ms")
    print(
        f"distance 2-opt / NN: mean {statistics.mean(ratios):.3f} "
        f"(best {min(ratios):.3f}, worst {max(ratios):.3f}) — "
        f"2-opt saves {100 * (1 - statistics.mean(ratios)):.1f}% on average"
    )


if __name__ == "__main__":
    main()
