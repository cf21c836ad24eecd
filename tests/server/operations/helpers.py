"""An install with one of everything ``recheck check`` and ``recheck backup`` look at: a capture
pushed from a tablet (with its receipt), its photo uploaded by tus and stored with renditions,
and an approved proposal paid on a built roster."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from schemas.capture import Capture, MemberStatus, Outcome, Photo, PhotoKind, SignatureMissing
from sync.client import DeviceClient
from tests.server.decisions.helpers import (
    accepted_visit,
    approve,
    create_household,
    first_of_next_month,
    generate,
    ok,
    proposal_of,
    to_notice,
)
from tests.support import PASSWORD, LiveServer, make_id_number


@dataclass
class Installed:
    capture_id: str
    visit_id: str
    photo_sha256: str
    month: str
    household_code: str
    proposal_id: str


def jpeg(colour: tuple[int, int, int] = (10, 120, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 90), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _tablet_capture_with_photo(live: LiveServer, tmp_path: Path) -> tuple[str, str, str]:
    world = live.world
    with live.as_user("admin") as admin:
        body = {
            "area_id": world.area_ids["T1-a"],
            "residence": "urban",
            "category": "general",
            "address": "check lane",
            "members": [
                {
                    "name": "李四",
                    "relation": "head",
                    "id_number": make_id_number("520111", dt.date(1971, 2, 3), 91),
                    "sex": "male",
                    "birth_date": "1971-02-03",
                }
            ],
        }
        household = ok(admin.post("/households/", json=body), 201)
        complaint = ok(
            admin.post(
                "/complaints/", json={"channel": "visit", "summary": "x", "subject": {"household_id": household["id"]}}
            ),
            201,
        )
        visit_id = complaint["visit_id"]
        item = {
            "visit_id": visit_id,
            "worker_id": str(world.user_ids["worker1"]),
            "visit_on": dt.date.today().isoformat(),
        }
        ok(admin.post("/assignments/", json={"items": [item]}))
    tablet = DeviceClient(tmp_path / "tablet.sqlite", live.base_url, seed=1, sleep=lambda _: None)
    try:
        tablet.login("worker1", PASSWORD)
        tablet.pull()
        held = tablet.household(household["id"])
        assert held is not None
        photo = jpeg()
        sha = hashlib.sha256(photo).hexdigest()
        form = Capture(
            outcome=Outcome.completed,
            members=[MemberStatus(member_id=m.id, present=True, no_income=True) for m in held.members],
            signature_missing=SignatureMissing.cannot_write,
            photos=[Photo(sha256=sha, kind=PhotoKind.other)],
        )
        capture_id = tablet.record_capture(visit_id, form, submit=True)
        assert capture_id is not None
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
    finally:
        tablet.close()
    return capture_id, visit_id, sha


def _approved_and_paid(live: LiveServer) -> tuple[str, str, str]:
    household = create_household(live, incomes=[("business", 60000), ("support", 30000)], benefit_amount=70000)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    to_notice(live, [pid])
    approved = approve(live, [pid])
    (month,) = approved["effective_from"]
    assert month == first_of_next_month().strftime("%Y-%m")
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{month}/build"))
        rows = ok(c.get(f"/payments/months/{month}/rows", params={"limit": 5000}))
    row = next(r for r in rows if r["household_id"] == household["id"])
    assert row["proposal_id"] == pid
    return month, row["household_code"], pid


def install_everything(live: LiveServer, tmp_path: Path) -> Installed:
    capture_id, visit_id, sha = _tablet_capture_with_photo(live, tmp_path)
    month, code, pid = _approved_and_paid(live)
    return Installed(capture_id, visit_id, sha, month, code, pid)
