"""A fleet of simulated tablets working through days of rechecks, and the reconciliation at the end.

Each device is the reference client (:class:`~sync.client.DeviceClient`) with its own local store,
logged in as its own field worker, talking to the server through an optional
:class:`~sync.simulation.faultproxy.FaultProxy`. A supervisor script (talking to the server
directly, as from the office) plans and assigns each day's visits, reassigns some of them during
the day, corrects household details and captured forms. Each day every device pulls, records a
capture for each of its visits with photos, uploads the photos by tus (resuming after failures),
pushes, and pulls again. At the end the faults stop, every device syncs until it is done, and the
reconciliation compares what the devices made with what the server holds:

* **captures made** on devices and **stored** on the server; **lost** (made, not stored) and
  **duplicated** (stored more often than made) — both must be 0;
* **photos** referenced by captures, **stored**, lost and duplicated;
* **conflicts** recorded by the server, by kind (field merges, captures after reassignment…);
* **unconverged** devices: outbox not empty, state check not ``ok``, or a capture held at another
  version than the server's — must be 0;
* **faults** injected by kind, server kills, requests, wall time.

Everything goes over HTTP; the module imports no web framework and no server code.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import hashlib
import io
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from schemas.capture import Capture, GpsFix, IncomeItem, MemberStatus, Outcome, Photo, PhotoKind, SignatureMissing
from sync.client import DeviceClient, Refused, Unreachable
from sync.client.transport import Backoff
from sync.simulation.faultproxy import FAULT_KINDS, FaultProxy

__all__ = ["Fleet", "FleetConfig", "FleetReport", "id_number"]

PASSWORD = "simulated-worker-password"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_TRANSIENT = (httpx.TransportError, Unreachable)


def id_number(serial: int, birth: dt.date = dt.date(1968, 3, 1)) -> str:
    """A valid resident ID number (GB 11643) for simulated people."""
    body = f"52{serial // 1000 % 10000:04d}{birth:%Y%m%d}{serial % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


@dataclass
class FleetConfig:
    """What to simulate. Rates are per visit and per day."""

    devices: int = 20
    days: int = 2
    visits_per_day: int = 2
    photos_per_visit: int = 1
    photo_pixels: tuple[int, int] = (96, 64)
    """Photo size; noise-filled, so a larger one makes a slower upload (more moments to be cut off)."""
    workers_per_community: int = 5
    reassign_rate: float = 0.15
    """Share of a day's visits the supervisor gives to another worker after the morning pull."""
    household_edit_rate: float = 0.2
    """Share of a day's households whose details the supervisor corrects during the day."""
    capture_edit_rate: float = 0.2
    """Share of submitted captures the supervisor corrects (the worker then edits the same field)."""
    threads: int = 4
    seed: int = 1
    start: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    settle_seconds: float = 180.0
    """How long the final syncs (without faults) may take before a device counts as unconverged
    (an upload whose completer was killed waits for its lease to run out, about a minute)."""


@dataclass
class FleetReport:
    devices: int = 0
    days: int = 0
    visits: int = 0
    captures_made: int = 0
    captures_stored: int = 0
    captures_lost: int = 0
    captures_duplicated: int = 0
    photos_made: int = 0
    photos_stored: int = 0
    photos_lost: int = 0
    photos_duplicated: int = 0
    half_written_visits: int = 0
    reassigned: int = 0
    household_edits: int = 0
    capture_edits: int = 0
    conflicts: dict[str, int] = field(default_factory=dict)
    unconverged: int = 0
    unconverged_detail: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    proxied_requests: int = 0
    server_kills: int = 0
    retries: int = 0
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.captures_lost == self.captures_duplicated == self.photos_lost == self.photos_duplicated == 0
            and self.unconverged == 0
            and self.half_written_visits == 0
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def render(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in self.faults.items()) or "none"
        conflicts = ", ".join(f"{k} {v}" for k, v in sorted(self.conflicts.items())) or "none"
        lines = [
            f"devices            {self.devices} over {self.days} day(s), {self.visits} visits",
            f"captures           made {self.captures_made}, stored {self.captures_stored}",
            f"photos             made {self.photos_made}, stored {self.photos_stored}",
            f"lost               captures {self.captures_lost}, photos {self.photos_lost}",
            f"duplicated         captures {self.captures_duplicated}, photos {self.photos_duplicated}",
            f"half-written       {self.half_written_visits} visit(s)",
            f"supervisor         {self.reassigned} reassignments, {self.household_edits} household edits, "
            f"{self.capture_edits} capture edits",
            f"conflicts recorded {sum(self.conflicts.values())} ({conflicts})",
            f"unconverged        {self.unconverged} device(s)",
            f"faults injected    {sum(self.faults.values())} ({faults}) in {self.proxied_requests} requests",
            f"server kills       {self.server_kills}",
            f"client retries     {self.retries}",
            f"wall time          {self.wall_seconds:.1f} s",
            f"result             {'OK' if self.ok else 'FAILED'}",
            *(f"  {line}" for line in self.unconverged_detail[:20]),
        ]
        return "\n".join(lines)


@dataclass
class _Device:
    index: int
    username: str
    user_id: str
    community: str
    client: DeviceClient
    households: list[str] = field(default_factory=list)
    """The households this worker visits, in order (``visits_per_day`` a day)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    made: dict[str, str] = field(default_factory=dict)
    """capture id → visit id, for every capture this device recorded."""
    photos: dict[str, set[str]] = field(default_factory=dict)
    """visit id → SHA-256 of the photos this device's captures refer to."""
    pending_uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """SHA-256 → (visit id, bytes) still to upload."""
    last_check: str = "skipped"
    upload_log: dict[str, str] = field(default_factory=dict)
    """SHA-256 → the last answer its upload got (for the report on a lost photo)."""


def _photo(rng: random.Random, size: tuple[int, int]) -> bytes:
    from PIL import Image

    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _in_flight(response: httpx.Response) -> bool:
    """The server is still working on an earlier send of this create (same Idempotency-Key)."""
    return response.status_code == 409 and "idempotency_in_flight" in response.text


def _retried(refusal: Refused) -> bool:
    """A refusal a login tries again: busy, a server error, a registration still in flight."""
    return refusal.status in (429, 500, 502, 503) or refusal.code == "idempotency_in_flight"


def _retry(action: Callable[[], Any], attempts: int = 40, pause: float = 0.2) -> Any:
    """Run an office-side call until it gets an answer (the server may be restarting)."""
    for attempt in range(attempts):
        try:
            return action()
        except httpx.TransportError:
            time.sleep(min(pause * (attempt + 1), 2.0))
    return action()


class Fleet:
    """The simulation. ``base_url`` is where devices connect (a fault proxy, or the server itself);
    ``office_url`` is the server itself, for the admin and supervisor scripts.

    Args:
        office_url: the server.
        admin: (username, password) of an admin whose area is the root of the simulated county.
        county_id: that area's id.
        config: what to simulate.
        work_dir: where the devices keep their stores.
        proxy: the fault proxy devices go through, if any (its counters go into the report).
        log: progress lines (e.g. ``print``).
    """

    def __init__(
        self,
        office_url: str,
        admin: tuple[str, str],
        county_id: int,
        config: FleetConfig,
        work_dir: Path,
        *,
        proxy: FaultProxy | None = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.office_url = office_url
        self.device_url = proxy.url if proxy else office_url
        self.admin_credentials = admin
        self.county_id = county_id
        self.config = config
        self.work_dir = work_dir
        self.proxy = proxy
        self.log = log
        self.rng = random.Random(config.seed)
        self.report = FleetReport(devices=config.devices, days=config.days)
        self.devices: list[_Device] = []
        self.office = httpx.Client(base_url=office_url, timeout=60)
        self.households: dict[str, str] = {}
        """household id → community code."""
        self.visits: dict[str, str] = {}
        """visit id → household id, for every visit planned."""
        self.assigned: dict[str, _Device] = {}
        self.worker_by_community: dict[str, list[_Device]] = {}
        self._kill_count: Callable[[], int] = lambda: 0
        self.key_prefix = f"sim-{config.seed}"
        """Idempotency keys of the office's creates: ``sim-<seed>:<what>``."""

    # -- office side ---------------------------------------------------------------------------

    def _login(self, username: str, password: str) -> None:
        response = _retry(lambda: self.office.post("/auth/login", json={"username": username, "password": password}))
        response.raise_for_status()
        self.office.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _office(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """An office call, repeated while the server is down or answers 5xx (its database may be
        restarting); a 401 (token expired) logs in again. A create carries ``key`` as its
        ``Idempotency-Key``: a repeat whose first answer was lost (say the server was killed after
        the commit) gets that answer, not a second record or a 409."""
        if key is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), "Idempotency-Key": f"{self.key_prefix}:{key}"}
        response: httpx.Response = _retry(lambda: self.office.request(method, path, **kwargs))
        for attempt in range(30):
            if response.status_code == 401:
                self._login(*self.admin_credentials)
            elif response.status_code < 500 and not _in_flight(response):
                break
            time.sleep(min(0.2 * (attempt + 1), 2.0))
            response = _retry(lambda: self.office.request(method, path, **kwargs))
        return response

    def _ok(self, response: httpx.Response, *statuses: int) -> Any:
        if response.status_code not in (statuses or (200, 201)):
            raise RuntimeError(
                f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def _area(self, code: str, level: str, parent_id: int, residence: str | None = None) -> int:
        body: dict[str, Any] = {"code": code, "name": code, "level": level, "parent_id": parent_id}
        if residence:
            body["residence"] = residence
        response = self._office("POST", "/areas/", json=body, key=f"area:{code}")
        if response.status_code == 409 or (response.status_code == 422 and "code" in response.text):
            areas = self._ok(self._office("GET", "/areas/"))
            return int(next(a["id"] for a in areas if a["code"] == code))
        return int(self._ok(response)["id"])

    def _user(self, username: str, role: str, area_id: int) -> str:
        body = {
            "username": username,
            "display_name": username,
            "role": role,
            "password": PASSWORD,
            "area_ids": [area_id],
        }
        response = self._office("POST", "/users/", json=body, key=f"user:{username}")
        if response.status_code == 409:
            users = self._ok(self._office("GET", "/users/", params={"role": role}))
            return str(next(u["id"] for u in users if u["username"] == username))
        return str(self._ok(response)["id"])

    def setup(self) -> None:
        """Areas, one worker (and tablet) per device, households; tablets log in."""
        config = self.config
        self._login(*self.admin_credentials)
        communities = -(-config.devices // config.workers_per_community)
        township_id = 0
        area_ids: dict[str, int] = {}
        tag = f"s{config.seed}"
        for c in range(communities):
            if c % 10 == 0:
                township_id = self._area(f"{tag}-T{c // 10}", "township", self.county_id)
            code = f"{tag}-T{c // 10}-C{c}"
            area_ids[code] = self._area(code, "community", township_id, "rural")
        households_per_worker = config.visits_per_day * config.days

        def one(index: int) -> _Device:
            community = f"{tag}-T{index // config.workers_per_community // 10}-C{index // config.workers_per_community}"
            username = f"{tag}-worker{index:04d}"
            user_id = self._user(username, "worker", area_ids[community])
            households = []
            for n in range(households_per_worker):
                serial = index * households_per_worker + n + 1
                body = self._household(area_ids[community], serial)
                created = self._office("POST", "/households/", json=body, key=f"household:{serial}")
                households.append(self._ok(created, 201)["id"])
            client = DeviceClient(
                self.work_dir / f"device-{index:04d}.sqlite",
                self.device_url,
                seed=config.seed * 100_003 + index,
                backoff=Backoff(base=0.05, cap=1.0, attempts=6),
                page_limit=500,
            )
            device = _Device(index, username, user_id, community, client, households=households)
            self._device_login(device)
            return device

        with concurrent.futures.ThreadPoolExecutor(max_workers=config.threads) as pool:
            self.devices = list(pool.map(one, range(config.devices)))
        for device in self.devices:
            self.worker_by_community.setdefault(device.community, []).append(device)
            for household_id in device.households:
                self.households[household_id] = device.community
        self.log(f"set up {len(self.devices)} devices, {len(self.households)} households in {communities} communities")

    def _household(self, area_id: int, serial: int) -> dict[str, Any]:
        return {
            "area_id": area_id,
            "residence": "rural",
            "category": "general",
            "address": f"simulated lane {serial}",
            "members": [
                {
                    "name": f"户主{serial}",
                    "relation": "head",
                    "id_number": id_number(serial * 2),
                    "sex": "male",
                    "birth_date": "1968-03-01",
                },
                {
                    "name": f"配偶{serial}",
                    "relation": "spouse",
                    "id_number": id_number(serial * 2 + 1),
                    "sex": "female",
                    "birth_date": "1968-03-01",
                },
            ],
            "benefit_amount": 60000,
        }

    def _device_login(self, device: _Device) -> None:
        for attempt in range(60):
            try:
                device.client.login(device.username, PASSWORD, f"tablet-{device.index:04d}")
                return
            except (*_TRANSIENT, Refused) as exc:
                if isinstance(exc, Refused) and not _retried(exc):
                    raise
                time.sleep(min(0.1 * (attempt + 1), 2.0))
        raise RuntimeError(f"{device.username} could not log in")

    def _plan_day(self, day: int) -> list[str]:
        """Plan the month (idempotent) and assign each worker its visits for ``day``."""
        on = self.config.start + dt.timedelta(days=day)
        if not self.visits:
            self._ok(self._office("POST", "/plans/", json={"period": f"{on:%Y-%m}"}))
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"unassigned": "true", "limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                page = self._ok(self._office("GET", "/visits/", params=params))
                for visit in page["items"]:
                    if visit["household_id"] in self.households:
                        self.visits[visit["id"]] = visit["household_id"]
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        by_household = {h: v for v, h in self.visits.items()}
        items = []
        todays = []
        for device in self.devices:
            per_day = self.config.visits_per_day
            for household_id in device.households[day * per_day : (day + 1) * per_day]:
                visit_id = by_household[household_id]
                items.append({"visit_id": visit_id, "worker_id": device.user_id, "visit_on": on.isoformat()})
                self.assigned[visit_id] = device
                todays.append(visit_id)
        for start in range(0, len(items), 1000):
            self._ok(self._office("POST", "/assignments/", json={"items": items[start : start + 1000]}))
        self.report.visits += len(todays)
        return todays

    def _reassign(self, todays: list[str], day: int) -> None:
        on = self.config.start + dt.timedelta(days=day)
        items = []
        for visit_id in todays:
            if self.rng.random() >= self.config.reassign_rate:
                continue
            current = self.assigned[visit_id]
            colleagues = [d for d in self.worker_by_community[current.community] if d is not current]
            if not colleagues:
                continue
            target = self.rng.choice(colleagues)
            items.append({"visit_id": visit_id, "worker_id": target.user_id, "visit_on": on.isoformat()})
            self.assigned[visit_id] = target
        if items:
            response = self._office("POST", "/assignments/", json={"items": items})
            if response.status_code == 200:
                self.report.reassigned += len(items)

    def _edit_households(self, todays: list[str]) -> None:
        for visit_id in todays:
            if self.rng.random() >= self.config.household_edit_rate:
                continue
            household_id = self.visits[visit_id]
            phone = f"139{self.rng.randrange(10**8):08d}"
            if self._office("PATCH", f"/households/{household_id}", json={"phone": phone}).status_code == 200:
                self.report.household_edits += 1

    def _edit_captures(self, todays: list[str]) -> list[tuple[str, str]]:
        """Supervisor corrections of submitted captures; returns (capture id, visit id) edited."""
        edited = []
        for visit_id in todays:
            if self.rng.random() >= self.config.capture_edit_rate:
                continue
            response = self._office("GET", f"/reviews/visits/{visit_id}")
            if response.status_code != 200:
                continue
            for capture in response.json().get("captures", []):
                body = {"base_version": capture["version"], "fields": {"notes": f"supervisor note {visit_id[:8]}"}}
                if self._office("PATCH", f"/reviews/captures/{capture['id']}", json=body).status_code == 200:
                    self.report.capture_edits += 1
                    edited.append((capture["id"], visit_id))
        return edited

    # -- device side ---------------------------------------------------------------------------------

    def _each(self, work: Callable[[_Device], None]) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.config.threads) as pool:
            for future in [pool.submit(self._guarded, work, d) for d in self.devices]:
                future.result()

    def _guarded(self, work: Callable[[_Device], None], device: _Device) -> None:
        """A device's step; a network that stays down is the device's normal life, not an error."""
        with device.lock:
            try:
                work(device)
            except _TRANSIENT:
                pass
            except Refused as exc:
                if exc.status in (401, 403) and exc.code != "forbidden":
                    self._device_login(device)
                elif exc.status < 500 and exc.status != 429:
                    raise

    def _pull(self, device: _Device) -> None:
        device.last_check = device.client.pull().state_check

    def _capture_day(self, device: _Device, day: int) -> None:
        on = self.config.start + dt.timedelta(days=day)
        rng = random.Random(self.config.seed * 7_919 + day * 104_729 + device.index)
        for view in device.client.visits(on):
            visit_id = str(view.visit.id)
            if view.capture_id is not None or view.household is None:
                continue
            photos = [_photo(rng, self.config.photo_pixels) for _ in range(self.config.photos_per_visit)]
            shas = [hashlib.sha256(p).hexdigest() for p in photos]
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            # the worker finds the registered incomes unchanged, and says so for every member
            incomes = [
                IncomeItem(
                    id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    kind=line.kind,
                    monthly_amount=line.monthly_amount,
                    member_id=line.member_id,
                )
                for line in view.household.incomes
            ]
            earners = {line.member_id for line in incomes}
            form = Capture(
                outcome=Outcome.completed,
                members=[
                    MemberStatus(member_id=m.id, present=True, no_income=m.id not in earners)
                    for m in view.household.members
                ],
                incomes=incomes,
                notes=f"visited by {device.username} on day {day}",
                gps=GpsFix(lat=26.4 + rng.random() / 10, lon=106.6 + rng.random() / 10, accuracy_m=8.0, at=now),
                started_at=now - dt.timedelta(minutes=25),
                ended_at=now,
                signature_missing=SignatureMissing.cannot_write,
                photos=[Photo(sha256=s, kind=PhotoKind.other) for s in shas],
            )
            capture_id = device.client.record_capture(visit_id, form, submit=True)
            assert capture_id is not None
            device.made[capture_id] = visit_id
            device.photos.setdefault(visit_id, set()).update(shas)
            for sha, data in zip(shas, photos, strict=True):
                device.pending_uploads[sha] = (visit_id, data)

    def _device_edits(self, device: _Device, edited: set[str]) -> None:
        """The worker, offline, changes the notes of captures the supervisor just corrected."""
        for capture_id, visit_id in device.made.items():
            if capture_id not in edited:
                continue
            draft = device.client.draft(capture_id)
            if draft is None:
                continue
            form = msgspec.structs.replace(draft, notes=f"worker correction {capture_id[:8]}")
            device.client.record_capture(visit_id, form, capture_id=capture_id)

    def _upload(self, device: _Device) -> None:
        for sha, (visit_id, data) in list(device.pending_uploads.items()):
            if self._tus_upload(device, sha, visit_id, data):
                del device.pending_uploads[sha]

    def _tus_upload(self, device: _Device, sha: str, visit_id: str, data: bytes) -> bool:
        """Upload one photo with tus, resuming from the server's offset; ``True`` once it is stored."""
        http = device.client.transport.http
        key = f"upload:{sha}"
        base = {"Tus-Resumable": "1.0.0"}

        def auth() -> dict[str, str]:
            return {**base, "Authorization": f"Bearer {device.client.store.get('access_token')}"}

        stuck = [0]
        for _attempt in range(8):
            try:
                location = device.client.store.get(key)
                if not location:
                    meta = ",".join(
                        f"{k} {base64.b64encode(v.encode()).decode()}"
                        for k, v in (("sha256", sha), ("visit_id", visit_id), ("kind", "house_outside"))
                    )
                    created = http.post(
                        "/uploads/", headers={**auth(), "Upload-Length": str(len(data)), "Upload-Metadata": meta}
                    )
                    if created.status_code == 401:
                        device.client.transport.refresh()
                        continue
                    device.upload_log[sha] = f"POST {created.status_code}"
                    if created.status_code != 201:
                        return False  # e.g. not (yet) this worker's visit: try again after the next push
                    location = "/uploads/" + created.headers["location"].rstrip("/").rsplit("/", 1)[-1]
                    device.client.store.set(key, location)
                head = http.head(location, headers=auth())
                if head.status_code == 401:
                    device.client.transport.refresh()
                    continue
                if head.status_code in (404, 410):
                    device.client.store.set(key, "")  # expired or discarded: start again
                    continue
                if head.status_code == 423:
                    # all bytes in, completion pending: after a second wait the completer is taken for
                    # dead (its lease would hold a minute): discard the upload and send the photo again
                    device.upload_log[sha] = "HEAD 423"
                    stuck[0] += 1
                    if stuck[0] >= 2:
                        http.delete(location, headers=auth())
                        device.client.store.set(key, "")
                        stuck[0] = 0
                    continue
                if head.status_code != 200:
                    time.sleep(0.05)
                    continue
                offset = int(head.headers.get("upload-offset", "0"))
                device.upload_log[sha] = f"HEAD {head.status_code} offset {offset}/{len(data)}"
                if offset >= len(data):
                    return True
                patched = http.patch(
                    location,
                    content=data[offset:],
                    headers={**auth(), "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                )
                device.upload_log[sha] = f"PATCH {patched.status_code}"
                if patched.status_code == 204 and int(patched.headers.get("upload-offset", "0")) >= len(data):
                    return True
                if patched.status_code in (413, 422):
                    return True  # refused for good (counted as a lost photo if it is not stored)
            except httpx.TransportError:
                self.report.retries += 1
                time.sleep(0.05)
        return False

    def _push(self, device: _Device) -> None:
        device.client.push()

    # -- the run ---------------------------------------------------------------------------------------

    def run(
        self, *, kill_count: Callable[[], int] | None = None, calm: Callable[[], None] | None = None
    ) -> FleetReport:
        """Set up, work the days, then ``calm`` (stop any trouble), settle and reconcile."""
        started = time.monotonic()
        if kill_count:
            self._kill_count = kill_count
        self.setup()
        for day in range(self.config.days):
            todays = self._plan_day(day)
            self._each(self._pull)
            self._reassign(todays, day)
            self._edit_households(todays)
            self._each(lambda d, day=day: self._capture_day(d, day))  # type: ignore[misc]
            self._each(self._upload)
            self._each(self._push)
            edited = {c for c, _ in self._edit_captures(todays)}
            # the workers, still offline, change the same notes: the push meets the supervisor's edit
            self._each(lambda d, edited=edited: self._device_edits(d, edited))  # type: ignore[misc]
            self._each(self._push)
            self._each(self._pull)
            self.log(f"day {day + 1}: {len(todays)} visits, faults so far {self._faults()}")
        if calm:
            calm()
        self.settle()
        self.reconcile()
        self.report.wall_seconds = time.monotonic() - started
        return self.report

    def _faults(self) -> dict[str, int]:
        return self.proxy.snapshot() if self.proxy else dict.fromkeys(FAULT_KINDS, 0)

    def settle(self) -> None:
        """Faults off; every device syncs until its outbox is empty and its state check is ``ok``."""
        if self.proxy:
            self.report.faults = self.proxy.snapshot()
            self.report.proxied_requests = self.proxy.requests
            self.proxy.enabled = False
        deadline = time.monotonic() + self.config.settle_seconds
        while True:
            self._each(self._upload)
            self._each(self._push)
            self._each(self._pull)
            if all(self._settled(d) for d in self.devices) or time.monotonic() > deadline:
                break
            time.sleep(0.5)

    def _settled(self, device: _Device) -> bool:
        status = device.client.status()
        return status["outbox_pending"] == 0 and not device.pending_uploads and device.last_check in ("ok", "skipped")

    def reconcile(self) -> None:
        report = self.report
        report.server_kills = self._kill_count()
        made: Counter[str] = Counter()
        made_by_visit: Counter[str] = Counter()
        referenced: dict[str, set[str]] = {}
        for device in self.devices:
            for capture_id, visit_id in device.made.items():
                made[capture_id] += 1
                made_by_visit[visit_id] += 1
            for visit_id, shas in device.photos.items():
                referenced.setdefault(visit_id, set()).update(shas)
            report.retries += device.client.transport.stats.retries
        report.captures_made = len(made)
        report.photos_made = sum(len(s) for s in referenced.values())
        stored_captures: dict[str, tuple[str, int]] = {}
        for visit_id in self.visits:
            if visit_id not in self.assigned:
                continue
            review = self._ok(self._office("GET", f"/reviews/visits/{visit_id}"))
            captures = review.get("captures", [])
            for capture in captures:
                stored_captures[capture["id"]] = (visit_id, capture["version"])
            extra = len(captures) - made_by_visit.get(visit_id, 0)
            report.captures_duplicated += max(extra, 0)
            state = review["visit"].get("state")
            if state in ("submitted", "accepted") and not captures:
                report.half_written_visits += 1
            photos = self._ok(self._office("GET", f"/visits/{visit_id}/photos"))
            stored = Counter(p["sha256"] for p in photos.get("photos", []) if p.get("status") == "stored")
            report.photos_stored += len(stored)
            report.photos_duplicated += sum(n - 1 for n in stored.values() if n > 1)
            lost = referenced.get(visit_id, set()) - set(stored)
            report.photos_lost += len(lost)
            for sha in lost:
                last = next((d.upload_log.get(sha) for d in self.devices if sha in d.upload_log), None)
                report.unconverged_detail.append(f"photo {sha[:12]} of visit {visit_id[:8]} not stored (last: {last})")
        report.captures_stored = len(stored_captures)
        report.captures_lost = len(set(made) - set(stored_captures))
        conflicts = self._ok(self._office("GET", "/reviews/conflicts", params={"open_only": "false"}))
        report.conflicts = dict(Counter(c["kind"] for c in conflicts))
        for device in self.devices:
            problems = []
            status = device.client.status()
            if status["outbox_pending"]:
                problems.append(f"{status['outbox_pending']} unsent")
            if status["outbox_rejected"]:
                problems.append(f"{status['outbox_rejected']} rejected")
            if device.last_check not in ("ok", "skipped"):
                problems.append(f"state check {device.last_check}")
            if device.pending_uploads:
                problems.append(f"{len(device.pending_uploads)} photos not uploaded")
            for capture_id, version, _data in device.client.store.items("capture"):
                server = stored_captures.get(capture_id)
                if server is not None and server[1] != version:
                    problems.append(f"capture {capture_id[:8]} at v{version}, server v{server[1]}")
            if problems:
                report.unconverged += 1
                report.unconverged_detail.append(f"{device.username}: {', '.join(problems)}")

    def close(self) -> None:
        for device in self.devices:
            device.client.close()
        self.office.close()
