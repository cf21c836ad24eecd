"""Field app figures in Debian's Chromium against a live server (SQLite, one process).

- the app shell (the JS and CSS index.html loads), gzip -9, in kB;
- the first sync of N visits with their households over an emulated 3G link (Chromium's network
  emulation: 1.6 Mbit/s down, 750 kbit/s up, 150 ms latency), from signing in to the last page
  stored in IndexedDB, with where the time went (requests vs. IndexedDB writes);
- the time from tapping "save" to the capture being durable in IndexedDB: the screens' save calls
  ``recordCapture`` (validate, diff, one IndexedDB transaction with the draft and the outbox item);
  measured in the page with ``performance.now()`` around that call, on a held visit, with the
  app's screens mounted (their live queries re-read after every write): saves half a second apart
  (a worker's pace) and back to back (each save then waits for the previous one's re-reads).

    .venv/bin/python bench/field/bench_field.py              # 500 visits, 50 saves
    .venv/bin/python bench/field/bench_field.py --visits 50  # quick

Writes bench/field/results.json. Needs the built app (make assets) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from server.field.controllers import FIELD_DIST  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.server.sync.factory import make_visits  # noqa: E402
from tests.support import PASSWORD, off_loop, seed_world, start_live_server  # noqa: E402

THREE_G = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 750e3 / 8}

FIRST_SYNC = """async ([username, password]) => {
  const { api, engine, db } = window.recheckField;
  engine.stop();  // the bench drives the sync itself
  const t0 = performance.now();
  await api.login(username, password, "bench");
  const t1 = performance.now();
  let requestMs = 0;
  const post = api.post.bind(api);
  api.post = async (path, body, auth) => {
    const s = performance.now();
    try { return await post(path, body, auth); } finally { requestMs += performance.now() - s; }
  };
  const summary = await engine.pull();
  const t2 = performance.now();
  api.post = post;
  return { login_ms: t1 - t0, pull_ms: t2 - t1, request_ms: requestMs, pages: summary.pages,
           items: summary.upserts, visits: await db.visits.count(), households: await db.households.count() };
}"""

SAVES = """async ([visitId, n, pauseMs]) => {
  const { db, store } = window.recheckField;
  const times = [];
  for (let i = 0; i < n; i++) {
    // a worker taps save seconds apart: the screens' live queries settle in between
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const form = { outcome: "completed", notes: `note ${i}`, signature_missing: "cannot_write",
                   gps: { lat: 26.46, lon: 106.66, accuracy_m: 10 + i, at: new Date().toISOString() } };
    const t0 = performance.now();
    await store.recordCapture(db, visitId, form);
    times.push(performance.now() - t0);
  }
  return { times, outbox: await db.outbox.count() };
}"""


def shell_kb() -> dict[str, float]:
    index = (FIELD_DIST / "index.html").read_text()
    assets = sorted(set(re.findall(r'(?:src|href)="/field/(assets/[^"]+\.(?:js|css))"', index)))
    sizes = {a: len(gzip.compress((FIELD_DIST / a).read_bytes(), 9)) / 1024 for a in assets}
    return {"total_kb": round(sum(sizes.values()), 1), **{a: round(s, 1) for a, s in sizes.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visits", type=int, default=500)
    parser.add_argument("--saves", type=int, default=50)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": platform.platform(), "shell_gzip": shell_kb()}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        world = seed_world(url)
        t = time.perf_counter()
        visits = off_loop(lambda: make_visits(url, world.area_ids["T1-a"], world.user_ids["worker1"], n=args.visits))
        print(f"seeded {len(visits)} visits in {time.perf_counter() - t:.1f} s")
        with start_live_server(url, f"file://{tmp}/media", world) as live, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
            page = context.new_page()
            page.goto(f"{live.base_url}/field/")
            page.wait_for_function("() => window.recheckField !== undefined")
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", THREE_G)
            first = page.evaluate(FIRST_SYNC, ["worker1", PASSWORD])
            first["store_ms"] = first["pull_ms"] - first["request_ms"]
            results["first_sync_3g"] = {k: round(v, 1) if isinstance(v, float) else v for k, v in first.items()}
            unthrottled = {**THREE_G, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
            cdp.send("Network.emulateNetworkConditions", unthrottled)
            runs = (
                ("save_with_the_list_mounted_ms", 500, "/"),
                # the worker taps save on the visit's screen (the list is not mounted then)
                ("save_to_durable_ms", 500, f"/visit/{visits[0][0]}"),
                ("save_back_to_back_ms", 0, f"/visit/{visits[0][0]}"),
            )
            for name, pause, route in runs:
                page.evaluate("(route) => { location.hash = route; }", route)
                page.wait_for_selector('[data-testid="visit-screen"]' if "visit" in route else '[data-testid="visits"]')
                saved = page.evaluate(SAVES, [visits[0][0], args.saves, pause])
                times = sorted(saved["times"])
                results[name] = {
                    "n": len(times),
                    "median": round(statistics.median(times), 1),
                    "p95": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
                    "max": round(times[-1], 1),
                    "outbox": saved["outbox"],
                }
            browser.close()
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
