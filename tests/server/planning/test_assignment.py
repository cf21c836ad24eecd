"""Suggested assignment: areas respected, capacity, urgency first, balance, compactness."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.planning.assignment import (
    Assignment,
    DueVisit,
    Unplaced,
    UnplacedReason,
    Worker,
    suggest_assignment,
)

DAY = dt.date(2027, 1, 4)


def visit(i: int, area: int = 1, lat: float | None = 35.0, lon: float | None = 117.0, **kw: object) -> DueVisit[int]:
    return DueVisit(id=i, area_id=area, lat=lat, lon=lon, due_on=kw.pop("due_on", DAY), **kw)  # type: ignore[arg-type]


def worker(
    name: str, areas: set[int], daily: int = 8, days: int = 5, at: tuple[float, float] = (35.0, 117.0)
) -> Worker[str]:
    return Worker(id=name, area_ids=frozenset(areas), lat=at[0], lon=at[1], daily_capacity=daily, days=days)


def owner(result: Assignment[int, str]) -> dict[int, str]:
    return {v: plan.worker_id for plan in result.plans for v in plan.visit_ids}


def check_invariants(visits: list[DueVisit[int]], workers: list[Worker[str]], result: Assignment[int, str]) -> None:
    by_id = {w.id: w for w in workers}
    areas = {v.id: v.area_id for v in visits}
    placed = [v for plan in result.plans for v in plan.visit_ids]
    assert [p.worker_id for p in result.plans] == [w.id for w in workers]
    assert sorted(placed + [u.visit_id for u in result.unplaced]) == sorted(v.id for v in visits)
    for plan in result.plans:
        w = by_id[plan.worker_id]
        assert all(areas[v] in w.area_ids for v in plan.visit_ids), "never outside the worker's areas"
        assert len(plan.visit_ids) <= w.daily_capacity * w.days
        assert len(plan.days) <= w.days
        assert all(0 < len(day) <= w.daily_capacity for day in plan.days)
        assert [v for day in plan.days for v in day] == plan.visit_ids


def test_areas_are_respected_and_counts_balanced() -> None:
    visits = [visit(i, area=1 + i % 3) for i in range(103)]
    workers = [worker(f"w{k}", {1, 2, 3}, daily=10, days=5) for k in range(10)]
    result = suggest_assignment(visits, workers)
    check_invariants(visits, workers, result)
    counts = [len(p.visit_ids) for p in result.plans]
    assert max(counts) - min(counts) <= 1
    assert result.unplaced == []


def test_no_worker_for_the_area() -> None:
    visits = [visit(1, area=1), visit(2, area=9)]
    result = suggest_assignment(visits, [worker("a", {1})])
    assert owner(result) == {1: "a"}
    assert result.unplaced == [Unplaced(visit_id=2, reason=UnplacedReason.no_worker_for_area)]


def test_urgent_visits_first_when_capacity_is_short() -> None:
    visits = [
        visit(1, due_on=DAY),
        visit(2, priority=2, due_on=DAY + dt.timedelta(days=60)),
        visit(3, due_on=DAY - dt.timedelta(days=10)),
        visit(4, priority=1),
        visit(5, due_on=DAY + dt.timedelta(days=5)),
    ]
    result = suggest_assignment(visits, [worker("a", {1}, daily=3, days=1)])
    assert sorted(owner(result)) == [2, 3, 4]
    assert set(result.plans[0].days[0][:2]) == {2, 4}
    assert {u.visit_id: u.reason for u in result.unplaced} == {
        1: UnplacedReason.capacity_exhausted,
        5: UnplacedReason.capacity_exhausted,
    }


def test_placement_rearranges_to_make_room() -> None:
    """A greedy first fit would give visit 1 to A and then have no room for visit 2."""
    visits = [visit(1, area=1, priority=1), visit(2, area=2)]
    workers = [worker("A", {1, 2}, daily=1, days=1), worker("B", {1}, daily=1, days=1)]
    result = suggest_assignment(visits, workers)
    assert owner(result) == {1: "B", 2: "A"}
    assert result.unplaced == []


def test_shared_area_is_split_by_direction() -> None:
    rng = random.Random(3)
    west = [visit(i, lat=35.0 + rng.uniform(-0.01, 0.01), lon=116.8 + rng.uniform(-0.01, 0.01)) for i in range(20)]
    east = [visit(i, lat=35.0 + rng.uniform(-0.01, 0.01), lon=117.2 + rng.uniform(-0.01, 0.01)) for i in range(20, 40)]
    workers = [worker("east", {1}, at=(35.0, 117.25)), worker("west", {1}, at=(35.0, 116.75))]
    result = suggest_assignment(west + east, workers)
    got = owner(result)
    assert {got[v.id] for v in west} == {"west"}
    assert {got[v.id] for v in east} == {"east"}


def test_areas_go_to_the_nearest_workers() -> None:
    visits = [visit(i, area=1, lon=117.0) for i in range(10)] + [visit(i, area=2, lon=118.0) for i in range(10, 20)]
    workers = [worker("far", {1, 2}, at=(35.0, 118.0)), worker("near", {1, 2}, at=(35.0, 117.0))]
    got = owner(suggest_assignment(visits, workers))
    assert {got[i] for i in range(10)} == {"near"}
    assert {got[i] for i in range(10, 20)} == {"far"}


def test_visits_without_gps_are_still_placed() -> None:
    visits = [visit(1, lat=None, lon=None), visit(2), visit(3, area=2, lat=None, lon=None)]
    workers = [worker("a", {1, 2}), worker("b", {1})]
    result = suggest_assignment(visits, workers)
    check_invariants(visits, workers, result)
    assert result.unplaced == []


def test_days_hold_urgent_visits_first() -> None:
    visits = [visit(i, lon=117.0 + 0.001 * i) for i in range(10)] + [visit(99, priority=1, lon=117.5)]
    result = suggest_assignment(visits, [worker("a", {1}, daily=4, days=3)])
    plan = result.plans[0]
    assert plan.days[0][0] == 99
    assert [len(d) for d in plan.days] == [4, 4, 3]


def test_no_workers_and_no_visits() -> None:
    empty: list[Worker[str]] = []
    result = suggest_assignment([visit(1)], empty)
    assert result.plans == []
    assert result.unplaced == [Unplaced(visit_id=1, reason=UnplacedReason.no_worker_for_area)]
    nothing: list[DueVisit[int]] = []
    assert suggest_assignment(nothing, [worker("a", {1})]).plans[0].visit_ids == []


def test_zero_capacity_worker_gets_nothing() -> None:
    result = suggest_assignment([visit(1)], [worker("idle", {1}, days=0)])
    assert result.unplaced == [Unplaced(visit_id=1, reason=UnplacedReason.no_worker_for_area)]


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate visit id"):
        suggest_assignment([visit(1), visit(1)], [worker("a", {1})])
    with pytest.raises(ValueError, match="duplicate worker id"):
        suggest_assignment([visit(1)], [worker("a", {1}), worker("a", {2})])


def _max_placeable(visits: list[DueVisit[int]], workers: list[Worker[str]]) -> int:
    """Brute force: the most visits any assignment respecting areas and capacity can place."""
    options = [[None, *[w.id for w in workers if v.area_id in w.area_ids]] for v in visits]
    capacity = {w.id: w.daily_capacity * w.days for w in workers}
    best = 0
    for choice in itertools.product(*options):
        load = Counter(c for c in choice if c is not None)
        if all(load[w] <= capacity[w] for w in load):
            best = max(best, sum(load.values()))
    return best


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 3), st.integers(0, 1)), min_size=0, max_size=7),
    st.lists(st.tuples(st.sets(st.integers(1, 4), max_size=3), st.integers(0, 2)), min_size=1, max_size=3),
)
def test_placement_is_maximal_and_urgent_first(rows: list[tuple[int, int]], crew: list[tuple[set[int], int]]) -> None:
    visits = [visit(i, area=a, priority=p, lat=35 + i * 0.01) for i, (a, p) in enumerate(rows)]
    workers = [worker(f"w{k}", areas, daily=cap, days=1) for k, (areas, cap) in enumerate(crew)]
    result = suggest_assignment(visits, workers)
    check_invariants(visits, workers, result)
    placed = set(owner(result))
    assert len(placed) == _max_placeable(visits, workers)
    urgent = [v for v in visits if v.priority > 0]
    assert len(placed & {v.id for v in urgent}) == _max_placeable(urgent, workers)


def _county(seed: int, visits: int, workers: int) -> tuple[list[DueVisit[int]], list[Worker[str]]]:
    rng = random.Random(seed)
    centres = {a: (35.0 + (a // 5) * 0.11, 117.0 + (a % 5) * 0.13) for a in range(20)}
    due = []
    for i in range(visits):
        a = rng.randrange(20)
        lat, lon = centres[a]
        due.append(
            DueVisit(
                id=i,
                area_id=a,
                lat=lat + rng.gauss(0, 0.03),
                lon=lon + rng.gauss(0, 0.03),
                due_on=DAY + dt.timedelta(days=rng.randrange(90)),
                priority=2 if rng.random() < 0.03 else 0,
            )
        )
    crew = [
        Worker(
            id=f"w{k}",
            area_ids=frozenset({k % 20, (k + 1) % 20} if k >= 20 else {k % 20}),
            lat=centres[k % 20][0],
            lon=centres[k % 20][1],
            daily_capacity=8,
            days=15,
        )
        for k in range(workers)
    ]
    return due, crew


def _spread(visits: list[DueVisit[int]], ids: list[int]) -> float:
    """Mean distance (degrees, roughly) of a worker's visits from their centroid."""
    by_id = {v.id: v for v in visits}
    pts = [(lat, lon) for i in ids if (lat := by_id[i].lat) is not None and (lon := by_id[i].lon) is not None]
    cx = sum(p[0] for p in pts) / len(pts)
    cy = sum(p[1] for p in pts) / len(pts)
    return sum(math.hypot(p[0] - cx, p[1] - cy) for p in pts) / len(pts)


def test_five_thousand_visits_to_fifty_workers() -> None:
    visits, workers = _county(1, 5000, 50)
    began = time.perf_counter()
    result = suggest_assignment(visits, workers)
    elapsed = time.perf_counter() - began
    check_invariants(visits, workers, result)
    assert elapsed < 3.0, f"{elapsed:.2f}s"
    assert result.unplaced == []
    counts = [len(p.visit_ids) for p in result.plans]
    assert max(counts) <= 120
    # Compact: each worker's visits are much tighter than a random share of the county.
    rng = random.Random(5)
    shuffled = [v.id for v in visits]
    rng.shuffle(shuffled)
    ours = sum(_spread(visits, p.visit_ids) for p in result.plans) / len(result.plans)
    random_share = _spread(visits, shuffled[:100])
    assert ours < random_share / 3
