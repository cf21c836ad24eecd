"""A tablet whose clock is months off still syncs, on both engines.

The device row keeps its last clock offset in a 32-bit column; an offset beyond about 24.8 days
made every pull and push answer 500 on PostgreSQL (found by schemathesis once the sync bodies
were documented). The answer still reports the exact offset.
"""

from __future__ import annotations

import datetime as dt

from schemas.base import utcnow
from tests.support import LiveServer


def test_a_clock_a_year_behind_still_pulls_and_pushes(live: LiveServer) -> None:
    device_time = (utcnow() - dt.timedelta(days=365)).isoformat()
    with live.as_user("worker1", live.register_device("worker1")) as worker:
        pulled = worker.post("/sync/pull", json={"device_time": device_time})
        pushed = worker.post("/sync/push", json={"device_time": device_time, "mutations": []})
    assert pulled.status_code == 200, pulled.text
    assert pushed.status_code == 200, pushed.text
    offset = pushed.json()["clock_offset_ms"]
    assert abs(offset + 365 * 86_400_000) < 600_000, offset
