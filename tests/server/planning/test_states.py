"""The visit state machine: the table, refusals naming ``state``, version bumps, audit entries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from schemas.planning import VisitState
from server.audit.models import AuditEvent
from server.auth.identity import Actor
from server.planning.models import Visit
from server.planning.states import (
    FINAL,
    OPEN,
    TRANSITIONS,
    IllegalTransition,
    can_transition,
    touch,
    transition,
)
from tests.server.planning.helpers import add_household, audit, plan_all, set_visit_state
from tests.support import LiveServer

S = VisitState


class _Session:
    """Collects what ``transition`` adds (the audit entry); nothing else is used."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, obj: Any) -> None:
        self.added.append(obj)


def _visit(state: S) -> Visit:
    return Visit(
        id=uuid.uuid4(),
        household_id=uuid.uuid4(),
        area_id=1,
        reason="scheduled",
        due_on=dt.date(2027, 1, 1),
        state=state.value,
        version=3,
    )


def test_every_state_has_a_row_and_final_states_have_no_way_out() -> None:
    assert set(TRANSITIONS) == set(VisitState)
    assert {S.accepted, S.cancelled} == FINAL
    assert not OPEN & FINAL
    for targets in TRANSITIONS.values():
        assert targets <= set(VisitState)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (S.planned, S.assigned),
        (S.assigned, S.downloaded),
        (S.downloaded, S.submitted),
        (S.submitted, S.accepted),
        (S.submitted, S.returned),
        (S.returned, S.submitted),
        (S.downloaded, S.planned),
        (S.downloaded, S.assigned),
        (S.planned, S.cancelled),
    ],
)
def test_legal_move_bumps_version_and_audits(before: S, after: S) -> None:
    session = _Session()
    visit = _visit(before)
    old_updated = visit.updated_at
    transition(visit, after, Actor.system("test"), session, reason="because")  # type: ignore[arg-type]
    assert visit.state == after.value
    assert visit.version == 4
    assert visit.updated_at != old_updated
    [event] = session.added
    assert isinstance(event, AuditEvent)
    assert (event.action, event.entity, event.entity_id) == ("transition", "visit", str(visit.id))
    assert event.changes["state"] == [before.value, after.value]
    assert event.changes["reason"] == "because"


@pytest.mark.parametrize(
    ("before", "after"),
    [(b, a) for b in VisitState for a in VisitState if a not in TRANSITIONS[b]],
)
def test_illegal_move_is_refused_naming_state_and_changes_nothing(before: S, after: S) -> None:
    session = _Session()
    visit = _visit(before)
    with pytest.raises(IllegalTransition) as caught:
        transition(visit, after, Actor.system("test"), session)  # type: ignore[arg-type]
    assert caught.value.status == 409
    assert caught.value.errors[0].path == "state"
    assert before.value in caught.value.errors[0].reason
    assert visit.state == before.value
    assert visit.version == 3
    assert session.added == []
    assert not can_transition(before, after)


def test_returned_keeps_the_comment_and_touch_bumps_version() -> None:
    visit = _visit(S.submitted)
    transition(visit, S.returned, Actor.system("test"), _Session(), reason="photos missing")  # type: ignore[arg-type]
    assert visit.return_comment == "photos missing"
    touch(visit)
    assert visit.version == 5


def test_cancel_over_http_and_illegal_moves_are_409_naming_state(live: LiveServer) -> None:
    add_household(live, "T1-a", approved_on=dt.date(2026, 11, 15))
    add_household(live, "T1-a", approved_on=dt.date(2026, 11, 16))
    first, second = (v["id"] for v in plan_all(live))
    with live.as_user("sup1") as c:
        cancelled = c.post(f"/visits/{first}/cancel", json={"reason": "moved to the county town"})
        again = c.post(f"/visits/{first}/cancel", json={"reason": "twice"})
        no_reason = c.post(f"/visits/{second}/cancel", json={})
        set_visit_state(live, second, "accepted")
        final = c.post(f"/visits/{second}/cancel", json={"reason": "too late"})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["version"]) == ("cancelled", 2)
    for refused in (again, final):
        assert refused.status_code == 409
        assert refused.json()["code"] == "illegal_transition"
        assert [e["path"] for e in refused.json()["errors"]] == ["state"]
    assert no_reason.status_code == 400
    assert [e["path"] for e in no_reason.json()["errors"]] == ["$.reason"]
    [entry] = [e for e in audit(live, first) if e["action"] == "transition"]
    assert entry["changes"] == {"state": ["planned", "cancelled"], "reason": "moved to the county town"}
    assert entry["actor_role"] == "supervisor"
    with live.as_user("worker1") as c:
        assert c.post(f"/visits/{first}/cancel", json={"reason": "x"}).status_code == 403
    with live.as_user("sup2") as c:
        assert c.post(f"/visits/{first}/cancel", json={"reason": "x"}).status_code == 404
