"""The sync endpoints over HTTP on both engines: scope, removals, merges, receipts, bad input."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select

from schemas.capture import Capture, IncomeItem, Outcome
from schemas.sync import HouseholdPatch
from server.sync.models import CaptureRecord
from sync.client import DeviceClient, Refused
from tests.server.sync.factory import cancel, edit_household, make_visits, reassign, run_db, visit_state
from tests.server.sync.test_e2e import device, form
from tests.support import LiveServer


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _raw_push(live: LiveServer, client: DeviceClient, mutations: list[Any], **kw: Any) -> httpx.Response:
    token = client.store.get("access_token")
    with live.client() as c:
        return c.post(
            "/sync/push",
            content=json.dumps({"device_time": _now(), "mutations": mutations}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **kw},
        )


def _raw_pull(live: LiveServer, client: DeviceClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    token = client.store.get("access_token")
    with live.client() as c:
        return c.post(
            "/sync/pull",
            content=json.dumps({"device_time": _now(), **body}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
        )


def _members(client: DeviceClient, household_id: str) -> list[uuid.UUID]:
    household = client.household(household_id)
    assert household is not None
    return [m.id for m in household.members]


def test_reassignment_removes_the_visit_but_unsent_captures_still_reach_the_supervisor(
    live: LiveServer, tmp_path: Path
) -> None:
    url = live.settings.database_url
    w1, w1b = live.world.user_ids["worker1"], live.world.user_ids["worker1b"]
    (visit_id, household_id), (other_visit, _) = make_visits(url, live.world.area_ids["T1-a"], w1, n=2)
    a = device(live, tmp_path, "worker1")
    b = device(live, tmp_path, "worker1b")
    a.pull()
    assert visit_state(url, visit_id) == "assigned"
    a.pull()  # the cursor now proves receipt
    assert visit_state(url, visit_id) == "downloaded"
    # offline, the worker captures; meanwhile the supervisor gives the visit to someone else
    capture_id = a.record_capture(visit_id, form(_members(a, household_id)), submit=True)
    reassign(url, visit_id, w1b)
    b.pull()
    assert b.visit(visit_id) is not None
    pushed = a.push()
    assert pushed.acknowledged == 1
    assert pushed.conflicts == 0
    a.pull()
    assert a.visit(visit_id) is None  # removed from the tablet
    assert a.household(household_id) is None
    assert a.visit(other_visit) is not None
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{visit_id}").json()
        conflicts = c.get("/reviews/conflicts", params={"visit_id": visit_id}).json()
    assert [cap["id"] for cap in review["captures"]] == [capture_id]
    assert review["captures"][0]["role"] == "alternate"
    assert {c["kind"] for c in conflicts} == {"out_of_scope_capture"}
    # the new assignee captures too: both kept, the supervisor chooses
    b_capture = b.record_capture(visit_id, form(_members(b, household_id), notes="第二次"), submit=True)
    assert b.push().acknowledged == 1
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{visit_id}").json()
        assert {cap["id"] for cap in review["captures"]} == {capture_id, b_capture}
        assert review["visit"]["state"] == "submitted"
        chosen = c.post(f"/reviews/visits/{visit_id}/primary", json={"capture_id": capture_id})
        assert chosen.status_code == 200
        roles = {cap["id"]: cap["role"] for cap in chosen.json()["captures"]}
    assert roles == {capture_id: "primary", b_capture: "alternate"}


def test_cancellation_removes_and_state_check_repairs_exactly(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    w1 = live.world.user_ids["worker1"]
    pairs = make_visits(url, live.world.area_ids["T1-a"], w1, n=3)
    a = device(live, tmp_path, "worker1")
    a.pull()
    cancel(url, pairs[0][0])
    summary = a.pull()
    assert summary.removals == 2  # the visit and its household
    assert a.visit(pairs[0][0]) is None
    # the tablet's store drifts: an item deleted locally, a stray one added
    a.store.remove_item("visit", pairs[1][0])
    a.store.put_item("visit", str(uuid.uuid4()), 3, b"{}")
    repaired = a.pull()
    assert repaired.state_check == "repaired"
    assert repaired.repairs == 1
    assert repaired.upserts == 1
    assert a.visit(pairs[1][0]) is not None
    assert a.pull().state_check == "ok"


def test_supervisor_edit_reaches_the_tablet_without_wiping_typed_fields(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    w1 = live.world.user_ids["worker1"]
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], w1)
    a = device(live, tmp_path, "worker1")
    a.pull()
    members = _members(a, household_id)
    capture_id = a.record_capture(visit_id, form(members, notes="first"))
    assert capture_id is not None
    a.push()
    a.pull()
    # supervisor corrects the notes; the worker (offline) edits the notes and the outcome
    with live.as_user("sup1") as c:
        edited = c.patch(f"/reviews/captures/{capture_id}", json={"base_version": 1, "fields": {"notes": "supervisor"}})
    assert edited.status_code == 200, edited.text
    draft = a.draft(capture_id)
    assert draft is not None
    a.record_capture(
        visit_id, msgspec.structs.replace(draft, notes="worker again", outcome=Outcome.refused), capture_id=capture_id
    )
    result = a.push()
    assert result.conflicts == 1
    a.pull()
    final = a.draft(capture_id)
    assert final is not None
    assert final.notes == "worker again"
    assert final.outcome == Outcome.refused
    with live.as_user("sup1") as c:
        conflicts = c.get("/reviews/conflicts", params={"visit_id": visit_id}).json()
    field_conflicts = [x for x in conflicts if x["kind"] == "field"]
    assert len(field_conflicts) == 1
    assert field_conflicts[0]["field"] == "notes"
    assert field_conflicts[0]["server_value"] == "supervisor"
    assert field_conflicts[0]["kept"] == "device"


def test_household_category_is_supervisor_owned_and_address_merges(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((_, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    a = device(live, tmp_path, "worker1")
    a.pull()
    edit_household(url, household_id, address="supervisor address")
    a.edit_household(household_id, HouseholdPatch(address="worker address", category="three_no", phone="138"))
    result = a.push()
    assert result.conflicts == 1
    a.pull()
    household = a.household(household_id)
    assert household is not None
    assert household.address == "worker address"
    assert household.phone == "138"
    assert household.category == "general"
    with live.as_user("sup1") as c:
        conflicts = c.get("/reviews/conflicts").json()
    fields = {(x["field"], x["kept"]) for x in conflicts if x["entity"] == "household"}
    assert fields == {("address", "device"), ("category", "server")}


def test_replays_and_returned_visits(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    a = device(live, tmp_path, "worker1")
    a.pull()
    capture_id = a.record_capture(visit_id, form(_members(a, household_id)), submit=True)
    body = [msgspec.json.decode(i.body) for i in a.store.pending()]
    first = _raw_push(live, a, body)
    again = _raw_push(live, a, body)
    assert first.json()["results"][0]["status"] == "applied"
    replay = again.json()["results"][0]
    assert replay["status"] == "duplicate"
    assert replay["first_status"] == "applied"
    assert replay["version"] == first.json()["results"][0]["version"]
    changed = [{**body[0], "fields": {"notes": "different"}}]
    reused = _raw_push(live, a, changed).json()["results"][0]
    assert reused["status"] == "rejected"
    assert reused["errors"][0]["path"] == "$.mutations[0].mutation_id"
    a.push()  # the outbox item gets its duplicate receipt
    assert a.status()["outbox_pending"] == 0
    with live.as_user("sup1") as c:
        returned = c.post(f"/reviews/visits/{visit_id}/return", json={"comment": "收入证明缺失"})
    assert returned.status_code == 200, returned.text
    a.pull()
    visit = a.visit(visit_id)
    assert visit is not None
    assert visit.state == "returned"
    assert visit.return_comment == "收入证明缺失"
    draft = a.draft(capture_id or "")
    assert draft is not None
    a.record_capture(visit_id, msgspec.structs.replace(draft, notes="补充了证明"), submit=True)
    a.push()
    assert visit_state(url, visit_id) == "submitted"
    with live.as_user("sup1") as c:
        assert c.post(f"/reviews/visits/{visit_id}/accept").status_code == 200
    a.pull()
    assert a.visit(visit_id) is None  # accepted work leaves the tablet


def test_bad_input_is_rejected_per_mutation_and_the_rest_applies(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    ((other_visit, other_household),) = make_visits(url, live.world.area_ids["T2-a"], live.world.user_ids["worker2"])
    ((mate_visit, _),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1b"])
    a = device(live, tmp_path, "worker1")
    a.pull()
    members = _members(a, household_id)

    def capture(fields: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {
            "entity": "capture",
            "mutation_id": str(uuid.uuid4()),
            "entity_id": str(uuid.uuid4()),
            "visit_id": visit_id,
            "base_version": 0,
            "fields": fields,
            **kw,
        }

    income = {"id": str(uuid.uuid4()), "kind": "wages", "member_id": str(members[0])}
    cost = {"id": str(uuid.uuid4()), "kind": "illness_cost", "monthly_amount": 100}
    kept = capture({"deductions": [{**cost, "member_id": str(members[0])}]})  # stored before the bad batch
    assert _raw_push(live, a, [kept]).json()["results"][0]["status"] == "applied"
    good = capture({"notes": "ok"})
    batch = [
        capture({"notes": "x"}, entity="spaceship"),
        capture({"notes": "x"}, base_version=3),
        capture({"notes": "x"}, visit_id=mate_visit),
        capture({"notes": "x"}, visit_id=other_visit),
        capture({"incomes": [{**income, "monthly_amount": -5}]}),
        capture({"incomes": [{**income, "monthly_amount": 100_000_001 * 100}]}),
        capture({"notes": "x"}, visit_id="not-a-uuid"),
        capture({"incomes": [{**income, "monthly_amount": 100, "member_id": str(uuid.uuid4())}]}),
        capture({"notes": "x"}, submit=True),
        {"entity": "household", "mutation_id": str(uuid.uuid4()), "entity_id": other_household, "base_version": 0},
        {"entity": "household", "mutation_id": str(uuid.uuid4()), "entity_id": str(uuid.uuid4()), "base_version": 0},
        capture({"deductions": [{"id": str(uuid.uuid4()), "kind": "lottery", "monthly_amount": 100}]}),
        capture({"deductions": [{**cost, "member_id": str(uuid.uuid4())}]}),
        good,
    ]
    response = _raw_push(live, a, batch)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    paths = [r["errors"][0]["path"] if r.get("errors") else None for r in results]
    assert paths == [
        "$.mutations[0].entity",
        "$.mutations[1].base_version",
        "$.mutations[2].visit_id",
        "$.mutations[3].visit_id",
        "$.mutations[4].fields.incomes[0].monthly_amount",
        "$.mutations[5].fields.incomes[0].monthly_amount",
        "$.mutations[6].visit_id",
        "$.mutations[7].fields.incomes[0].member_id",
        "$.mutations[8].fields.outcome",
        "$.mutations[9].entity_id",
        "$.mutations[10].entity_id",
        "$.mutations[11].fields.deductions[0].kind",
        "$.mutations[12].fields.deductions[0].member_id",
        None,
    ]
    assert [r["status"] for r in results][-1] == "applied"
    assert "never assigned" in results[2]["errors"][0]["reason"]
    assert "outside your areas" in results[3]["errors"][0]["reason"]

    async def kept_form(session: Any) -> dict[str, Any]:
        record = await session.get(CaptureRecord, uuid.UUID(kept["entity_id"]))
        return dict(record.form)

    assert run_db(url, kept_form)["deductions"] == [{**cost, "member_id": str(members[0])}]


def test_cursors_bodies_and_devices_are_checked(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"], n=2)
    a = device(live, tmp_path, "worker1", "a")
    b = device(live, tmp_path, "worker1", "b")
    a.pull()
    cursor = a.store.get("cursor")
    assert cursor is not None
    foreign = _raw_pull(live, b, {"cursor": cursor})
    assert foreign.status_code == 400
    assert foreign.json()["errors"][0]["path"] == "$.cursor"
    assert "another device" in foreign.json()["errors"][0]["reason"]
    forged = cursor.rsplit(".", 1)[0].replace(".1.", ".9.", 1) + ".0000"
    assert _raw_pull(live, a, {"cursor": forged}).status_code == 400
    assert _raw_pull(live, a, {"cursor": "garbage"}).json()["errors"][0]["path"] == "$.cursor"
    malformed = _raw_pull(live, a, {"limit": "many"})
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["path"] == "$.limit"
    big = b'{"device_time":"' + _now().encode() + b'","mutations":[' + b'{"x":"' + b"a" * 50_000_000 + b'"}]}'
    with live.client() as c:
        too_big = c.post(
            "/sync/push",
            content=big,
            headers={"Authorization": f"Bearer {a.store.get('access_token')}", "Content-Type": "application/json"},
        )
    assert too_big.status_code == 413
    # a pull without a device-bound token is refused
    with live.as_user("worker1") as c:
        assert c.post("/sync/pull", json={"device_time": _now()}).status_code == 403
    # a revoked tablet is refused on its next sync
    with live.as_user("sup1") as c:
        assert c.post(f"/devices/{a.device_id}/revoke").status_code == 200
    with pytest.raises(Refused) as refused:
        a.pull()
    assert refused.value.status == 401
    assert "revoked" in refused.value.body["message"]


def test_msgpack_gzip_and_zstd(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    pairs = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"], n=5)
    a = device(live, tmp_path, "worker1")
    packed = DeviceClient(tmp_path / "packed.sqlite", live.base_url, msgpack=True, sleep=lambda _: None)
    packed.login("worker1", "correct-horse-battery", "packed")
    packed.pull()
    a.pull()
    assert packed.store.digest() == a.store.digest()
    household = packed.household(pairs[0][1])
    assert household is not None
    capture_id = packed.record_capture(pairs[0][0], form([m.id for m in household.members]))
    assert packed.push().acknowledged == 1
    packed.pull()
    assert packed.store.item("capture", capture_id or "") is not None
    plain = _raw_pull(live, a, {}, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert "王" in plain.text  # UTF-8, not \\u-escaped
    for accepted, coding in (("gzip", "gzip"), ("gzip, zstd", "zstd")):
        packed_answer = _raw_pull(live, a, {}, **{"Accept-Encoding": accepted})
        assert packed_answer.headers.get("content-encoding") == coding
        assert packed_answer.num_bytes_downloaded < plain.num_bytes_downloaded / 2
        assert packed_answer.json()["items"] == plain.json()["items"]  # httpx decoded it
    packed.close()


def test_clock_skew_is_flagged_and_evidence_listed(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    skewed = DeviceClient(
        tmp_path / "skewed.sqlite",
        live.base_url,
        sleep=lambda _: None,
        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
    )
    skewed.login("worker1", "correct-horse-battery", "skewed")
    skewed.pull()
    photo = "ab" * 32
    members = _members(skewed, household_id)
    capture = msgspec.structs.replace(
        form(members),
        incomes=[IncomeItem(id=uuid.uuid4(), kind="wages", monthly_amount=1000, evidence=[photo])],
    )
    skewed.record_capture(visit_id, capture)
    skewed.push()
    assert skewed.status()["clock_offset_ms"] > 7_000_000
    assert skewed.store.evidence() == {visit_id: [photo]}
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{visit_id}").json()
    assert review["clock_skew_ms"] > 7_000_000
    assert "clock_skew" in {x["kind"] for x in review["conflicts"]}
    assert review["missing_photos"] == [photo]
    skewed.close()


def test_capture_form_and_patch_list_the_same_fields() -> None:
    from schemas.capture import CapturePatch

    assert Capture.__struct_fields__ == CapturePatch.__struct_fields__


def test_cursor_older_than_the_retained_log_gets_a_snapshot_with_removals(live: LiveServer, tmp_path: Path) -> None:
    from server.sync.feed import purge_removals

    url = live.settings.database_url
    pairs = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"], n=3)
    a = device(live, tmp_path, "worker1")
    a.pull()
    cancel(url, pairs[0][0])
    purged = run_db(url, lambda s: purge_removals(s, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)))
    assert purged >= 2  # the visit's and the household's removals are gone from the log
    summary = a.pull()
    assert summary.reset
    assert summary.repairs == 2  # the state check then removed exactly what the snapshot could not
    assert a.visit(pairs[0][0]) is None
    assert a.household(pairs[0][1]) is None
    assert a.visit(pairs[1][0]) is not None
    assert a.pull().state_check == "ok"


def test_a_completed_capture_says_for_every_member_whether_they_have_income(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    a = device(live, tmp_path, "worker1")
    a.pull()
    head, child = (str(m) for m in _members(a, household_id))
    wages = {"id": str(uuid.uuid4()), "kind": "wages", "monthly_amount": 120000}

    def submit(members: list[dict[str, Any]], incomes: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        fields = {"outcome": "completed", "signature_missing": "cannot_write", "members": members, "incomes": incomes}
        mutation = {
            "entity": "capture",
            "mutation_id": str(uuid.uuid4()),
            "entity_id": str(uuid.uuid4()),
            "visit_id": visit_id,
            "base_version": 0,
            "fields": fields,
            "submit": True,
            **kw,
        }
        response = _raw_push(live, a, [mutation])
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["results"][0]
        return result

    def errors(result: dict[str, Any]) -> list[tuple[str, str]]:
        assert result["status"] == "rejected"
        return [(e["path"], e["reason"]) for e in result["errors"]]

    silent = submit([{"member_id": head, "present": True}], [])
    assert errors(silent) == [
        (
            "$.mutations[0].fields.members[0].no_income",
            "required for a completed visit: an income item naming this member, or true",
        ),
        (
            "$.mutations[0].fields.members",
            f"member {child}: a completed visit needs an income item naming them or no_income",
        ),
    ]
    both = submit(
        [{"member_id": head, "no_income": True}, {"member_id": child, "no_income": True}],
        [{**wages, "member_id": head}],
    )
    assert errors(both) == [
        ("$.mutations[0].fields.incomes[0].member_id", "this member has no income (members[0].no_income)")
    ]
    # a household-level line names nobody: each member still needs their own answer
    unnamed = submit([{"member_id": head}, {"member_id": child, "no_income": True}], [wages])
    assert [path for path, _ in errors(unnamed)] == ["$.mutations[0].fields.members[0].no_income"]

    async def stored(session: Any) -> int:
        rows = await session.scalars(select(CaptureRecord).where(CaptureRecord.visit_id == uuid.UUID(visit_id)))
        return len(rows.all())

    assert run_db(url, stored) == 0  # nothing of a refused submit is kept

    good = submit([{"member_id": head}, {"member_id": child, "no_income": True}], [{**wages, "member_id": head}])
    assert good["status"] == "applied", good
    assert visit_state(url, visit_id) == "submitted"
    # once handed in, an edit cannot take the answer away again
    edit = {
        "entity": "capture",
        "mutation_id": str(uuid.uuid4()),
        "entity_id": good["entity_id"],
        "visit_id": visit_id,
        "base_version": good["version"],
        "fields": {"members": [{"member_id": head}]},
    }
    dropped = _raw_push(live, a, [edit]).json()["results"][0]
    assert [path for path, _ in errors(dropped)] == ["$.mutations[0].fields.members"]


def _last_pull(url: str) -> Any:
    from server.sync.models import DeviceSyncState

    async def read(session: Any) -> Any:
        return (await session.execute(select(DeviceSyncState.last_pull_at, DeviceSyncState.cursor_seq))).one()

    return run_db(url, read)


def _settle(client: DeviceClient, url: str) -> Any:
    """Pull until a pull records nothing new (acknowledging a visit is itself a change)."""
    last = None
    for _ in range(8):
        client.pull()
        now = _last_pull(url)
        if now == last:
            return now
        last = now
    raise AssertionError("the device's contact kept changing")


def test_a_poll_with_nothing_new_writes_nothing(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    client = device(live, tmp_path, "worker1")
    recorded = _settle(client, url)
    for _ in range(3):
        client.pull()  # nothing changed: no write at all
    assert _last_pull(url) == recorded
    make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    moved = _settle(client, url)  # a new visit moves the cursor, and the contact is written again
    assert moved.cursor_seq > recorded.cursor_seq
    assert moved.last_pull_at > recorded.last_pull_at
    client.close()
