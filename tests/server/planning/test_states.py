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
