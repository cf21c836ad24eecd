"""The fleet simulation in CI: 20 tablets × 2 days through the fault proxy, nothing lost or doubled.

Also the evidence rule the simulation found broken: photos of a capture whose visit was taken away
(reassigned after the worker captured it offline) must still upload.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from pathlib import Path

import httpx
from PIL import Image

from schemas.capture import Capture, MemberStatus, Outcome, Photo, PhotoKind, SignatureMissing
from server.simulation import simulate
from sync.client import DeviceClient
from sync.simulation.faultproxy import FAULT_KINDS
from sync.simulation.fleet import Fleet, FleetConfig
from tests.support import PASSWORD, LiveServer, make_id_number


def test_ci_fleet_through_the_faulty_network(tmp_path: Path) -> None:
    config = FleetConfig(devices=20, days=2, visits_per_day=2, photos_per_visit=1, threads=4, seed=7)
    report = simulate(config, fault_rate=0.15, work_dir=tmp_path).report
    print("\n" + report.render())
    assert report.captures_made >= 76  # a tablet whose every retry failed one morning captures less that day
    assert report.captures_lost == 0, report.unconverged_detail
    assert report.captures_duplicated == 0
    assert report.photos_lost == report.photos_duplicated == 0
    assert report.half_written_visits == 0
    assert report.unconverged == 0, report.unconverged_detail
    assert report.captures_stored == report.captures_made
    assert report.photos_stored == report.photos_made == report.captures_made
    assert set(report.faults) == set(FAULT_KINDS)
    assert all(report.faults[kind] > 0 for kind in FAULT_KINDS), report.faults
    assert 0 < report.conflicts.get("out_of_scope_capture", 0) <= report.reassigned
    assert report.conflicts.get("field", 0) > 0


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_photos_of_a_capture_taken_away_still_upload(live: LiveServer, tmp_path: Path) -> None:
    world = live.world
    with live.as_user("admin") as admin:
        body = {
            "area_id": world.area_ids["T1-a"],
            "residence": "urban",
            "category": "general",
            "address": "reassigned lane",
            "members": [
                {
                    "name": "Head",
                    "relation": "head",
                    "id_number": make_id_number("520111", dt.date(1970, 1, 1), 77),
                    "sex": "male",
                    "birth_date": "1970-01-01",
                }
            ],
        }
        household = admin.post("/households/", json=body).json()
        complaint = admin.post(
            "/complaints/", json={"channel": "visit", "summary": "x", "subject": {"household_id": household["id"]}}
        ).json()
        visit_id = complaint["visit_id"]
        item = {"visit_id": visit_id, "worker_id": str(world.user_ids["worker1"]), "visit_on": "2026-11-26"}
        assert admin.post("/assignments/", json={"items": [item]}).status_code == 200
    tablet = DeviceClient(tmp_path / "w1.sqlite", live.base_url, seed=1, sleep=lambda _: None)
    try:
        tablet.login("worker1", PASSWORD)
        tablet.pull()
        held = tablet.household(household["id"])
        assert held is not None
        photo = _jpeg()
        sha = hashlib.sha256(photo).hexdigest()
        form = Capture(
            outcome=Outcome.completed,
            members=[MemberStatus(member_id=m.id, present=True, no_income=True) for m in held.members],
            signature_missing=SignatureMissing.cannot_write,
            photos=[Photo(sha256=sha, kind=PhotoKind.other)],
        )
        tablet.record_capture(visit_id, form, submit=True)
        with live.as_user("admin") as admin:  # the supervisor gives the visit to a colleague meanwhile
            moved = {**item, "worker_id": str(world.user_ids["worker1b"])}
            assert admin.post("/assignments/", json={"items": [moved]}).status_code == 200
        assert tablet.push().acknowledged == 1
        meta = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}"
            for k, v in (("sha256", sha), ("visit_id", visit_id), ("kind", "house_outside"))
        )
        created = tablet.transport.http.post(
            "/uploads/",
            content=photo,
            headers={
                "Authorization": f"Bearer {tablet.store.get('access_token')}",
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str(len(photo)),
                "Upload-Metadata": meta,
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert created.status_code == 201, created.text
        with live.as_user("sup1") as sup:
            photos = sup.get(f"/visits/{visit_id}/photos").json()
        assert [p["sha256"] for p in photos["photos"] if p["status"] == "stored"] == [sha]
    finally:
        tablet.close()


class _LosesFirstAnswer(httpx.BaseTransport):
    """Delivers every request, but loses the answer to the first POST to ``path`` (as when the
    server is killed between its commit and its answer)."""

    def __init__(self, path: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.path = path
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path == self.path and not self.lost:
            response.read()
            self.lost += 1
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response


def test_setup_survives_a_lost_answer_to_a_create(live: LiveServer, tmp_path: Path) -> None:
    """The office sends the household again after losing the answer: the same household comes
    back (Idempotency-Key), not a 409 duplicate_person that stops the run."""
    config = FleetConfig(devices=2, days=1, visits_per_day=1, workers_per_community=2, threads=1, seed=3)
    fleet = Fleet(live.base_url, ("admin", PASSWORD), live.world.area_ids["C"], config, tmp_path)
    lossy = _LosesFirstAnswer("/households/")
    fleet.office = httpx.Client(base_url=live.base_url, transport=lossy, timeout=30)
    try:
        fleet.setup()
    finally:
        fleet.close()
    assert lossy.lost == 1
    assert sorted(len(d.households) for d in fleet.devices) == [1, 1]
    with live.as_user("admin") as admin:
        listed = admin.get("/households/", params={"limit": 100}).json()["items"]
    assert sorted(h["id"] for h in listed) == sorted(h for d in fleet.devices for h in d.households)
