"""Who may call which planning endpoint: every role against every endpoint, and area scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.server.planning.helpers import add_household, assign, plan_all
from tests.support import LiveServer

DAY = "2027-01-12"
ROLES = ("admin", "approver", "auditor", "sup1", "sup2", "worker1", "worker1b", "worker2")


def _calls(live: LiveServer, visit: str, worker: str) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    return {
        "plan": ("POST", "/plans/", {"period": "2027Q1", "area_ids": [live.world.area_ids["T1-a"]]}),
        "due": ("GET", "/plans/due", None),
        "visits": ("GET", "/visits/", None),
        "visit": ("GET", f"/visits/{visit}", None),
        "assign": ("POST", "/assignments/", {"items": [{"visit_id": visit, "worker_id": worker, "visit_on": DAY}]}),
        "suggest": ("POST", "/assignments/suggest", {"worker_ids": [worker], "start_on": DAY}),
        "route": ("GET", f"/routes/{worker}/{DAY}", None),
        "optimize": ("POST", f"/routes/{worker}/{DAY}/optimize", None),
        "complaints": ("GET", "/complaints/", None),
        "report": ("GET", "/complaints/report", None),
    }


# expected status per role; the T1-a visit and worker1 belong to township T1 (sup1's)
EXPECTED: dict[str, dict[str, int]] = {
    "plan": {"admin": 200, "sup1": 200, "sup2": 403, "approver": 403, "auditor": 403, "worker1": 403},
    "due": {r: 200 for r in ROLES},
    "visits": {r: 200 for r in ROLES},
    "visit": {
        "admin": 200,
        "approver": 200,
        "auditor": 200,
        "sup1": 200,
        "sup2": 404,
        "worker1": 200,
        "worker1b": 404,
        "worker2": 404,
    },
    "assign": {"admin": 200, "sup1": 200, "sup2": 404, "approver": 403, "auditor": 403, "worker1": 403},
    "suggest": {"admin": 200, "sup1": 200, "sup2": 422, "approver": 403, "worker1": 403},
    "route": {
        "admin": 200,
        "approver": 200,
        "auditor": 200,
        "sup1": 200,
        "sup2": 404,
        "worker1": 200,
        "worker1b": 404,
        "worker2": 404,
    },
    "optimize": {"admin": 200, "sup1": 200, "sup2": 404, "approver": 403, "auditor": 403, "worker1": 403},
    "complaints": {"admin": 200, "approver": 200, "auditor": 200, "sup1": 200, "sup2": 200, "worker1": 403},
    "report": {"admin": 200, "approver": 200, "auditor": 200, "sup1": 200, "worker1": 403, "worker2": 403},
}


def test_role_and_area_matrix(live: LiveServer) -> None:
    add_household(live, "T1-a", approved_on=dt.date(2026, 11, 15), lat=26.47, lon=106.67)
    [visit] = plan_all(live)
    worker = str(live.world.user_ids["worker1"])
    assert assign(live, "sup1", [{"visit_id": visit["id"], "worker_id": worker, "visit_on": DAY}]).status_code == 200
    calls = _calls(live, visit["id"], worker)
    wrong: list[str] = []
    for name, expected in EXPECTED.items():
        method, path, body = calls[name]
        for role, status in expected.items():
            with live.as_user(role) as c:
                response: httpx.Response = c.request(method, path, json=body)
            if response.status_code != status:
                wrong.append(
                    f"{role} {method} {path}: {response.status_code} (expected {status}) {response.text[:120]}"
                )
    assert wrong == []
    # the other township's supervisor sees none of T1's visits, complaints or counts
    with live.as_user("sup2") as c:
        assert c.get("/visits/").json()["items"] == []
        assert c.get("/plans/due").json()["areas"] == []
    with live.as_user("worker2") as c:
        assert c.get("/visits/").json()["items"] == []
