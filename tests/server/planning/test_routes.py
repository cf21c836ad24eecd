"""Day routes: distances, nearest neighbour + 2-opt, stops without GPS, GeoJSON."""

from __future__ import annotations

import itertools
import math
import random
import time

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.planning.routes import (
    EARTH_RADIUS_M,
    Route,
    Stop,
    distance_matrix,
    haversine_m,
    nearest_neighbour_only,
    plan_route,
)

START = (35.0, 117.0)


def _stops(points: list[tuple[float, float]]) -> list[Stop[int]]:
    return [Stop(id=i, lat=lat, lon=lon) for i, (lat, lon) in enumerate(points, start=1)]


def _random_stops(rng: random.Random, n: int, box_km: float = 40.0) -> list[Stop[int]]:
    dlat = box_km / 111.2
    dlon = box_km / (111.2 * math.cos(math.radians(START[0])))
    return [
        Stop(id=i, lat=START[0] + rng.uniform(-dlat, dlat) / 2, lon=START[1] + rng.uniform(-dlon, dlon) / 2)
        for i in range(1, n + 1)
    ]


def _length(start: tuple[float, float], stops: list[Stop[int]], order: list[int], closed: bool = False) -> float:
    by_id = {s.id: s for s in stops}
    points = [start]
    for i in order:
        lat, lon = by_id[i].lat, by_id[i].lon
        assert lat is not None
        assert lon is not None
        points.append((lat, lon))
    if closed:
        points.append(start)
    return sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(points))


def test_haversine_known_distances() -> None:
    assert haversine_m(0, 0, 1, 0) == pytest.approx(math.pi / 180 * EARTH_RADIUS_M)
    assert haversine_m(35, 117, 35, 117) == 0
    # Beijing Tiananmen → Shanghai People's Square, about 1,068 km.
    assert haversine_m(39.9087, 116.3975, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.01)
    assert haversine_m(0, 179.5, 0, -179.5) == pytest.approx(haversine_m(0, 0, 0, 1))


def test_distance_matrix_is_symmetric_with_zero_diagonal() -> None:
    points = [(35.0, 117.0), (35.1, 117.2), (34.9, 116.8)]
    m = distance_matrix(points)
    for i, j in itertools.product(range(3), repeat=2):
        assert m[i][j] == pytest.approx(haversine_m(*points[i], *points[j]))
        assert m[i][j] == m[j][i]
    assert [m[i][i] for i in range(3)] == [0, 0, 0]


def test_collinear_stops_are_visited_in_line() -> None:
    stops = _stops([(35.0, 117.0 + 0.01 * k) for k in (5, 2, 9, 1, 7)])
    route = plan_route(START, stops)
    assert route.ordered_ids == [4, 2, 1, 5, 3]
    assert route.total_m == sum(route.legs_m)
    assert route.total_m == pytest.approx(haversine_m(*START, 35.0, 117.09), abs=5)


def test_two_opt_shortens_nearest_neighbour_routes() -> None:
    rng = random.Random(2026)
    ratios = []
    for _ in range(20):
        stops = _random_stops(rng, 40)
        nn = nearest_neighbour_only(START, stops)
        best = plan_route(START, stops)
        assert best.total_m <= nn.total_m
        ratios.append(best.total_m / nn.total_m)
    assert sum(ratios) / len(ratios) < 0.97


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 7), st.booleans())
def test_never_worse_than_nearest_neighbour_and_close_to_optimal(seed: int, n: int, closed: bool) -> None:
    stops = _random_stops(random.Random(seed), n)
    nn = nearest_neighbour_only(START, stops, return_to_start=closed)
    best = plan_route(START, stops, return_to_start=closed)
    assert sorted(best.ordered_ids) == sorted(s.id for s in stops)
    assert best.total_m <= nn.total_m
    assert len(best.legs_m) == n + (1 if closed else 0)
    assert best.total_m == pytest.approx(_length(START, stops, best.ordered_ids, closed), abs=n + 1)
    optimum = min(_length(START, stops, list(p), closed) for p in itertools.permutations(range(1, n + 1)))
    assert best.total_m <= optimum * 1.25 + n


def test_result_is_two_opt_optimal() -> None:
    stops = _random_stops(random.Random(7), 40)
    route = plan_route(START, stops)
    order = route.ordered_ids
    length = _length(START, stops, order)
    for i, j in itertools.combinations(range(len(order)), 2):
        candidate = order[:i] + order[i : j + 1][::-1] + order[j + 1 :]
        assert _length(START, stops, candidate) >= length - 1e-3


def test_stops_without_gps_follow_grouped_by_village() -> None:
    stops: list[Stop[str]] = [
        Stop("a", 35.01, 117.0, "Li"),
        Stop("b", None, None, "Zhang"),
        Stop("c", None, 117.0, "Li"),
        Stop("d", 35.02, 117.0, "Zhang"),
        Stop("e", None, None, None),
        Stop("f", None, None, "Li"),
        Stop("g", None, None, "Zhang"),
    ]
    route = plan_route(START, stops)
    assert route.ordered_ids == ["a", "d", "c", "f", "b", "g", "e"]
    assert route.unlocated_ids == ["c", "f", "b", "g", "e"]
    assert len(route.legs_m) == 2


def test_geojson() -> None:
    stops: list[Stop[str]] = [Stop("x", 35.02, 117.0, "Li"), Stop("y", 35.01, 117.0, "Li"), Stop("z", None, None, "Wu")]
    route = plan_route(START, stops, return_to_start=True)
    doc = msgspec.json.decode(msgspec.json.encode(route.geojson))
    assert doc["type"] == "FeatureCollection"
    line, start, first, second, unplaced = doc["features"]
    assert line["geometry"] == {
        "type": "LineString",
        "coordinates": [[117.0, 35.0], [117.0, 35.01], [117.0, 35.02], [117.0, 35.0]],
    }
    assert line["properties"]["total_m"] == route.total_m
    assert start["properties"] == {"kind": "start"}
    assert (first["properties"]["id"], first["properties"]["order"]) == ("y", 1)
    assert first["geometry"] == {"type": "Point", "coordinates": [117.0, 35.01]}
    assert (second["properties"]["id"], second["properties"]["order"]) == ("x", 2)
    assert unplaced["geometry"] is None
    assert unplaced["properties"] == {"kind": "stop", "id": "z", "order": 3, "village": "Wu", "located": False}


def test_no_stops() -> None:
    route: Route[int] = plan_route(START, [])
    assert (route.ordered_ids, route.legs_m, route.total_m) == ([], [], 0)
    assert [f["properties"]["kind"] for f in route.geojson["features"]] == ["start"]


@pytest.mark.parametrize(
    ("start", "stops", "message"),
    [
        (START, [Stop(1, 35.0, 117.0), Stop(1, 35.1, 117.0)], "appears twice"),
        (START, [Stop(1, 95.0, 117.0)], "not a valid latitude"),
        ((35.0, 200.0), [], "start"),
    ],
)
def test_refusals(start: tuple[float, float], stops: list[Stop[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_route(start, stops)


def test_forty_stops_are_fast() -> None:
    stops = _random_stops(random.Random(1), 40)
    began = time.perf_counter()
    plan_route(START, stops)
    assert time.perf_counter() - began < 0.5
