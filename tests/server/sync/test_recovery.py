"""A revoked tablet's work is never stranded: it is told so in words, exports its unsent outbox
and photos to one file, and a supervisor imports the file so the captures reach review."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.capture import Photo
from schemas.media import PhotoKind
from schemas.sync import HouseholdPatch
from server.audit.models import AuditEvent
from server.cli import main
from server.sync.models import CaptureRecord
from sync.client import DeviceClient, Refused
from tests.server.media.conftest import jpeg_bytes
from tests.server.sync.factory import make_visits, run_db, visit_state
from tests.server.sync.test_e2e import device, form
from tests.support import LiveServer


def _revoked_tablet_with_work(live: LiveServer, tmp_path: Path) -> tuple[DeviceClient, dict[str, Any]]:
    """worker1's tablet with a submitted capture (one photo) and a household correction unsent, then revoked."""
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    tablet = device(live, tmp_path, "worker1")
    tablet.pull()
    tablet.pull()  # the cursor proves receipt: downloaded
    photo = jpeg_bytes(seed=61)
    sha = hashlib.sha256(photo).hexdigest()
    (tmp_path / "camera").mkdir()
    (tmp_path / "camera" / "house.jpg").write_bytes(photo)
    household = tablet.household(household_id)
    assert household is not None
    capture = msgspec.structs.replace(
        form([m.id for m in household.members]), photos=[Photo(sha256=sha, kind=PhotoKind.house_outside)]
    )
    capture_id = tablet.record_capture(visit_id, capture, submit=True)
    tablet.edit_household(household_id, HouseholdPatch(phone="13900001111"))
    with live.as_user("sup1") as c:
        assert c.post(f"/devices/{tablet.device_id}/revoke").status_code == 200
    return tablet, {"visit": visit_id, "household": household_id, "capture": capture_id, "photo": photo, "sha": sha}


def _import(live: LiveServer, username: str, device_id: str, body: bytes) -> Any:
    with live.as_user(username) as c:
        return c.post(f"/reviews/devices/{device_id}/import", content=body)


def test_a_revoked_tablets_export_reaches_review_and_loses_nothing(
    live: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = live.settings.database_url
    tablet, held = _revoked_tablet_with_work(live, tmp_path)
    with pytest.raises(Refused) as refused:
        tablet.push()
    assert refused.value.code == "device_revoked"
    assert "was revoked on" in refused.value.body["message"]
    assert tablet.status()["outbox_pending"] == 2  # nothing left the tablet
    store = tablet.store.path
    tablet.close()

    out = tmp_path / "tablet-export.json"
    base = ["device", "--store", store, "--server", live.base_url]
    capsys.readouterr()
    assert main([*base, "export", str(out), str(tmp_path / "camera")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mutations"] == 2
    assert summary["photos"] == 1
    assert summary["photos_without_file"] == {}
    exported = json.loads(out.read_bytes())
    assert exported["format"] == "recheck-device-export"
    assert [m["entity"] for m in exported["mutations"]] == ["capture", "household"]

    answer = _import(live, "sup1", exported["device_id"], out.read_bytes())
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert [r["status"] for r in result["results"]] == ["applied", "applied"]
    assert result["photos"] == [{"visit_id": held["visit"], "sha256": held["sha"], "status": "stored"}]
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{held['visit']}").json()
        household = c.get(f"/households/{held['household']}").json()
        photos = c.get(f"/visits/{held['visit']}/photos").json()
    [capture] = review["captures"]
    assert capture["id"] == held["capture"]
    assert capture["role"] == "alternate"  # an out-of-scope capture, for the supervisor to choose
    assert capture["submitted_at"]
    [flag] = [x for x in review["conflicts"] if x["kind"] == "out_of_scope_capture"]
    assert flag["entity_id"] == held["capture"]
    assert flag["device_id"] == exported["device_id"]
    assert review.get("missing_photos", []) == []
    assert visit_state(url, held["visit"]) == "downloaded"  # the import moves no visit by itself
    assert household["phone"] == "13900001111"
    assert [p["status"] for p in photos["photos"]] == ["stored"]

    # importing the same file again changes nothing
    again = _import(live, "sup1", exported["device_id"], out.read_bytes()).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert again["photos"][0]["status"] == "already_stored"

    async def counts(session: AsyncSession) -> tuple[int, list[tuple[Any, ...]]]:
        captures = await session.scalar(
            select(func.count()).select_from(CaptureRecord).where(CaptureRecord.visit_id == uuid.UUID(held["visit"]))
        )
        audit = await session.execute(
            select(AuditEvent.actor_id, AuditEvent.changes).where(
                AuditEvent.action == "device.import", AuditEvent.entity_id == exported["device_id"]
            )
        )
        return int(captures or 0), [tuple(row) for row in audit]

    captures, audit = run_db(url, counts)
    assert captures == 1
    assert len(audit) == 2
    assert {str(actor) for actor, _ in audit} == {str(live.world.user_ids["sup1"])}
    assert audit[0][1]["results"] == {"applied": 2}
    assert audit[1][1]["results"] == {"duplicate": 2}


def test_an_import_is_refused_unless_it_is_this_revoked_tablets_file(live: LiveServer, tmp_path: Path) -> None:
    tablet, _held = _revoked_tablet_with_work(live, tmp_path)
    out = tmp_path / "export.json"
    tablet.export(out, [tmp_path / "camera"])
    device_id = tablet.device_id
    assert device_id is not None
    body = out.read_bytes()
    document = json.loads(body)
    active = device(live, tmp_path, "worker1", "second tablet")

    forged = _import(live, "sup1", device_id, json.dumps({**document, "device_secret": "guess"}).encode())
    assert forged.status_code == 422
    assert forged.json()["errors"][0]["path"] == "$.device_secret"
    elsewhere = _import(live, "sup1", str(active.device_id), body)
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["path"] == "$.device_id"
    active.export(tmp_path / "active.json")  # a tablet that still syncs sends its own work
    still_active = _import(live, "sup1", str(active.device_id), (tmp_path / "active.json").read_bytes())
    assert still_active.status_code == 409
    assert still_active.json()["code"] == "device_active"
    assert _import(live, "sup2", device_id, body).status_code == 404  # another township's supervisor
    assert _import(live, "worker1", device_id, body).status_code == 403
    broken = _import(live, "sup1", device_id, json.dumps({**document, "exported_at": "yesterday"}).encode())
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["path"] == "$.exported_at"
    # one bad mutation is one rejected result, the rest still applies
    bad = {**document, "mutations": [{"entity": "capture", "mutation_id": "x"}, *document["mutations"]]}
    partly = _import(live, "sup1", device_id, json.dumps(bad).encode())
    assert partly.status_code == 200, partly.text
    assert [r["status"] for r in partly.json()["results"]] == ["rejected", "applied", "applied"]
    tablet.close()
    active.close()


def test_the_recheck_command_imports_a_file_as_the_named_supervisor(
    live: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.settings import get_settings

    tablet, held = _revoked_tablet_with_work(live, tmp_path)
    out = tmp_path / "export.json"
    tablet.export(out, [tmp_path / "camera"])
    tablet.close()
    monkeypatch.setenv("RECHECK_DATABASE_URL", live.settings.database_url)
    monkeypatch.setenv("RECHECK_MEDIA_URL", live.settings.media_url)
    get_settings.cache_clear()
    try:
        capsys.readouterr()
        assert main(["sync", "import-device", str(out), "--by", "sup1"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert main(["sync", "import-device", str(out), "--by", "worker1"]) == 1
    finally:
        get_settings.cache_clear()
    assert [r["status"] for r in result["results"]] == ["applied", "applied"]
    assert result["photos"][0]["status"] == "stored"
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{held['visit']}").json()
    assert [c["id"] for c in review["captures"]] == [held["capture"]]
