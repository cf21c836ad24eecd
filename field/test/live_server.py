"""The real server for the field app's engine tests (field/test/engine.test.ts).

Migrates a fresh SQLite database, seeds the test world (tests/support.py) with visits for
worker1, serves the app on a free loopback port, prints one JSON line (its address, the visits,
the password) and serves until its standard input closes (when Vitest ends).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.server.sync.factory import make_visits
from tests.support import PASSWORD, seed_world, start_live_server


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="recheck-field-"))
    url = f"sqlite+aiosqlite:///{folder / 'recheck.db'}"
    world = seed_world(url)
    visits = make_visits(url, world.area_ids["T1-a"], world.user_ids["worker1"], n=5)
    with start_live_server(url, f"file://{folder / 'media'}", world) as server:
        info = {
            "base_url": server.base_url,
            "password": PASSWORD,
            "visits": [{"visit_id": v, "household_id": h} for v, h in visits],
            "user_ids": {name: str(uid) for name, uid in world.user_ids.items()},
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
