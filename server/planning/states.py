"""The visit state machine: which moves are allowed, and the one function that makes them.

Every state change of a visit goes through :func:`transition`, which refuses an illegal move
with a 409 naming ``state``, bumps ``version`` and ``updated_at`` (so the sync feed and the
tablets' optimistic locks see it) and writes the audit entry in the same transaction.

=============  ======================================================  =========================
from           to                                                      who / why
=============  ======================================================  =========================
planned        assigned, cancelled                                     supervisor
assigned       planned (unassign), downloaded, submitted, cancelled    supervisor; sync
downloaded     planned (unassign), assigned (reassign), submitted,     supervisor; sync
               cancelled
submitted      accepted, returned                                      supervisor review
returned       submitted, planned (unassign), assigned (reassign),     worker resubmits;
               cancelled                                               supervisor
accepted       —                                                       final
cancelled      —                                                       final
=============  ======================================================  =========================

Reassigning a visit that is ``assigned`` to another worker keeps the state ``assigned``; that
is a change of ``assigned_to`` (see :func:`touch`), not a transition. ``assigned → submitted``
is allowed because a tablet's download receipt may be lost while its capture still arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.errors import FieldError
from schemas.planning import VisitState
from server.audit.services import record
from server.auth.identity import Actor
from server.db.base import utcnow
from server.errors import Conflict
from server.planning.models import Visit

__all__ = [
    "ASSIGNABLE",
    "CANCELLABLE",
    "DONE",
    "FINAL",
    "OPEN",
    "TRANSITIONS",
    "IllegalTransition",
    "allowed",
    "can_transition",
    "check_transition",
    "move",
    "touch",
    "transition",
]

S = VisitState

#: Allowed moves: from-state → the states it may go to.
TRANSITIONS: Mapping[VisitState, frozenset[VisitState]] = MappingProxyType(
    {
        S.planned: frozenset({S.assigned, S.cancelled}),
        S.assigned: frozenset({S.planned, S.downloaded, S.submitted, S.cancelled}),
        S.downloaded: frozenset({S.planned, S.assigned, S.submitted, S.cancelled}),
        S.submitted: frozenset({S.accepted, S.returned}),
        S.returned: frozenset({S.submitted, S.planned, S.assigned, S.cancelled}),
        S.accepted: frozenset(),
        S.cancelled: frozenset(),
    }
)

#: States with no way out.
FINAL: frozenset[VisitState] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
#: A visit still to be done (counted as open, overdue or upcoming).
OPEN: frozenset[VisitState] = frozenset({S.planned, S.assigned, S.downloaded, S.returned})
#: The field work is done (waiting for review or reviewed).
DONE: frozenset[VisitState] = frozenset({S.submitted, S.accepted})
#: States from which a visit may be (re)assigned to a worker.
ASSIGNABLE: frozenset[VisitState] = frozenset({S.planned, S.assigned, S.downloaded, S.returned})
#: States from which a visit may be cancelled.
CANCELLABLE: frozenset[VisitState] = frozenset(s for s, t in TRANSITIONS.items() if S.cancelled in t)


class IllegalTransition(Conflict):
    """A state change the state machine does not allow (409, ``errors[0].path == "state"``)."""

    code = "illegal_transition"


def allowed(from_state: VisitState | str) -> frozenset[VisitState]:
    """The states a visit in ``from_state`` may move to."""
    return TRANSITIONS[VisitState(from_state)]


def can_transition(from_state: VisitState | str, to_state: VisitState | str) -> bool:
    """True if the state machine allows ``from_state → to_state``."""
    return VisitState(to_state) in allowed(from_state)


def check_transition(visit: Visit, to_state: VisitState | str, *, path: str = "state") -> None:
    """Raise :class:`IllegalTransition` unless ``visit`` may move to ``to_state``."""
    target = VisitState(to_state)
    current = VisitState(visit.state)
    if target in TRANSITIONS[current]:
        return
    options = ", ".join(sorted(TRANSITIONS[current])) or "none: the visit is final"
    reason = f"a {current} visit cannot become {target} (allowed: {options})"
    raise IllegalTransition(
        f"visit {visit.id}: {reason}", [FieldError(path=path, reason=reason)], code="illegal_transition"
    )


def touch(visit: Visit) -> None:
    """Mark a change of ``visit`` that is not a state change (assignee, due date, route order)."""
    visit.version = (visit.version or 1) + 1
    visit.updated_at = utcnow()


def transition(
    visit: Visit,
    to_state: VisitState | str,
    actor: Actor,
    session: AsyncSession,
    reason: str | None = None,
    *,
    changes: Mapping[str, Any] | None = None,
) -> Visit:
    """Move ``visit`` to ``to_state``: refuse an illegal move, bump the version, audit it.

    Synchronous on purpose (nothing is awaited): the audit entry is added to ``session`` and
    commits with the change. ``changes`` adds other ``{field: [old, new]}`` pairs that were
    made together with the move (e.g. ``assigned_to``) to the same audit entry.

    Raises:
        IllegalTransition: the move is not in :data:`TRANSITIONS` (409, path ``state``).
    """
    entry = move(visit, to_state, reason, changes=changes)
    record(session, actor, "transition", "visit", visit.id, entry)
    return visit


def move(
    visit: Visit, to_state: VisitState | str, reason: str | None = None, *, changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The state change of :func:`transition` without its audit entry, which is returned instead
    (for callers that write many entries in one statement, like a sync push).

    Raises:
        IllegalTransition: the move is not in :data:`TRANSITIONS` (409, path ``state``).
    """
    target = VisitState(to_state)
    check_transition(visit, target)
    before = visit.state
    visit.state = target.value
    if target == S.returned and reason:
        visit.return_comment = reason[:500]
    touch(visit)
    entry: dict[str, Any] = {"state": [before, target.value], **(changes or {})}
    if reason:
        entry["reason"] = reason
    return entry
