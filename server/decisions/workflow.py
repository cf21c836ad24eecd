"""The proposal state machine: which steps are allowed, and the one function that makes them.

=============  ===========================================  ======================================
from           to                                           step (who)
=============  ===========================================  ======================================
proposed       confirmed, returned, proposed                review: confirm / override / return
                                                            (supervisor); recompute
confirmed      appraised, in_notice, proposed, returned     appraisal (supervisor); notice; an
                                                            appraisal that disagrees or a changed
                                                            input sends it back to review
appraised      in_notice, proposed, returned                notice (supervisor)
in_notice      held, approved, proposed, returned           objection; approval after the notice
                                                            (approver)
held           in_notice, proposed, returned                release once the objection is resolved
approved       effective                                    the first day of the effective month
effective      —                                            final
returned       —                                            final (a new visit was planned)
follow_up      —                                            final (a follow-up visit was planned)
superseded     —                                            final (a newer proposal replaced it)
=============  ===========================================  ======================================

Every state before approval may also move to ``superseded`` when a newer proposal is made for
the household (one live proposal per household: :func:`server.decisions.services.supersede`).

Every move bumps ``version`` and ``updated_at`` and writes an audit entry in the same
transaction; an illegal move is refused with 409 naming ``state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.decisions import ProposalState
from schemas.errors import FieldError
from server.audit.services import record
from server.auth.identity import Actor
from server.db.base import utcnow
from server.decisions.models import Proposal
from server.errors import Conflict

__all__ = ["PENDING", "TRANSITIONS", "IllegalStep", "check_step", "step"]

S = ProposalState

TRANSITIONS: Mapping[ProposalState, frozenset[ProposalState]] = MappingProxyType(
    {
        S.proposed: frozenset({S.confirmed, S.returned, S.proposed, S.superseded}),
        S.confirmed: frozenset({S.appraised, S.in_notice, S.proposed, S.returned, S.superseded}),
        S.appraised: frozenset({S.in_notice, S.proposed, S.returned, S.superseded}),
        S.in_notice: frozenset({S.held, S.approved, S.proposed, S.returned, S.superseded}),
        S.held: frozenset({S.in_notice, S.proposed, S.returned, S.superseded}),
        S.approved: frozenset({S.effective}),
        S.effective: frozenset(),
        S.returned: frozenset(),
        S.follow_up: frozenset(),
        S.superseded: frozenset(),
    }
)

#: Not yet approved: a changed input recomputes these.
PENDING: frozenset[ProposalState] = frozenset({S.proposed, S.confirmed, S.appraised, S.in_notice, S.held})


class IllegalStep(Conflict):
    """A step the workflow does not allow from the proposal's state (409, path ``state``)."""

    code = "illegal_step"


def check_step(proposal: Proposal, to_state: ProposalState, action: str, path: str = "state") -> None:
    """Raise :class:`IllegalStep` unless ``proposal`` may move to ``to_state``."""
    current = ProposalState(proposal.state)
    if to_state in TRANSITIONS[current]:
        return
    reason = f"cannot {action} a proposal that is {current.value}"
    raise IllegalStep(f"proposal {proposal.id}: {reason}", [FieldError(path=path, reason=reason)])


def step(
    session: AsyncSession,
    actor: Actor,
    proposal: Proposal,
    to_state: ProposalState,
    action: str,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Move ``proposal`` to ``to_state`` as ``action``: check, bump the version, audit."""
    check_step(proposal, to_state, action)
    before = proposal.state
    proposal.state = to_state.value
    proposal.version += 1
    proposal.updated_at = utcnow()
    entry: dict[str, Any] = {"state": [before, to_state.value], **(changes or {})}
    record(session, actor, action, "proposal", proposal.id, entry)
