"""Generating proposals in several batches (on PostgreSQL a batch is written while the next is
computed): every visit gets its proposal and every proposal its own audit entry."""

from __future__ import annotations

import pytest

from server.decisions import inputs
from tests.server.decisions.helpers import accepted_visit, create_household, generate, ok, proposal_of
from tests.support import LiveServer


def test_every_batch_is_written_with_an_audit_entry_per_proposal(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    households = [create_household(live, incomes=[("business", 10000 * (i + 1))]) for i in range(5)]
    visits = {h["id"]: accepted_visit(live, h) for h in households}
    monkeypatch.setattr(inputs, "BATCH", 2)

    result = generate(live)

    assert result["created"] == 5
    assert generate(live)["created"] == 0, "generation is idempotent"
    with live.as_user("auditor") as c:
        events = ok(c.get("/audit/", params={"entity": "proposal", "limit": 1000}))
    created = {e["entity_id"]: e for e in events if e["action"] == "propose"}
    assert len(created) == 5
    for household in households:
        proposal = proposal_of(live, household)
        assert proposal["visit_id"] == str(visits[household["id"]])
        assert proposal["inputs"]["rules"] == proposal["rule_version"]
        event = created[proposal["id"]]
        assert event["changes"]["visit_id"] == proposal["visit_id"]
        assert event["changes"]["new_amount"] == proposal["new_amount"]
        assert event["actor_id"] == str(live.world.user_ids["sup1"])
        assert event["at"]
