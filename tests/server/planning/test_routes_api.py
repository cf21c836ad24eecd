"""Day routes through the API: optimised order from the office, unlocated stops last by village,
manual reorder, GeoJSON, who may see and change a route."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.server.planning.helpers import add_household, assign, error_paths, plan_all, visits
from tests.support import LiveServer

DAY = "2027-01-12"
APPROVED = dt.date(2026, 11, 15)
# a loop of points around the T1-a office (26.46, 106.66), deliberately listed out of order
POINTS = [(26.470, 106.690), (26.455, 106.650), (26.480, 106.660), (26.450, 106.680), (26.465, 106.640)]


def _setup(live: LiveServer) -> tuple[str, list[str], str]:
    for lat, lon in POINTS:
        add_household(live, "T1-a", approved_on=APPROVED, lat=lat, lon=lon)
    unlocated = add_household(live, "T1-a", approved_on=APPROVED)
    planned = plan_all(live)
    worker = str(live.world.user_ids["worker1"])
    response = assign(live, "sup1", [{"visit_id": v["id"], "worker_id": worker, "visit_on": DAY} for v in planned])
    assert response.status_code == 200, response.text
    by_household = {v["household_id"]: v["id"] for v in planned}
    return worker, [v["id"] for v in planned], by_household[unlocated["id"]]


def _route(live: LiveServer, user: str, worker: str, suffix: str = "", **params: Any) -> Any:
    with live.as_user(user) as c:
        return c.get(f"/routes/{worker}/{DAY}{suffix}", params=params)


def test_optimised_route_from_the_office_is_stored_and_travels_with_the_visits(live: LiveServer) -> None:
    worker, ids, unlocated = _setup(live)
    with live.as_user("sup1") as c:
        response = c.post(f"/routes/{worker}/{DAY}/optimize")
    assert response.status_code == 200, response.text
    route = response.json()
    assert route["optimized"] is True
    assert (route["start_lat"], route["start_lon"]) == (26.46, 106.66)
    stops = route["stops"]
    assert [s["order"] for s in stops] == [1, 2, 3, 4, 5, 6]
    assert stops[-1]["visit_id"] == unlocated
    assert stops[-1]["village"] == "Community 1a"
    assert "leg_m" not in stops[-1]
    assert all(s["leg_m"] > 0 for s in stops[:-1])
    assert route["total_m"] == sum(s["leg_m"] for s in stops[:-1])
    assert route["total_m"] <= route["nearest_neighbour_m"]

    # the worker sees the same order; the visits carry it to the tablet
    again = _route(live, "worker1", worker).json()
    assert [s["visit_id"] for s in again["stops"]] == [s["visit_id"] for s in stops]
    mine = {v["id"]: v for v in visits(live, "worker1", visit_on=DAY)}
    assert {mine[s["visit_id"]]["route_order"] for s in stops} == {1, 2, 3, 4, 5, 6}
    assert sorted(ids) == sorted(mine)

    geo = _route(live, "worker1", worker, "/geojson")
    assert geo.status_code == 200
    assert geo.headers["content-type"].startswith("application/geo+json")
    features = geo.json()["features"]
    line = next(f for f in features if f["geometry"] and f["geometry"]["type"] == "LineString")
    assert line["geometry"]["coordinates"][0] == [106.66, 26.46]  # [lon, lat]
    assert len(line["geometry"]["coordinates"]) == 6
    assert [f["geometry"] for f in features if f["properties"].get("visit_id") == unlocated] == [None]


def test_manual_reorder_and_its_refusals(live: LiveServer) -> None:
    worker, ids, _ = _setup(live)
    order = list(reversed(ids))
    with live.as_user("sup1") as c:
        response = c.put(f"/routes/{worker}/{DAY}", json={"visit_ids": order})
        assert response.status_code == 200, response.text
        assert [s["visit_id"] for s in response.json()["stops"]] == order
        missing = c.put(f"/routes/{worker}/{DAY}", json={"visit_ids": order[:-1]})
        twice = c.put(f"/routes/{worker}/{DAY}", json={"visit_ids": [*order, order[0]]})
        other_day = c.put(f"/routes/{worker}/2027-01-13", json={"visit_ids": order})
        empty_day = c.post(f"/routes/{worker}/2027-01-13/optimize")
        bad_point = c.get(f"/routes/{worker}/{DAY}", params={"start": "point", "lat": 26.5})
    assert [s["visit_id"] for s in _route(live, "worker1", worker).json()["stops"]] == order
    assert (missing.status_code, error_paths(missing)) == (422, ["$.visit_ids"])
    assert (twice.status_code, error_paths(twice)) == (422, [f"$.visit_ids[{len(order)}]"])
    assert (other_day.status_code, error_paths(other_day)) == (422, ["$.visit_ids[0]"])
    assert (empty_day.status_code, error_paths(empty_day)) == (404, ["visit_on"])
    assert (bad_point.status_code, error_paths(bad_point)) == (422, ["lon"])


def test_who_may_see_and_change_a_route(live: LiveServer) -> None:
    worker, ids, _ = _setup(live)
    assert _route(live, "worker1b", worker).status_code == 404
    assert _route(live, "sup2", worker).status_code == 404
    assert _route(live, "sup1", worker).status_code == 200
    assert _route(live, "approver", worker).status_code == 200
    with live.as_user("worker1") as c:
        assert c.post(f"/routes/{worker}/{DAY}/optimize").status_code == 403
        assert c.put(f"/routes/{worker}/{DAY}", json={"visit_ids": ids}).status_code == 403
    with live.as_user("sup2") as c:
        assert c.post(f"/routes/{worker}/{DAY}/optimize").status_code == 404
    with live.as_user("sup1") as c:
        start = c.get(f"/routes/{worker}/{DAY}", params={"start": "point", "lat": 26.48, "lon": 106.69}).json()
    assert (start["start_lat"], start["start_lon"]) == (26.48, 106.69)
