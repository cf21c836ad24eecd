"""Day routes: order a worker's stops from a start point, nearest neighbour then 2-opt.

Distances are great-circle (haversine) metres over a distance matrix computed once. Stops
without a GPS fix cannot be placed on the route: they follow it, grouped by village (villages
by name, unnamed last; stops in input order within a village). The path is open (it ends at
the last stop) unless ``return_to_start`` is set.

Pure and framework-free; returns plain data and a GeoJSON ``FeatureCollection`` (RFC 7946:
positions are ``[lon, lat]``) that a map can draw as is.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "EARTH_RADIUS_M",
    "Route",
    "Stop",
    "distance_matrix",
    "haversine_m",
    "nearest_neighbour_only",
    "plan_route",
]

K = TypeVar("K", bound=Hashable)

#: Mean earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Stop(Generic[K]):
    """A place to visit; ``lat``/``lon`` ``None`` when the household has no GPS fix yet."""

    id: K
    lat: float | None
    lon: float | None
    village: str | None = None


@dataclass(frozen=True, slots=True)
class Route(Generic[K]):
    """An ordered day route.

    ``ordered_ids``: every stop, located ones in route order, then the unlocated ones.
    ``legs_m``: metres of each leg of the located part: ``legs_m[0]`` from the start to the
    first stop, …, plus the way back when the route returns to the start. ``total_m`` is their
    sum. ``unlocated_ids``: the stops without GPS (also at the end of ``ordered_ids``).
    """

    ordered_ids: list[K]
    legs_m: list[int]
    total_m: int
    unlocated_ids: list[K]
    geojson: dict[str, Any]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_matrix(points: Sequence[tuple[float, float]]) -> list[list[float]]:
    """Symmetric haversine matrix (metres) of ``(lat, lon)`` points."""
    n = len(points)
    rad = [(math.radians(lat), math.radians(lon)) for lat, lon in points]
    cos = [math.cos(lat) for lat, _ in rad]
    matrix = [[0.0] * n for _ in range(n)]
    two_r = 2 * EARTH_RADIUS_M
    sin, asin, sqrt = math.sin, math.asin, math.sqrt
    for i in range(n):
        lat_i, lon_i = rad[i]
        cos_i = cos[i]
        row = matrix[i]
        for j in range(i + 1, n):
            lat_j, lon_j = rad[j]
            a = sin((lat_j - lat_i) / 2) ** 2 + cos_i * cos[j] * sin((lon_j - lon_i) / 2) ** 2
            d = two_r * asin(min(1.0, sqrt(a)))
            row[j] = d
            matrix[j][i] = d
    return matrix


def _check_point(lat: float, lon: float, what: str) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"{what}: ({lat}, {lon}) is not a valid latitude/longitude")


def _nearest_neighbour(matrix: list[list[float]]) -> list[int]:
    """Greedy order of nodes 1..n from node 0 (ties: lowest index)."""
    n = len(matrix)
    left = set(range(1, n))
    order: list[int] = []
    here = 0
    while left:
        row = matrix[here]
        here = min(left, key=lambda j: (row[j], j))
        left.remove(here)
        order.append(here)
    return order


def _two_opt(order: list[int], matrix: list[list[float]], closed: bool) -> list[int]:
    """Improve a path 0 → order… (→ 0 when ``closed``) by segment reversals until none helps."""
    path = [0, *order, 0] if closed else [0, *order]
    last = len(path) - 1 if closed else len(path)
    eps = 1e-7
    improved = True
    while improved:
        improved = False
        for i in range(1, last - 1):
            a, b = path[i - 1], path[i]
            row_a, row_b = matrix[a], matrix[b]
            d_ab = row_a[b]
            for j in range(i + 1, last):
                c = path[j]
                row_c = matrix[c]
                if j + 1 < len(path):
                    d = path[j + 1]
                    delta = row_a[c] + row_b[d] - d_ab - row_c[d]
                else:  # open path: the reversed segment becomes the tail
                    delta = row_a[c] - d_ab
                if delta < -eps:
                    path[i : j + 1] = path[i : j + 1][::-1]
                    b = path[i]
                    row_b = matrix[b]
                    d_ab = row_a[b]
                    improved = True
    return path[1:-1] if closed else path[1:]


def _build(
    start: tuple[float, float],
    stops: Sequence[Stop[K]],
    *,
    improve: bool,
    return_to_start: bool,
) -> Route[K]:
    _check_point(start[0], start[1], "start")
    seen: set[K] = set()
    located: list[Stop[K]] = []
    unlocated: list[Stop[K]] = []
    for stop in stops:
        if stop.id in seen:
            raise ValueError(f"stop {stop.id!r} appears twice")
        seen.add(stop.id)
        if stop.lat is None or stop.lon is None:
            unlocated.append(stop)
        else:
            _check_point(stop.lat, stop.lon, f"stop {stop.id!r}")
            located.append(stop)

    points = [start] + [(s.lat, s.lon) for s in located]
    matrix = distance_matrix(points)  # type: ignore[arg-type]  # located stops have both
    order = _nearest_neighbour(matrix)
    if improve and len(order) > 2:
        order = _two_opt(order, matrix, return_to_start)
    nodes = [0, *order, 0] if return_to_start and order else [0, *order]
    legs = [round(matrix[a][b]) for a, b in itertools.pairwise(nodes)]

    unlocated.sort(key=lambda s: (s.village is None, s.village or ""))
    route_stops = [located[i - 1] for i in order]
    ordered = [s.id for s in route_stops] + [s.id for s in unlocated]
    return Route(
        ordered_ids=ordered,
        legs_m=legs,
        total_m=sum(legs),
        unlocated_ids=[s.id for s in unlocated],
        geojson=_geojson(start, route_stops, unlocated, legs, return_to_start),
    )


def _position(lat: float, lon: float) -> list[float]:
    return [round(lon, 6), round(lat, 6)]


def _geojson(
    start: tuple[float, float],
    route_stops: list[Stop[K]],
    unlocated: list[Stop[K]],
    legs: list[int],
    return_to_start: bool,
) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    line = [_position(*start)] + [_position(s.lat, s.lon) for s in route_stops]  # type: ignore[arg-type]
    if return_to_start and route_stops:
        line.append(_position(*start))
    if len(line) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"kind": "route", "total_m": sum(legs), "legs_m": legs},
            }
        )
    features.append(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": _position(*start)},
            "properties": {"kind": "start"},
        }
    )
    for order, stop in enumerate(route_stops, start=1):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": _position(stop.lat, stop.lon)},  # type: ignore[arg-type]
                "properties": {"kind": "stop", "id": stop.id, "order": order, "village": stop.village},
            }
        )
    for order, stop in enumerate(unlocated, start=len(route_stops) + 1):
        features.append(
            {
                "type": "Feature",
                "geometry": None,
                "properties": {
                    "kind": "stop",
                    "id": stop.id,
                    "order": order,
                    "village": stop.village,
                    "located": False,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def plan_route(start: tuple[float, float], stops: Sequence[Stop[K]], *, return_to_start: bool = False) -> Route[K]:
    """Order ``stops`` from ``start`` (lat, lon): nearest neighbour, then 2-opt.

    Raises:
        ValueError: a duplicate stop id or an impossible coordinate.
    """
    return _build(start, stops, improve=True, return_to_start=return_to_start)


def nearest_neighbour_only(
    start: tuple[float, float], stops: Sequence[Stop[K]], *, return_to_start: bool = False
) -> Route[K]:
    """Like :func:`plan_route` without the 2-opt pass (for comparison and benchmarks)."""
    return _build(start, stops, improve=False, return_to_start=return_to_start)
