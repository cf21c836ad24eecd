"""Sync benchmark: recheck on SQLite and PostgreSQL beside Kinto, on the same workload, in one run.

    .venv/bin/python bench/sync/bench_sync.py                 # full: 20 devices x 500, 200 updates
    .venv/bin/python bench/sync/bench_sync.py --quick         # smoke: 4 devices x 60, 20 updates
    .venv/bin/python bench/sync/bench_sync.py --kinto-json /tmp/kinto.json   # reuse a Kinto result

Phases (README.md says what each one maps to): concurrent push of captures by N devices, a fresh
device's full pull of every visit, a delta pull after further changes, an empty poll, and the
three Kinto failure modes checked on recheck. recheck runs as a real uvicorn process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mapping import (  # noqa: E402
    WORKLOAD_DIR,
    Mapped,
    device_records,
    map_record,
    mutate,
)

from schemas.capture import Capture  # noqa: E402
from sync.client import Backoff, DeviceClient, Store  # noqa: E402

KINTO_RUN = WORKLOAD_DIR / "kinto" / "run.sh"
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-password-123"


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, as the Kinto harness computes it."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, round(p / 100 * len(v) + 0.5) - 1))
    return v[k]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


# ---------------------------------------------------------------- databases


async def _admin(sql: str) -> None:
    from sqlalchemy import text

    from server.db.session import make_engine

    engine = make_engine(PG_ADMIN, null_pool=True, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def database(engine: str, folder: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        return
    name = f"recheck_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _seed(url: str, devices: int, per_device: int, seed: str) -> dict[str, Any]:
    """Areas, users, and one household + visit per workload record (through the ORM, so the
    change feed is built exactly as in production)."""
    from server.auth.bootstrap import add_user
    from server.db.session import make_engine, make_session_factory
    from server.planning.models import Visit
    from server.registry.models import Area, Household, IncomeItem, Member

    engine = make_engine(url, null_pool=True)
    factory = make_session_factory(engine)
    out: dict[str, Any] = {"workers": [], "mapped": []}
    try:
        async with factory() as session, session.begin():
            county = Area(code="BENCH", name="基准县", level="county")
            session.add(county)
            await session.flush()
            county.path = f"/{county.id}/"
            village = Area(code="BENCH-1", name="基准村", level="community", parent_id=county.id, residence="rural")
            session.add(village)
            await session.flush()
            village.path = f"{county.path}{village.id}/"
            out["area_id"] = village.id
            for d in range(devices):
                user = add_user(session, f"worker{d + 1:02d}", "worker", PASSWORD, [village.id], f"Worker {d + 1}")
                out["workers"].append(user.id)
            out["partner"] = add_user(session, "partner", "worker", PASSWORD, [village.id], "Partner").id
            out["supervisor"] = add_user(session, "sup", "supervisor", PASSWORD, [county.id], "Supervisor").id
        index = 0
        for d in range(devices):
            records = device_records(seed, d, per_device)
            mapped_device: list[tuple[dict[str, Any], Mapped]] = []
            for start in range(0, len(records), 250):
                async with factory() as session, session.begin():
                    for record in records[start : start + 250]:
                        m = map_record(record, index)
                        index += 1
                        mapped_device.append((record, m))
                        session.add(Household(area_id=village.id, **m.household))
                        await session.flush()
                        session.add_all(Member(**row) for row in m.members)
                        await session.flush()
                        session.add_all(IncomeItem(**row) for row in m.incomes)
                        session.add(
                            Visit(
                                id=m.visit_id,
                                household_id=m.household["id"],
                                area_id=village.id,
                                reason="scheduled",
                                period="2025Q1",
                                due_on=dt.date(2025, 3, 31),
                                state="assigned",
                                assigned_to=out["workers"][d],
                                partner_id=out["partner"],
                                visit_on=dt.datetime.fromisoformat(record["started_at"]).date(),
                            )
                        )
            out["mapped"].append(mapped_device)
    finally:
        await engine.dispose()
    return out


async def _apply_registry_updates(url: str, updated: list[tuple[dict[str, Any], Mapped]]) -> None:
    """The further changes the partner's tablet must receive: the mutated records' incomes and
    notes written into the registry (what a supervisor does after reviewing the new capture)."""
    from sqlalchemy import select

    from server.db.session import make_engine, make_session_factory
    from server.registry.models import IncomeItem

    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            for record, m in updated:
                again = map_record(record, 0)
                rows = {
                    i.id: i
                    for i in (
                        await session.scalars(select(IncomeItem).where(IncomeItem.household_id == m.household["id"]))
                    ).all()
                }
                for new in again.incomes:
                    row = rows.get(new["id"])
                    if row is not None and (row.monthly_amount, row.note) != (new["monthly_amount"], new["note"]):
                        row.monthly_amount, row.note = new["monthly_amount"], new["note"]
    finally:
        await engine.dispose()


async def _db_facts(url: str, mutation_ids: list[str]) -> dict[str, Any]:
    from sqlalchemy import func, select

    from server.db.session import make_engine, make_session_factory
    from server.sync.models import CaptureRecord, MutationReceipt, SyncCounter

    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session:
            captures = await session.scalar(select(func.count()).select_from(CaptureRecord))
            receipts = 0
            ids = [uuid.UUID(m) for m in mutation_ids]
            for start in range(0, len(ids), 1000):
                receipts += (
                    await session.scalar(
                        select(func.count())
                        .select_from(MutationReceipt)
                        .where(MutationReceipt.mutation_id.in_(ids[start : start + 1000]))
                    )
                    or 0
                )
            feed = await session.scalar(select(SyncCounter.value).where(SyncCounter.name == "feed"))
            return {"captures": captures, "receipts_for_acknowledged": receipts, "feed_seq": feed}
    finally:
        await engine.dispose()


async def _capture_notes(url: str, capture_id: uuid.UUID) -> str | None:
    from server.db.session import make_engine, make_session_factory
    from server.sync.models import CaptureRecord

    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session:
            capture = await session.get(CaptureRecord, capture_id)
            return None if capture is None else (capture.form or {}).get("notes")
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- server process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(url: str, folder: Path, workers: int) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "RECHECK_DATABASE_URL": url,
        "RECHECK_MEDIA_URL": f"file://{folder / 'media'}",
        "RECHECK_LOG_JSON": "0",
        "RECHECK_ENV": "development",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--workers", str(workers), "--no-access-log"]
    log = (folder / "server.log").open("ab")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("recheck did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# ---------------------------------------------------------------- phases


def _client(folder: Path, base: str, name: str, **kw: Any) -> DeviceClient:
    store = Store(folder / f"{name}.sqlite", durable=False)  # the fsync per write is not what we measure
    return DeviceClient(store, base, backoff=Backoff(attempts=10), seed=len(name), **kw)


def _push_phase(clients: list[DeviceClient]) -> dict[str, Any]:
    barrier = threading.Barrier(len(clients) + 1)
    ends = [0.0] * len(clients)
    errors: list[str] = []
    for c in clients:
        c.transport.stats = type(c.transport.stats)()

    def run(i: int) -> None:
        barrier.wait()
        try:
            clients[i].push()
        except Exception as exc:  # recorded, run continues
            errors.append(f"device {i}: {exc!r}")
        ends[i] = time.perf_counter()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = max(ends) - start
    lat = [x for c in clients for x in c.transport.stats.latencies]
    sent = sum(c.transport.stats.sent_bytes for c in clients)
    received = sum(c.transport.stats.received_bytes for c in clients)
    return {
        "wall_s": round(wall, 3),
        "http_requests": len(lat),
        "retries": sum(c.transport.stats.retries for c in clients),
        "request_p50_ms": ms(pct(lat, 50)),
        "request_p95_ms": ms(pct(lat, 95)),
        "request_bytes": sent,
        "response_bytes": received,
        "errors": errors,
    }


def _pull_phase(client: DeviceClient) -> dict[str, Any]:
    client.transport.stats = type(client.transport.stats)()
    start = time.perf_counter()
    summary = client.pull()
    wall = time.perf_counter() - start
    stats = client.transport.stats
    return {
        "wall_s": round(wall, 4),
        "pages": summary.pages,
        "items": summary.upserts,
        "visits": client.store.count("visit"),
        "records_per_s": round(client.store.count("visit") / wall, 1) if wall else None,
        "body_bytes_on_wire": stats.received_bytes,
        "request_p50_ms": ms(pct(stats.latencies, 50)),
        "request_p95_ms": ms(pct(stats.latencies, 95)),
        "state_check": summary.state_check,
    }


class _Page(msgspec.Struct):
    cursor: str
    has_more: bool


class _Items(msgspec.Struct):
    items: list[dict[str, Any]]


def _wire_pull(client: DeviceClient, *, coding: str, msgpack: bool, page_limit: int) -> dict[str, Any]:
    """A full pull timed the way the Kinto harness times its own: every page fetched (each page's
    cursor is read to ask for the next), the items parsed only after the clock stops. The
    reference client's pull (decode, store in its SQLite, digest) is timed separately."""
    media = "application/msgpack" if msgpack else "application/json"
    headers = {
        "Authorization": f"Bearer {client.transport.token()}",
        "Content-Type": "application/json",
        "Accept": media,
        "Accept-Encoding": coding,
    }
    decode_page = msgspec.msgpack.Decoder(_Page) if msgpack else msgspec.json.Decoder(_Page)
    bodies: list[bytes] = []
    latencies: list[float] = []
    wire = 0
    cursor: str | None = None
    with httpx.Client(base_url=client.transport.http.base_url, timeout=120) as http:
        start = time.perf_counter()
        while True:
            request = {"device_time": dt.datetime.now(dt.UTC).isoformat(), "cursor": cursor, "limit": page_limit}
            sent = time.perf_counter()
            response = http.post("/sync/pull", content=msgspec.json.encode(request), headers=headers)
            latencies.append(time.perf_counter() - sent)
            response.raise_for_status()
            wire += response.num_bytes_downloaded
            bodies.append(response.content)
            page = decode_page.decode(response.content)
            cursor = page.cursor
            if not page.has_more:
                break
        wall = time.perf_counter() - start
    decode_items = msgspec.msgpack.Decoder(_Items) if msgpack else msgspec.json.Decoder(_Items)
    items = [item for body in bodies for item in decode_items.decode(body).items]
    visits = sum(1 for item in items if item.get("kind") == "visit")
    return {
        "wall_s": round(wall, 4),
        "pages": len(bodies),
        "items": len(items),
        "visits": visits,
        "records_per_s": round(visits / wall, 1) if wall else None,
        "body_bytes_on_wire": wire,
        "request_p50_ms": ms(pct(latencies, 50)),
        "request_p95_ms": ms(pct(latencies, 95)),
    }


def run_recheck(engine: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"engine": engine}
    with database(engine, folder) as url:
        from server.db.migrate import upgrade

        t0 = time.perf_counter()
        upgrade(url)
        world = asyncio.run(_seed(url, args.devices, args.per_device, args.seed))
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        print(f"[{engine}] seeded {args.devices * args.per_device} households and visits in {out['setup_s']} s")
        workers = 1 if engine == "sqlite" else args.workers  # SQLite: one writer process, as deployed
        out["server_workers"] = workers
        with server(url, folder, workers) as base:
            clients = []
            for d in range(args.devices):
                c = _client(folder, base, f"{engine}-dev{d}", push_batch=args.push_batch, page_limit=args.page_limit)
                c.login(f"worker{d + 1:02d}", PASSWORD, f"tablet {d + 1}")
                c.pull()
                for _record, m in world["mapped"][d]:
                    c.record_capture(str(m.visit_id), m.form, capture_id=str(m.capture_id), submit=True)
                clients.append(c)
            acknowledged_ids = [i.mutation_id for c in clients for i in c.store.pending()]
            _remember_first_batches(clients)
            # (a) push: every device at once
            push = _push_phase(clients)
            push["records"] = len(acknowledged_ids)
            push["records_per_s"] = round(push["records"] / push["wall_s"], 1)
            push["batch_size"] = args.push_batch
            facts = asyncio.run(_db_facts(url, acknowledged_ids))
            push["outbox_left"] = sum(len(c.store.pending()) for c in clients)
            push["captures_stored"] = facts["captures"]
            push["receipts_for_acknowledged"] = facts["receipts_for_acknowledged"]
            out["push"] = push
            print(f"[{engine}] push {push['records_per_s']} rec/s, p50 {push['request_p50_ms']} ms")
            # (b) full pull by fresh devices of the partner: timed on the wire the way the Kinto
            # harness times its pull (plain, gzip, zstd, MessagePack + zstd), and by the reference
            # client (decode, store, digest), plain and compressed (it accepts zstd, then gzip)
            for label, coding, packed in (
                ("identity", "identity", False),
                ("gzip", "gzip", False),
                ("zstd", "zstd", False),
                ("msgpack_zstd", "zstd", True),
            ):
                wire = _client(folder, base, f"{engine}-{label}-wire", page_limit=args.page_limit, msgpack=packed)
                wire.login("partner", PASSWORD, f"{label} wire")
                key = f"full_pull_{label}_wire"
                out[key] = _wire_pull(wire, coding=coding, msgpack=packed, page_limit=args.page_limit)
                wire.close()
                print(f"[{engine}] {key} {out[key]['records_per_s']} rec/s, {out[key]['body_bytes_on_wire']} B")
            for label, kw in (("full_pull_identity", {"compress": False}), ("full_pull_compressed", {})):
                fresh = _client(folder, base, f"{engine}-{label}", page_limit=args.page_limit, **kw)
                fresh.login("partner", PASSWORD, label)
                out[label] = _pull_phase(fresh)
                if label == "full_pull_compressed":
                    partner = fresh
                else:
                    fresh.close()
                rate, size = out[label]["records_per_s"], out[label]["body_bytes_on_wire"]
                print(f"[{engine}] {label} (client) {rate} rec/s, {size} B")
            # (c) further changes: owners push capture edits; the registry takes the new incomes
            rng = random.Random(f"updates:{args.seed}")
            per_dev = max(1, args.updates // args.devices)
            updated: list[tuple[dict[str, Any], Mapped]] = []
            for d, c in enumerate(clients):
                for i in rng.sample(range(args.push_batch, args.per_device), per_dev):
                    record, m = world["mapped"][d][i]
                    changed = mutate(record, rng)
                    new = map_record(changed, 0).form
                    draft = c.draft(str(m.capture_id)) or Capture()
                    c.record_capture(
                        str(m.visit_id),
                        msgspec.structs.replace(draft, notes=new.notes, incomes=new.incomes, photos=new.photos),
                        capture_id=str(m.capture_id),
                    )
                    updated.append((changed, m))
            update_push = _push_phase(clients)
            out["updates"] = {"records": len(updated), "request_p50_ms": update_push["request_p50_ms"]}
            asyncio.run(_apply_registry_updates(url, updated))
            deltas = [_pull_phase(partner) for _ in range(1 + args.repeats)]
            out["delta_pull"] = {**deltas[0], "latency_ms": round(deltas[0]["wall_s"] * 1000, 2)}
            empty = deltas[1:]
            out["poll_no_changes"] = {
                "latency_ms_median": round(statistics.median(e["wall_s"] for e in empty) * 1000, 2),
                "body_bytes_on_wire": empty[-1]["body_bytes_on_wire"],
                "items": empty[-1]["items"],
            }
            out["failure_modes"] = failure_modes(url, base, clients, world, updated, partner)
            for c in clients:
                c.close()
            partner.close()
    return out


def failure_modes(
    url: str,
    base: str,
    clients: list[DeviceClient],
    world: dict[str, Any],
    updated: list[tuple[dict[str, Any], Mapped]],
    partner: DeviceClient,
) -> dict[str, Any]:
    """Kinto's three failure modes (bench/README), checked on recheck."""
    result: dict[str, Any] = {}
    # 1. receipts only after commit: every acknowledged mutation is stored, none missing
    receipts = [(c, m, s) for c in clients for m, s in c.store.receipts().items()]
    facts = asyncio.run(_db_facts(url, [m for _, m, _ in receipts]))
    result["acknowledged"] = len(receipts)
    result["acknowledged_but_not_stored"] = len(receipts) - facts["receipts_for_acknowledged"]
    # 2. a retried push re-delivers nothing: replay device 0's first batch byte for byte
    first = clients[0]
    partner.pull()
    first.pull()  # both up to date, so whatever the next pulls bring is the retry's doing
    before = asyncio.run(_db_facts(url, []))["feed_seq"]
    token = first.store.get("access_token")
    with httpx.Client(base_url=base, timeout=60) as http:
        original = [json.loads(b) for b in _first_batch(first)]
        response = http.post(
            "/sync/push",
            json={"device_time": dt.datetime.now(dt.UTC).isoformat(), "mutations": original},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    after = asyncio.run(_db_facts(url, []))["feed_seq"]
    delta = partner.pull()
    owner = first.pull()
    result["retry"] = {
        "mutations": len(original),
        "statuses": sorted({r["status"] for r in response["results"]}),
        "feed_seq_moved": after - before,
        "redelivered_to_other_devices": delta.upserts,
        "redelivered_to_owner": owner.upserts,
    }
    # 3. a late retry does not overwrite a newer edit: the v1 mutation of an updated record again,
    #    then a *new* mutation carrying v1's notes with the stale base (a retry without precondition)
    mine = {str(x.capture_id) for _, x in world["mapped"][0]}
    m = next(mm for _, mm in updated if str(mm.capture_id) in mine)
    newer = asyncio.run(_capture_notes(url, m.capture_id))
    sent = [json.loads(b) for b in _first_batch(first, all_batches=True)]
    v1 = next(body for body in sent if body["entity_id"] == str(m.capture_id))
    stale = {**v1, "mutation_id": str(uuid.uuid4())}
    with httpx.Client(base_url=base, timeout=60) as http:
        late = http.post(
            "/sync/push",
            json={"device_time": dt.datetime.now(dt.UTC).isoformat(), "mutations": [v1, stale]},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["results"]
    final = asyncio.run(_capture_notes(url, m.capture_id))
    result["stale_retry"] = {
        "replayed_status": late[0]["status"],
        "stale_new_mutation_status": late[1]["status"],
        "superseded_fields": late[1].get("superseded", []),
        "newer_edit_lost": final != newer,
    }
    return result


_SENT: dict[int, list[bytes]] = {}


def _remember_first_batches(clients: list[DeviceClient]) -> None:
    for c in clients:
        _SENT[id(c)] = [i.body for i in c.store.pending()]


def _first_batch(client: DeviceClient, *, all_batches: bool = False) -> list[bytes]:
    bodies = _SENT.get(id(client), [])
    return bodies if all_batches else bodies[: client.push_batch]


# ---------------------------------------------------------------- Kinto


def run_kinto(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    out = folder / "kinto.json"
    command = ["bash", str(KINTO_RUN), "--devices", str(args.devices), "--per-device", str(args.per_device)]
    command += ["--updates", str(args.updates), "--runs", "1", "--repeats", str(args.repeats), "--out", str(out)]
    if args.quick:
        command.append("--no-honor-push")
    print("[kinto]", " ".join(command))
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def kinto_figures(data: dict[str, Any]) -> dict[str, Any]:
    run = data["runs"][-1]
    return {
        "push_records_per_s": run["push"]["records_per_s"],
        "push_p50_ms": run["push"]["batch_p50_ms"],
        "push_p95_ms": run["push"]["batch_p95_ms"],
        "push_single_records_per_s": run["push_single_device"]["records_per_s"],
        "full_pull_records_per_s": run["full_pull_identity"]["records_per_s"],
        "full_pull_bytes": run["full_pull_identity"]["body_bytes_on_wire"],
        "full_pull_gzip_bytes": run["full_pull_gzip"]["body_bytes_on_wire"],
        "full_pull_gzip_records_per_s": run["full_pull_gzip"]["records_per_s"],
        "delta_ms": run["delta_pull"]["latency_ms_median"],
        "delta_bytes": run["delta_pull"]["body_bytes_on_wire"],
        "poll_bytes": run["poll_no_changes"]["since_query_body_bytes"],
        "poll_ms": run["poll_no_changes"]["since_query_latency_ms_median"],
        "retry_redelivered": run["retry"]["put_by_id"]["redelivered_to_other_devices_in_next_delta"],
        "stale_retry_lost_newer_edit": run["retry"]["stale_retry"]["newer_edit_lost"],
    }


# ---------------------------------------------------------------- report


def table(results: dict[str, Any], kinto: dict[str, Any] | None) -> str:
    engines = [e for e in ("sqlite", "postgres") if e in results]
    rows: list[tuple[str, list[Any], Any]] = []

    def add(label: str, key: tuple[str, ...], kinto_key: str | None) -> None:
        values = []
        for e in engines:
            v: Any = results[e]
            for k in key:
                v = v.get(k) if isinstance(v, dict) else None
            values.append(v)
        rows.append((label, values, kinto.get(kinto_key) if kinto and kinto_key else None))

    add("push records/s (N devices at once)", ("push", "records_per_s"), "push_records_per_s")
    add("push request p50 ms", ("push", "request_p50_ms"), "push_p50_ms")
    add("push request p95 ms", ("push", "request_p95_ms"), "push_p95_ms")
    add("full pull records/s, plain (wire)", ("full_pull_identity_wire", "records_per_s"), "full_pull_records_per_s")
    add("full pull records/s, gzip (wire)", ("full_pull_gzip_wire", "records_per_s"), "full_pull_gzip_records_per_s")
    add("full pull records/s, zstd (wire)", ("full_pull_zstd_wire", "records_per_s"), "full_pull_gzip_records_per_s")
    add("full pull records/s, msgpack+zstd (wire)", ("full_pull_msgpack_zstd_wire", "records_per_s"), None)
    add("full pull records/s, plain (client)", ("full_pull_identity", "records_per_s"), None)
    add("full pull records/s, zstd (client)", ("full_pull_compressed", "records_per_s"), None)
    add("full pull bytes, plain", ("full_pull_identity_wire", "body_bytes_on_wire"), "full_pull_bytes")
    add("full pull bytes, gzip", ("full_pull_gzip_wire", "body_bytes_on_wire"), "full_pull_gzip_bytes")
    add("full pull bytes, zstd", ("full_pull_zstd_wire", "body_bytes_on_wire"), "full_pull_gzip_bytes")
    add("full pull bytes, msgpack+zstd", ("full_pull_msgpack_zstd_wire", "body_bytes_on_wire"), None)
    add("full pull request p50 ms (zstd)", ("full_pull_zstd_wire", "request_p50_ms"), None)
    add("full pull request p95 ms (zstd)", ("full_pull_zstd_wire", "request_p95_ms"), None)
    add("delta pull ms", ("delta_pull", "latency_ms"), "delta_ms")
    add("delta pull bytes (zstd)", ("delta_pull", "body_bytes_on_wire"), "delta_bytes")
    add("no-change poll bytes", ("poll_no_changes", "body_bytes_on_wire"), "poll_bytes")
    add("no-change poll ms", ("poll_no_changes", "latency_ms_median"), "poll_ms")
    lines = [f"{'phase':40s} " + " ".join(f"{e:>12s}" for e in engines) + f" {'kinto':>12s} {'pg/kinto':>9s}"]
    for label, values, k in rows:
        ratio = ""
        pg = values[engines.index("postgres")] if "postgres" in engines else None
        if isinstance(pg, int | float) and isinstance(k, int | float) and k:
            ratio = f"{pg / k:.2f}x"
        cells = " ".join(f"{_fmt(v):>12s}" for v in values)
        lines.append(f"{label:40s} {cells} {_fmt(k):>12s} {ratio:>9s}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def floors(results: dict[str, Any], kinto: dict[str, Any] | None) -> dict[str, Any]:
    pg = results.get("postgres")
    if not pg or not kinto or "error" in pg:
        return {}
    return {
        "push_10x_kinto": pg["push"]["records_per_s"] >= 10 * kinto["push_records_per_s"],
        # timed as Kinto's harness times its pull (pages fetched, parsed afterwards); Kinto
        # sends plain JSON whatever is accepted, so each of our codings races its one pull
        **{
            f"full_pull_2x_kinto_{coding}": (
                pg[f"full_pull_{coding}_wire"]["records_per_s"] >= 2 * kinto["full_pull_records_per_s"]
            )
            for coding in ("identity", "gzip", "zstd")
        },
        **{
            f"full_pull_bytes_under_seventh_{coding}": (
                pg[f"full_pull_{coding}_wire"]["body_bytes_on_wire"] <= kinto["full_pull_bytes"] / 7
            )
            for coding in ("gzip", "zstd")
        },
        "empty_delta_under_300_bytes": pg["poll_no_changes"]["body_bytes_on_wire"] < 300,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 devices x 60 records, 20 updates")
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--per-device", type=int, default=500)
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--push-batch", type=int, default=100)
    ap.add_argument("--page-limit", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes on PostgreSQL (SQLite: 1)")
    ap.add_argument("--seed", default="42")
    ap.add_argument("--engines", default="sqlite,postgres")
    ap.add_argument("--kinto-json", help="use this Kinto result instead of running the harness")
    ap.add_argument("--no-kinto", action="store_true")
    ap.add_argument("--out", default="bench/sync/results.json")
    args = ap.parse_args()
    if args.quick:
        args.devices, args.per_device, args.updates, args.repeats = 4, 60, 20, 3
        args.push_batch = min(args.push_batch, 25)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="recheck-bench-") as tmp:
        folder = Path(tmp)
        for engine in args.engines.split(","):
            try:
                results[engine] = run_recheck(engine, args, folder)
            except Exception as exc:  # a shared database server restarted under us: say so, go on
                print(f"[{engine}] failed: {exc!r}")
                results[engine] = {"engine": engine, "error": repr(exc)}
            Path(args.out).write_text(json.dumps({"partial": results}, ensure_ascii=False, indent=1, default=str))
        kinto_raw = None
        if args.kinto_json:
            kinto_raw = json.loads(Path(args.kinto_json).read_text())
        elif not args.no_kinto:
            kinto_raw = run_kinto(args, folder)
    kinto = kinto_figures(kinto_raw) if kinto_raw else None
    report = {
        "benchmark": "recheck-sync-vs-kinto",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "params": vars(args),
        "recheck": results,
        "kinto": kinto,
        "floors": floors(results, kinto),
    }
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    print()
    print(table(results, kinto))
    print()
    for engine, r in results.items():
        print(f"[{engine}] failure modes: {json.dumps(r.get('failure_modes'), ensure_ascii=False)}")
    if kinto:
        print(
            f"[kinto] retry re-delivered {kinto['retry_redelivered']}; late retry lost newer edit: "
            f"{kinto['stale_retry_lost_newer_edit']}"
        )
    print("floors:", json.dumps(report["floors"]))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
