"""Property-based: random interleavings of captures, supervisor edits, reassignments, pushes,
pulls, dropped responses, replays and killed clients across several devices, through real HTTP.

After every run (once every device has synced cleanly):

1. every capture mutation acknowledged to a device is stored exactly once (one receipt, applied
   at most once, no duplicate captures) and nothing was rejected;
2. every device converges to the server's state for its scope (digests equal, state check ok);
3. no conflict was resolved without a conflict record: whenever a field's value written by one
   source was overwritten by another that had not seen it, a record keeps the overwritten value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from schemas.capture import Capture, MemberStatus, Outcome
from sync.client import Backoff, DeviceClient, Unreachable
from sync.digest import digest
from tests.server.sync.factory import make_visits, reassign, run_db
from tests.support import PASSWORD, LiveServer


class FlakyTransport(httpx.BaseTransport):
    """Lets the server answer, then loses the answer (``drop`` times) — the worst moment to fail."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.drop = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.drop > 0 and request.url.path.startswith("/sync/"):
            self.drop -= 1
            response.read()
            response.close()
            raise httpx.ReadError("connection dropped after the server answered")
        return response

    def close(self) -> None:
        self.inner.close()


@dataclass
class Tablet:
    username: str
    path: Path
    flaky: FlakyTransport = field(default_factory=FlakyTransport)
    client: DeviceClient | None = None

    def adopt(self, credentials: dict[str, str | None], base_url: str) -> DeviceClient:
        """A fresh tablet store holding an already registered device's credential and tokens."""
        client = self.open(base_url)
        with client.store.transaction():
            for key, value in credentials.items():
                client.store.set(key, value)
        return client

    def open(self, base_url: str) -> DeviceClient:
        http = httpx.Client(base_url=base_url, transport=self.flaky, timeout=30)
        self.client = DeviceClient(self.path, base_url, http=http, backoff=Backoff(attempts=2), sleep=lambda _: None)
        return self.client


@dataclass
class Log:
    mutations: dict[str, dict[str, Any]] = field(default_factory=dict)  # mutation id → body
    edits: list[tuple[str, int, str]] = field(default_factory=list)  # supervisor: capture, version, notes


_CAPTURE = st.tuples(st.just("capture"), st.integers(0, 2), st.integers(0, 1), st.booleans())
_PUSH = st.tuples(st.just("push"), st.integers(0, 2), st.integers(0, 3))
_PULL = st.tuples(st.just("pull"), st.integers(0, 2), st.integers(0, 3))
OPS = st.lists(
    st.one_of(
        _CAPTURE,
        _CAPTURE,
        _PUSH,
        _PUSH,
        _PULL,
        _PULL,
        st.tuples(st.just("edit"), st.integers(0, 1)),
        st.tuples(st.just("reassign"), st.integers(0, 1), st.integers(0, 1)),
        st.tuples(st.just("replay"), st.integers(0, 2)),
        st.tuples(st.just("kill"), st.integers(0, 2)),
    ),
    min_size=6,
    max_size=24,
)


def _capture_op(tablet: Tablet, visit_id: str, household_id: str, n: int, submit: bool, log: Log) -> None:
    client = tablet.client
    assert client is not None
    if client.visit(visit_id) is None and client.capture_for(visit_id) is None:
        return
    household = client.household(household_id)
    members = [m.id for m in household.members] if household else []
    capture_id = client.capture_for(visit_id)
    base = (client.draft(capture_id) if capture_id else None) or Capture()
    form = msgspec.structs.replace(
        base,
        notes=f"{tablet.username} note {n}",
        outcome=Outcome.completed,
        signature_missing="cannot_write",
        members=base.members or [MemberStatus(member_id=m, present=True, no_income=True) for m in members],
    )
    before = {i.mutation_id for i in client.store.pending()}
    client.record_capture(visit_id, form, capture_id=capture_id, submit=submit)
    for item in client.store.pending():
        if item.mutation_id not in before:
            log.mutations[item.mutation_id] = msgspec.json.decode(item.body)


def _supervisor_edit(live: LiveServer, visit_id: str, n: int, log: Log) -> None:
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{visit_id}").json()
        for capture in review["captures"]:
            notes = f"supervisor note {n}"
            response = c.patch(
                f"/reviews/captures/{capture['id']}",
                json={"base_version": capture["version"], "fields": {"notes": notes}},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            if body["version"] != capture["version"]:
                log.edits.append((capture["id"], body["version"], notes))


def _server_state(url: str, user_ids: list[uuid.UUID]) -> dict[str, Any]:
    from server.audit.models import AuditEvent
    from server.sync.models import CaptureRecord, ConflictRecord, FeedRow, MutationReceipt

    async def work(session: Any) -> dict[str, Any]:
        digests = {}
        for user in user_ids:
            rows = await session.execute(
                select(FeedRow.kind, FeedRow.entity_id, FeedRow.version).where(
                    FeedRow.user_id == user, FeedRow.removed.is_(False)
                )
            )
            digests[user] = digest(rows.all())
        receipts = dict((await session.execute(select(MutationReceipt.mutation_id, MutationReceipt.status))).all())
        applied = (
            await session.execute(
                select(AuditEvent.changes).where(AuditEvent.entity == "capture", AuditEvent.action.like("capture.%"))
            )
        ).scalars()
        per_mutation: dict[str, int] = defaultdict(int)
        for changes in applied:
            if changes.get("mutation_id"):
                per_mutation[changes["mutation_id"]] += 1
        captures = (await session.execute(select(func.count(), func.count(func.distinct(CaptureRecord.id))))).one()
        conflicts = (
            await session.execute(
                select(ConflictRecord.entity_id, ConflictRecord.field, ConflictRecord.server_value).where(
                    ConflictRecord.kind == "field"
                )
            )
        ).all()
        return {
            "digests": digests,
            "receipts": {str(k): v for k, v in receipts.items()},
            "applied": per_mutation,
            "captures": captures,
            "conflicts": {(str(e), f, v) for e, f, v in conflicts},
        }

    return run_db(url, work)


def _check_no_silent_overwrite(tablets: list[Tablet], log: Log, conflicts: set[tuple[str, str, Any]]) -> None:
    """Rebuild each capture's history of ``notes`` writes; overwrites without a base need a record."""
    writes: dict[str, list[tuple[int, str, int, str]]] = defaultdict(list)  # capture → (version, source, base, value)
    for tablet in tablets:
        assert tablet.client is not None
        for mutation_id, raw in tablet.client.store.raw("SELECT mutation_id, result FROM receipts"):
            body = log.mutations.get(mutation_id)
            result = msgspec.json.decode(raw)
            if body is None or result["status"] == "rejected" or "notes" not in body.get("fields", {}):
                continue
            if "notes" in result.get("superseded", []):
                continue
            source = f"device:{tablet.client.device_id}"
            writes[body["entity_id"]].append((result["version"], source, body["base_version"], body["fields"]["notes"]))
    for capture_id, version, notes in log.edits:
        writes[capture_id].append((version, "supervisor", version - 1, notes))
    for capture_id, history in writes.items():
        history.sort()
        for (v_i, s_i, _b_i, x), (_v_j, s_j, b_j, y) in itertools.pairwise(history):
            if s_i != s_j and b_j < v_i and x != y:
                assert (capture_id, "notes", x) in conflicts, f"{capture_id}: {x!r} overwritten by {y!r} silently"


_KEYS = ("device_id", "device_secret", "username", "user_id", "access_token", "refresh_token")
_credentials: dict[tuple[str, str], list[dict[str, str | None]]] = {}


def _enrolled(live: LiveServer, folder: Path) -> list[dict[str, str | None]]:
    """Register the three tablets once per server (password hashing is slow on purpose)."""
    key = (live.base_url, live.settings.database_url)
    if key not in _credentials:
        found = []
        for i, username in enumerate(("worker1", "worker1", "worker1b")):
            client = DeviceClient(folder / f"enrol-{i}.sqlite", live.base_url, sleep=lambda _: None)
            client.login(username, PASSWORD, f"tablet-{i}")
            found.append({k: client.store.get(k) for k in _KEYS})
            client.close()
        _credentials[key] = found
    return _credentials[key]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
@example(ops=[("capture", 0, 0, False), ("push", 0, 0), ("edit", 0), ("capture", 0, 0, True), ("push", 0, 2)])
@example(
    ops=[
        ("capture", 2, 0, False),
        ("reassign", 0, 1),
        ("pull", 2, 1),
        ("capture", 0, 0, True),
        ("push", 0, 1),
        ("kill", 0),
        ("replay", 0),
        ("push", 2, 3),
        ("edit", 0),
        ("pull", 1, 0),
        ("capture", 1, 0, False),
    ]
)
def test_interleavings_converge_without_loss(live: LiveServer, tmp_path_factory: Any, ops: list[Any]) -> None:
    url = live.settings.database_url
    workers = {"worker1": live.world.user_ids["worker1"], "worker1b": live.world.user_ids["worker1b"]}
    visits = make_visits(url, live.world.area_ids["T1-a"], workers["worker1"], n=2)
    folder = tmp_path_factory.mktemp("tablets")
    tablets = [
        Tablet("worker1", folder / "a.sqlite"),
        Tablet("worker1", folder / "a2.sqlite"),
        Tablet("worker1b", folder / "b.sqlite"),
    ]
    for tablet, credentials in zip(tablets, _enrolled(live, folder), strict=True):
        tablet.adopt(credentials, live.base_url).pull()
    log = Log()
    for n, op in enumerate(ops):
        kind, *args = op
        if kind == "capture":
            d, v, submit = args
            _capture_op(tablets[d], visits[v][0], visits[v][1], n, submit, log)
        elif kind in ("push", "pull"):
            d, drops = args
            tablet = tablets[d]
            assert tablet.client is not None
            tablet.flaky.drop = drops
            with contextlib.suppress(Unreachable):
                tablet.client.push() if kind == "push" else tablet.client.pull()
            tablet.flaky.drop = 0
        elif kind == "edit":
            _supervisor_edit(live, visits[args[0]][0], n, log)
        elif kind == "reassign":
            v, to = args
            reassign(url, visits[v][0], list(workers.values())[to])
        elif kind == "replay":
            tablet = tablets[args[0]]
            assert tablet.client is not None
            done = [m for m, _ in tablet.client.store.raw("SELECT mutation_id, status FROM receipts")]
            bodies = [log.mutations[m] for m in done if m in log.mutations]
            if bodies:
                with live.client() as c:
                    response = c.post(
                        "/sync/push",
                        json={"device_time": dt.datetime.now(dt.UTC).isoformat(), "mutations": bodies},
                        headers={"Authorization": f"Bearer {tablet.client.store.get('access_token')}"},
                    )
                assert {r["status"] for r in response.json()["results"]} == {"duplicate"}
        elif kind == "kill":
            tablet = tablets[args[0]]
            assert tablet.client is not None
            tablet.client.close()
            tablet.open(live.base_url)
    for tablet in tablets:  # everyone syncs cleanly at the end
        assert tablet.client is not None
        tablet.client.push()
    for tablet in tablets:
        assert tablet.client is not None
        checks = [tablet.client.pull().state_check for _ in range(3)]
        assert "ok" in checks  # pulls acknowledge downloads, which the next pull delivers
    state = _server_state(url, list(workers.values()))
    for tablet in tablets:
        client = tablet.client
        assert client is not None
        assert client.status()["outbox_pending"] == 0
        assert client.status()["outbox_rejected"] == 0
        for mutation_id, status in client.store.receipts().items():
            assert state["receipts"][mutation_id] in (status, "applied", "merged", "conflict")
            assert state["applied"].get(mutation_id, 0) <= 1
        assert client.store.digest() == state["digests"][workers[tablet.username]]
    duplicates = sum(s == "duplicate" for t in tablets if t.client for s in t.client.store.receipts().values())
    event(f"field conflicts recorded: {min(len(state['conflicts']), 3)}+")
    event(f"duplicate receipts: {min(duplicates, 3)}+")
    total, distinct = state["captures"]
    assert total == distinct
    _check_no_silent_overwrite(tablets, log, state["conflicts"])
    for tablet in tablets:
        assert tablet.client is not None
        tablet.client.close()
