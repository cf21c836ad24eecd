"""Suggested assignment: split due visits among the chosen workers.

A suggestion for the supervisor, who can change any of it. The rules it keeps:

* a worker only gets visits in the areas they may work in — never elsewhere;
* nobody gets more than ``daily_capacity × days`` visits;
* when capacity is short, the most urgent visits are placed first (``priority`` higher first,
  then the earlier due date): a visit stays unplaced only if no rearrangement of the visits
  already placed could make room for it (it is an exact matching, not a greedy guess);
* counts are balanced: the largest workload is as small as the areas allow;
* each worker's visits are geographically compact: areas go to the workers whose home or
  office is nearest (a min-cost flow), and an area shared by several workers is cut into
  angular sectors around its centre;
* each worker's visits are split into days of ``daily_capacity``: urgent visits first, then
  by angle around the worker's home so each day covers one direction.

Pure and framework-free; distances are equirectangular metres (exact enough at county scale).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections import defaultdict, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "Assignment",
    "DueVisit",
    "Unplaced",
    "UnplacedReason",
    "Worker",
    "WorkerPlan",
    "suggest_assignment",
]

K = TypeVar("K", bound=Hashable)
W = TypeVar("W", bound=Hashable)

_M_PER_DEG = 111_195.0
#: Load tiers per worker in the balancing flow, and the cost of each tier per visit (metres:
#: far more than any distance in a county, so balance comes first and distance second).
_TIERS = 16
_TIER_PENALTY = 1_000_000


@dataclass(frozen=True, slots=True)
class DueVisit(Generic[K]):
    """A visit to place. ``priority`` > 0 is urgent (complaint rechecks); higher goes first."""

    id: K
    area_id: Hashable
    lat: float | None
    lon: float | None
    due_on: dt.date
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Worker(Generic[W]):
    """A worker who may take visits in ``area_ids``, starting from ``(lat, lon)`` each day."""

    id: W
    area_ids: frozenset[Hashable]
    lat: float
    lon: float
    daily_capacity: int
    days: int

    @property
    def capacity(self) -> int:
        """Visits this worker can take in the planned days."""
        return max(0, self.daily_capacity) * max(0, self.days)


@dataclass(frozen=True, slots=True)
class WorkerPlan(Generic[K, W]):
    """One worker's visits, all of them and per day (``days[0]`` is the first day)."""

    worker_id: W
    visit_ids: list[K]
    days: list[list[K]]


class UnplacedReason(enum.StrEnum):
    """Why a visit could not be placed."""

    no_worker_for_area = "no_worker_for_area"
    capacity_exhausted = "capacity_exhausted"


@dataclass(frozen=True, slots=True)
class Unplaced(Generic[K]):
    """A visit left out of the suggestion, and why."""

    visit_id: K
    reason: UnplacedReason


@dataclass(frozen=True, slots=True)
class Assignment(Generic[K, W]):
    """One plan per worker (input order, possibly empty) and the visits left out."""

    plans: list[WorkerPlan[K, W]]
    unplaced: list[Unplaced[K]]


# --------------------------------------------------------------------------- min-cost flow


class _Flow:
    """A small min-cost max-flow (successive shortest paths, SPFA) on integer costs."""

    def __init__(self, nodes: int) -> None:
        self.adj: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.cap: list[int] = []
        self.cost: list[int] = []

    def add(self, u: int, v: int, cap: int, cost: int) -> int:
        edge = len(self.to)
        self.to += [v, u]
        self.cap += [cap, 0]
        self.cost += [cost, -cost]
        self.adj[u].append(edge)
        self.adj[v].append(edge + 1)
        return edge

    def run(self, source: int, sink: int) -> int:
        to, cap, cost, adj = self.to, self.cap, self.cost, self.adj
        n = len(adj)
        total = 0
        inf = math.inf
        while True:
            dist: list[float] = [inf] * n
            prev = [-1] * n
            queued = [False] * n
            dist[source] = 0
            queue = deque([source])
            while queue:
                u = queue.popleft()
                queued[u] = False
                du = dist[u]
                for e in adj[u]:
                    if cap[e] > 0:
                        v = to[e]
                        nd = du + cost[e]
                        if nd < dist[v]:
                            dist[v] = nd
                            prev[v] = e
                            if not queued[v]:
                                queued[v] = True
                                queue.append(v)
            if dist[sink] == inf:
                return total
            push = None
            v = sink
            while v != source:
                e = prev[v]
                push = cap[e] if push is None else min(push, cap[e])
                v = to[e ^ 1]
            assert push is not None
            v = sink
            while v != source:
                e = prev[v]
                cap[e] -= push
                cap[e ^ 1] += push
                v = to[e ^ 1]
            total += push


# --------------------------------------------------------------------------- helpers


def _xy(lat: float, lon: float, cos_lat: float) -> tuple[float, float]:
    return lon * _M_PER_DEG * cos_lat, lat * _M_PER_DEG


def _place_by_priority(
    ordered: list[int],
    visit_area: list[int],
    eligible: list[list[int]],
    capacity: list[int],
) -> tuple[list[int], list[tuple[int, UnplacedReason]]]:
    """Which visits fit (an exact incremental b-matching by counts); input is priority order."""
    remaining = capacity[:]
    flow: list[dict[int, int]] = [defaultdict(int) for _ in eligible]  # area → worker → count
    areas_of: list[list[int]] = [[] for _ in capacity]
    for area, workers in enumerate(eligible):
        for w in workers:
            areas_of[w].append(area)
    saturated: set[int] = set()
    placed: list[int] = []
    unplaced: list[tuple[int, UnplacedReason]] = []
    for v in ordered:
        area = visit_area[v]
        if not eligible[area]:
            unplaced.append((v, UnplacedReason.no_worker_for_area))
            continue
        if area in saturated:
            unplaced.append((v, UnplacedReason.capacity_exhausted))
            continue
        best = max(eligible[area], key=lambda w: remaining[w])
        if remaining[best] > 0:
            remaining[best] -= 1
            flow[area][best] += 1
            placed.append(v)
            continue
        # Augmenting path: move one visit of another area from a full worker to one with room.
        parent_w: dict[int, int] = {}
        parent_a: dict[int, int] = {area: -1}
        queue = deque([area])
        found = -1
        while queue and found < 0:
            x = queue.popleft()
            for w in eligible[x]:
                if w in parent_w:
                    continue
                parent_w[w] = x
                if remaining[w] > 0:
                    found = w
                    break
                for y in areas_of[w]:
                    if y not in parent_a and flow[y][w] > 0:
                        parent_a[y] = w
                        queue.append(y)
        if found < 0:
            saturated.update(parent_a)  # nothing reachable from these areas has room, ever
            unplaced.append((v, UnplacedReason.capacity_exhausted))
            continue
        remaining[found] -= 1
        w = found
        while True:
            x = parent_w[w]
            flow[x][w] += 1
            back = parent_a[x]
            if back < 0:
                break
            flow[x][back] -= 1
            w = back
        placed.append(v)
    return placed, unplaced


def _balanced_flow(
    demand: list[int],
    eligible: list[list[int]],
    capacity: list[int],
    cost: list[list[int]],
) -> list[dict[int, int]]:
    """Per area, how many visits each worker takes: smallest feasible maximum load, then the
    cheapest (nearest) way to reach it."""
    areas, workers = len(demand), len(capacity)
    total = sum(demand)
    if total == 0:
        return [{} for _ in range(areas)]
    source, sink = areas + workers, areas + workers + 1

    def solve(limit: int, balanced: bool) -> tuple[int, _Flow, list[list[tuple[int, int]]]]:
        graph = _Flow(areas + workers + 2)
        edges: list[list[tuple[int, int]]] = [[] for _ in range(areas)]
        for a in range(areas):
            if demand[a]:
                graph.add(source, a, demand[a], 0)
                for k, w in enumerate(eligible[a]):
                    e = graph.add(a, areas + w, demand[a], cost[a][k] if balanced else 0)
                    edges[a].append((w, e))
        for w in range(workers):
            cap = min(capacity[w], limit)
            if not balanced:
                graph.add(areas + w, sink, cap, 0)
                continue
            # Convex cost per load tier: everybody's first tier fills before anybody's second,
            # so loads even out; within a tier the distance decides.
            step = max(1, -(-limit // _TIERS))
            for tier, low in enumerate(range(0, cap, step)):
                graph.add(areas + w, sink, min(step, cap - low), tier * _TIER_PENALTY)
        return graph.run(source, sink), graph, edges

    active = sum(1 for w in range(workers) if capacity[w] > 0) or 1
    low, high = max(1, -(-total // active)), max(capacity)
    while low < high:
        middle = (low + high) // 2
        if solve(middle, balanced=False)[0] == total:
            high = middle
        else:
            low = middle + 1
    flowed, graph, edges = solve(low, balanced=True)
    assert flowed == total, "placed visits must fit at the largest capacity"
    return [{w: graph.cap[e ^ 1] for w, e in edges[a] if graph.cap[e ^ 1]} for a in range(areas)]


def _centre(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    if not points:
        return None
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _angle(x: float, y: float, cx: float, cy: float) -> float:
    return math.atan2(y - cy, x - cx)


def _split_area(
    visits: list[int],
    shares: dict[int, int],
    points: list[tuple[float, float] | None],
    homes: list[tuple[float, float]],
) -> dict[int, list[int]]:
    """Cut one area's visits into angular sectors, one per worker, sized by ``shares``."""
    if len(shares) == 1:
        return {next(iter(shares)): visits}
    located: list[tuple[int, tuple[float, float]]] = []
    unlocated: list[int] = []
    for v in visits:
        p = points[v]
        if p is None:
            unlocated.append(v)
        else:
            located.append((v, p))
    cx, cy = _centre([p for _, p in located]) or (0.0, 0.0)
    angles = sorted((_angle(p[0], p[1], cx, cy), v) for v, p in located)
    if len(angles) > 1:  # start the sweep at the widest empty gap so no cluster is cut in two
        gaps = [(angles[(i + 1) % len(angles)][0] - angles[i][0]) % (2 * math.pi) for i in range(len(angles))]
        cut = max(range(len(gaps)), key=gaps.__getitem__) + 1
        angles = angles[cut:] + angles[:cut]
    sweep = [v for _, v in angles] + unlocated
    workers = sorted(shares, key=lambda w: _angle(*homes[w], cx, cy))
    best: dict[int, list[int]] = {}
    best_cost = math.inf
    for shift in range(len(workers)):  # try each rotation of the workers around the centre
        order = workers[shift:] + workers[:shift]
        sectors: dict[int, list[int]] = {}
        position = 0
        total = 0.0
        for w in order:
            sector = sweep[position : position + shares[w]]
            position += shares[w]
            sectors[w] = sector
            hx, hy = homes[w]
            for v in sector:
                p = points[v]
                if p is not None:
                    total += math.hypot(p[0] - hx, p[1] - hy)
        if total < best_cost:
            best, best_cost = sectors, total
    return best


def _days(
    visits: list[int],
    points: list[tuple[float, float] | None],
    priority: list[int],
    home: tuple[float, float],
    daily: int,
) -> list[list[int]]:
    """Urgent visits first, then by direction from home; chunked into days."""

    def key(v: int) -> tuple[bool, float, int]:
        p = points[v]
        angle = _angle(p[0], p[1], *home) if p is not None else math.inf
        return (priority[v] <= 0, angle, v)

    ordered = sorted(visits, key=key)
    return [ordered[i : i + daily] for i in range(0, len(ordered), daily)] if daily > 0 else []


# --------------------------------------------------------------------------- entry point


def suggest_assignment(visits: Sequence[DueVisit[K]], workers: Sequence[Worker[W]]) -> Assignment[K, W]:
    """Suggest which worker does which visit (see the module docstring for the rules).

    Args:
        visits: the due visits, each with its area, position (may be unknown), due date and
            priority.
        workers: the chosen workers with their areas, start point, daily capacity and days.

    Returns:
        One :class:`WorkerPlan` per worker in input order, and the visits that could not be
        placed with the reason (urgent ones are placed before any routine one).

    Raises:
        ValueError: duplicate visit or worker ids.
    """
    if len({v.id for v in visits}) != len(visits):
        raise ValueError("duplicate visit id")
    if len({w.id for w in workers}) != len(workers):
        raise ValueError("duplicate worker id")

    lats = [v.lat for v in visits if v.lat is not None] + [w.lat for w in workers]
    cos_lat = math.cos(math.radians(sum(lats) / len(lats))) if lats else 1.0
    points: list[tuple[float, float] | None] = [
        _xy(v.lat, v.lon, cos_lat) if v.lat is not None and v.lon is not None else None for v in visits
    ]
    homes = [_xy(w.lat, w.lon, cos_lat) for w in workers]
    capacity = [w.capacity for w in workers]

    area_index: dict[Hashable, int] = {}
    visit_area = [area_index.setdefault(v.area_id, len(area_index)) for v in visits]
    eligible: list[list[int]] = [[] for _ in area_index]
    for w, worker in enumerate(workers):
        for area_id in worker.area_ids:
            a = area_index.get(area_id)
            if a is not None and capacity[w] > 0:
                eligible[a].append(w)

    ordered = sorted(range(len(visits)), key=lambda i: (-visits[i].priority, visits[i].due_on, i))
    placed, left_out = _place_by_priority(ordered, visit_area, eligible, capacity)

    by_area: list[list[int]] = [[] for _ in area_index]
    for v in placed:
        by_area[visit_area[v]].append(v)
    cost: list[list[int]] = []
    for a, members in enumerate(by_area):
        centre = _centre([p for v in members if (p := points[v]) is not None])
        cost.append([0 if centre is None else round(math.dist(centre, homes[w])) for w in eligible[a]])
    shares = _balanced_flow([len(m) for m in by_area], eligible, capacity, cost)

    mine: list[list[int]] = [[] for _ in workers]
    for a, members in enumerate(by_area):
        if members:
            for w, sector in _split_area(members, shares[a], points, homes).items():
                mine[w].extend(sector)

    priority = [v.priority for v in visits]
    plans: list[WorkerPlan[K, W]] = []
    for w, worker in enumerate(workers):
        days = _days(mine[w], points, priority, homes[w], worker.daily_capacity)
        plans.append(
            WorkerPlan(
                worker_id=worker.id,
                visit_ids=[visits[v].id for day in days for v in day],
                days=[[visits[v].id for v in day] for day in days],
            )
        )
    unplaced = [Unplaced(visit_id=visits[v].id, reason=reason) for v, reason in left_out]
    return Assignment(plans=plans, unplaced=unplaced)
