"""End to end through real HTTP with the reference client, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from schemas.capture import Capture, GpsFix, IncomeItem, MemberStatus, Outcome
from sync.client import DeviceClient
from tests.server.sync.factory import make_visits, visit_state
from tests.support import PASSWORD, LiveServer


def device(live: LiveServer, tmp_path: Path, username: str, name: str = "tablet") -> DeviceClient:
    client = DeviceClient(tmp_path / f"{username}-{name}.sqlite", live.base_url, seed=1, sleep=lambda _: None)
    client.login(username, PASSWORD, name)
    return client


def form(member_ids: list[uuid.UUID], *, notes: str = "户主身体尚可", amount: int = 120000) -> Capture:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Capture(
        outcome=Outcome.completed,
        members=[MemberStatus(member_id=m, present=True, no_income=m != member_ids[0]) for m in member_ids],
        incomes=[IncomeItem(id=uuid.uuid4(), kind="wages", monthly_amount=amount, member_id=member_ids[0])],
        notes=notes,
        gps=GpsFix(lat=26.4, lon=106.6, accuracy_m=8.5, at=now),
        started_at=now - dt.timedelta(minutes=30),
        ended_at=now,
        signature_missing="cannot_write",
    )


def test_pull_capture_push_round_trip(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    worker = live.world.user_ids["worker1"]
    (visit_id, household_id), *_ = make_visits(url, live.world.area_ids["T1-a"], worker, n=3)
    tablet = device(live, tmp_path, "worker1")
    summary = tablet.pull()
    assert summary.upserts == 6  # 3 visits + 3 households
    assert tablet.reference() is not None
    household = tablet.household(household_id)
    assert household is not None
    assert len(household.members) == 2
    assert "*" in household.members[0].id_number  # workers see masked ID numbers
    capture_id = tablet.record_capture(visit_id, form([m.id for m in household.members]), submit=True)
    assert capture_id
    pushed = tablet.push()
    assert pushed.acknowledged == 1
    assert pushed.rejected == 0
    assert visit_state(url, visit_id) == "submitted"
    tablet.pull()
    assert tablet.store.item("capture", capture_id) is not None
    assert tablet.status()["outbox_pending"] == 0
    # replay: the same batch again is a duplicate, nothing stored twice
    second = tablet.pull()
    assert second.state_check == "ok"


def test_first_sync_resumes_from_the_last_page_after_a_kill(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"], n=5)
    store = tmp_path / "tablet.sqlite"
    first = DeviceClient(store, live.base_url, page_limit=3, sleep=lambda _: None)
    first.login("worker1", PASSWORD, "tablet")
    assert first.pull(max_pages=1).upserts == 3
    assert first.status()["synced_to_head"] is False
    visits_in_first_page = first.store.count("visit")
    first.close()  # killed mid-download
    again = DeviceClient(store, live.base_url, page_limit=3, sleep=lambda _: None)
    resumed = again.pull()
    # the remaining 7 items, plus visits already received coming back once as ``downloaded``;
    # the first page's households are not downloaded again
    assert 7 + visits_in_first_page <= resumed.upserts <= 7 + 5
    assert again.status()["synced_to_head"] is True
    assert again.store.count("visit") == 5
    assert again.store.count("household") == 5
    assert again.pull().state_check == "ok"
    again.close()
