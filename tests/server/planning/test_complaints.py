"""Complaints through the API: intake, the urgent recheck, reporter privacy, matching,
resolution, the open/overdue/resolved report, refusals naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from server.planning.complaints import add_working_days
from tests.server.planning.helpers import add_household, error_paths, plan_all, set_visit_state, visits
from tests.support import LiveServer

CONTACT = "138-0000-1234"


def _complain(live: LiveServer, user: str, **body: Any) -> httpx.Response:
    payload = {"channel": "hotline", "summary": "has a car and a shop", **body}
    with live.as_user(user) as c:
        return c.post("/complaints/", json=payload)


def test_complaint_makes_an_urgent_recheck_or_joins_the_open_one(live: LiveServer) -> None:
    planned_household = add_household(live, "T1-a", approved_on=dt.date(2026, 12, 10))
    quiet_household = add_household(live, "T1-a", category="three_no", approved_on=dt.date(2026, 10, 1))
    [scheduled] = plan_all(live)

    joined = _complain(live, "sup1", subject={"household_id": planned_household["id"]}, reporter_contact=CONTACT)
    assert joined.status_code == 201, joined.text
    complaint = joined.json()
    assert complaint["visit_id"] == scheduled["id"]
    assert complaint["status"] == "open"
    assert "reporter_contact" not in complaint  # the supervisor does not see who reported
    today = dt.date.today()
    assert complaint["deadline_on"] == add_working_days(today, 10).isoformat()
    visit = {v["id"]: v for v in visits(live, "sup1")}[scheduled["id"]]
    assert (visit["priority"], visit["reason"]) == (2, "scheduled")

    fresh = _complain(live, "sup1", subject={"household_id": quiet_household["id"]}, channel="letter").json()
    new_visit = {v["id"]: v for v in visits(live, "sup1")}[fresh["visit_id"]]
    assert (new_visit["reason"], new_visit["priority"], new_visit["state"]) == ("complaint", 2, "planned")
    assert new_visit["due_on"] == fresh["deadline_on"]

    # a second complaint about the same household joins the same open visit
    second = _complain(live, "sup1", subject={"household_id": quiet_household["id"]}, channel="online").json()
    assert second["visit_id"] == fresh["visit_id"]


def test_reporter_contact_is_for_approvers_only(live: LiveServer) -> None:
    household = add_household(live, "T1-a", approved_on=dt.date(2026, 1, 5))
    created = _complain(
        live, "approver", subject={"household_id": household["id"]}, reporter_name="张三", reporter_contact=CONTACT
    )
    assert created.status_code == 201, created.text
    assert created.json()["reporter_contact"] == CONTACT
    complaint_id = created.json()["id"]
    for user, sees in (("approver", True), ("sup1", False), ("admin", False), ("auditor", False)):
        with live.as_user(user) as c:
            one = c.get(f"/complaints/{complaint_id}").json()
            listed = c.get("/complaints/").json()
            report = c.get("/complaints/report").json()
        for body in (one, listed[0], report["complaints"][0]):
            assert ("reporter_contact" in body) is sees, (user, body)
            assert ("reporter_name" in body) is sees
    with live.as_user("auditor") as c:
        trail = c.get("/audit/", params={"entity": "complaint", "entity_id": complaint_id}).text
    assert CONTACT not in trail
    assert "张三" not in trail


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "$.subject"),
        ({"subject": {}}, "$.subject"),
        ({"subject": {"name": "  "}}, "$.subject"),
        ({"subject": {"name": "赵六"}}, "$.subject.area_id"),
        (
            {"subject": {"name": "赵六", "area_id": 1}, "anonymous": True, "reporter_contact": CONTACT},
            "$.reporter_contact",
        ),
        ({"subject": {"name": "赵六", "area_id": 1}, "received_on": "2099-01-01"}, "$.received_on"),
        ({"subject": {"name": "赵六", "area_id": 1}, "channel": "pigeon"}, "$.channel"),
        ({"subject": {"name": "赵六", "area_id": 1}, "summary": ""}, "$.summary"),
    ],
)
def test_bad_complaints_are_refused_naming_the_field(live: LiveServer, body: dict[str, Any], path: str) -> None:
    payload = {"channel": "hotline", "summary": "lives well", **body}
    if "subject" in payload and payload["subject"].get("area_id") == 1:
        payload["subject"]["area_id"] = live.world.area_ids["T1-a"]
    with live.as_user("sup1") as c:
        response = c.post("/complaints/", json=payload)
        assert c.get("/complaints/").json() == []
    assert 400 <= response.status_code < 500, response.text
    assert error_paths(response) == [path]


def test_unmatched_person_then_match_then_resolve_and_report(live: LiveServer) -> None:
    household = add_household(live, "T1-b", category="three_no", approved_on=dt.date(2026, 10, 1))
    other_township = add_household(live, "T2-a", category="three_no", approved_on=dt.date(2026, 10, 1))
    subject = {"name": "赵六", "area_id": live.world.area_ids["T1-b"], "address": "east lane"}
    created = _complain(live, "sup1", subject=subject, channel="visit")
    assert created.status_code == 201, created.text
    complaint = created.json()
    assert "visit_id" not in complaint
    cid = complaint["id"]
    with live.as_user("sup1") as c:
        assert c.post(f"/complaints/{cid}/match", json={"household_id": other_township["id"]}).status_code == 404
        matched = c.post(f"/complaints/{cid}/match", json={"household_id": household["id"]})
        assert matched.status_code == 200, matched.text
        visit_id = matched.json()["visit_id"]
        early = c.post(f"/complaints/{cid}/resolve", json={"resolution": "checked at home", "substantiated": False})
        assert early.status_code == 409
        assert error_paths(early) == ["visit_id"]
        set_visit_state(live, visit_id, "submitted")
        short = c.post(f"/complaints/{cid}/resolve", json={"resolution": "ok", "substantiated": False})
        assert (short.status_code, error_paths(short)) == (400, ["$.resolution"])
        done = c.post(
            f"/complaints/{cid}/resolve",
            json={"resolution": "visited: no car, the shop belongs to a cousin", "substantiated": False},
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "resolved"
        twice = c.post(f"/complaints/{cid}/resolve", json={"resolution": "again and again", "substantiated": True})
        assert twice.status_code == 409

    old = _complain(
        live,
        "sup1",
        subject={"household_id": household["id"]},
        received_on=(dt.date.today() - dt.timedelta(days=30)).isoformat(),
    ).json()
    assert old["status"] == "overdue"
    _complain(live, "sup2", subject={"household_id": other_township["id"]})
    with live.as_user("sup1") as c:
        report = c.get("/complaints/report").json()
        overdue = c.get("/complaints/", params={"status": "overdue"}).json()
        opened = c.get("/complaints/", params={"status": "open"}).json()
    assert (report["total"], report["open"], report["overdue"], report["resolved"]) == (2, 0, 1, 1)
    assert report["deadline_days"] == 10
    assert [(a["area_code"], a["overdue"], a["resolved"]) for a in report["areas"]] == [("T1-b", 1, 1)]
    assert [c["id"] for c in overdue] == [old["id"]]
    assert [c["id"] for c in opened] == [old["id"]]
    with live.as_user("approver") as c:
        assert c.get("/complaints/report").json()["total"] == 3


def test_roles_on_complaints(live: LiveServer) -> None:
    household = add_household(live, "T1-a", approved_on=dt.date(2026, 1, 5))
    assert _complain(live, "worker1", subject={"household_id": household["id"]}).status_code == 403
    assert _complain(live, "auditor", subject={"household_id": household["id"]}).status_code == 403
    outside = _complain(live, "sup2", subject={"household_id": household["id"]})
    assert (outside.status_code, error_paths(outside)) == (404, ["$.subject.household_id"])
    created = _complain(live, "sup1", subject={"household_id": household["id"]}).json()
    with live.as_user("worker1") as c:
        assert c.get("/complaints/").status_code == 403
    with live.as_user("sup2") as c:
        assert c.get(f"/complaints/{created['id']}").status_code == 404
        assert c.get("/complaints/").json() == []
