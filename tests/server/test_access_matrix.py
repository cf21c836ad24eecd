"""The access matrix, generated from the routes: every endpoint × every caller × own and foreign objects.

For each HTTP operation of the app (read from ``server.app.ROUTES`` via the built app, with the roles
each handler declares in ``opt=allow(...)``), the test calls it over real HTTP as:

* every role (admin, approver, auditor at the county; a township supervisor; a community worker),
  with and without a device-bound token;
* no token, a forged token, an expired token and the token of a revoked device (all must be 401);

and, for every path identifier, with an object of the caller's own area, one owned by another worker
of the same area, one of a neighbouring area and one of another township, plus an id that does not
exist. The expected outcome follows from the declared roles and from who may see which object
(:data:`VISIBILITY`): a refused role gets 403; an object the caller may not see is answered exactly
like a missing one (existence is never revealed); a visible object is served. Every response body
and header, including errors and list pages, is searched for identifiers of objects the caller may
not see, for whole resident ID numbers shown to workers and whole bank accounts shown to anyone but
admins and approvers.

New endpoints are covered automatically. A path parameter the test does not know fails
:func:`test_every_route_is_classified` with what to add to :data:`PROVIDERS`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from litestar.routes import ASGIRoute, HTTPRoute
from sqlalchemy import insert

from schemas.auth import Role
from schemas.capture import Capture, MemberStatus, Outcome, SignatureMissing
from server.app import create_app
from server.auth.guards import SCHEMA_PATH
from server.auth.secrets import issue_access_token
from server.db.session import make_engine
from server.planning.models import Visit
from server.settings import Settings
from sync.client import DeviceClient
from sync.simulation.process import ServerProcess
from tests.support import PASSWORD, LiveServer, make_id_number, seed_world

# -- the routes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """The path template with bare names: ``/households/{household_id}``."""
    operation_id: str
    roles: frozenset[Role]
    device_required: bool
    public: bool
    params: tuple[str, ...]
    has_body: bool
    query: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, values: dict[str, str]) -> str:
        return self.path.format(**values)


def _operations() -> list[Operation]:
    settings = Settings(
        env="test", database_url="sqlite+aiosqlite:///:memory:", media_url="file:///nonexistent", log_json=False
    )
    app = create_app(settings)
    result = []
    for route in app.routes:
        if route.path.startswith(SCHEMA_PATH):
            continue
        handlers: list[Any] = []
        if isinstance(route, HTTPRoute):
            handlers = list(route.route_handlers)
        elif isinstance(route, ASGIRoute):
            handlers = [route.route_handler]
        for handler in handlers:
            methods = sorted(getattr(handler, "http_methods", None) or {"*"})
            for method in methods:
                if method == "OPTIONS":
                    continue
                opt = handler.opt
                signature = handler.parsed_fn_signature.parameters
                path_params = tuple(route.path_parameters)
                query = tuple(
                    name
                    for name in signature
                    if name not in path_params
                    and name not in ("data", "db", "current_user", "actor", "settings", "request", "state")
                )
                result.append(
                    Operation(
                        method=method,
                        path=route.path_format,
                        operation_id=str(getattr(handler, "operation_id", None) or handler.handler_name),
                        roles=frozenset(Role(r) for r in opt.get("roles") or ()),
                        device_required=bool(opt.get("device_required")),
                        public=bool(opt.get("exclude_from_auth")),
                        params=path_params,
                        has_body="data" in signature,
                        query=query,
                    )
                )
    return sorted(result, key=lambda o: (o.path, o.method))


OPERATIONS = _operations()

# -- who is who ------------------------------------------------------------------------------

AREA_PARENT: dict[str, str | None] = {"C": None, "T1": "C", "T2": "C", "T1-a": "T1", "T1-b": "T1", "T2-a": "T2"}
COUNTY_ROLES = frozenset({Role.admin, Role.approver, Role.auditor})


def under(area: str, ancestor: str) -> bool:
    """True if ``area`` is ``ancestor`` or lies below it."""
    current: str | None = area
    while current is not None:
        if current == ancestor:
            return True
        current = AREA_PARENT[current]
    return False


@dataclass(frozen=True)
class Caller:
    username: str
    role: Role
    area: str
    device: bool = False

    @property
    def label(self) -> str:
        return self.username + ("@device" if self.device else "")


CALLERS = (
    Caller("admin", Role.admin, "C"),
    Caller("approver", Role.approver, "C"),
    Caller("auditor", Role.auditor, "C"),
    Caller("sup1", Role.supervisor, "T1"),
    Caller("sup1", Role.supervisor, "T1", device=True),
    Caller("worker1", Role.worker, "T1-a"),
    Caller("worker1", Role.worker, "T1-a", device=True),
)
USER_AREA = {"worker1": "T1-a", "worker1b": "T1-a", "worker2": "T2-a", "sup1": "T1", "sup2": "T2"}

# -- objects and who may see them ----------------------------------------------------------------


@dataclass
class Obj:
    """A real object on the server, the path values that address it and the strings that identify it."""

    kind: str
    area: str
    owner: str | None
    params: dict[str, str]
    markers: tuple[str, ...]
    restricted: tuple[tuple[str, frozenset[Role], str], ...] = ()
    """(marker, the only roles that may see it, what it is): whole ID numbers, bank accounts, reporters."""
    role: Role | None = None


def _by_area(caller: Caller, obj: Obj) -> bool:
    return under(obj.area, caller.area)


def _own_or_area(caller: Caller, obj: Obj) -> bool:
    return caller.username == obj.owner or under(obj.area, caller.area)


def _device_act(caller: Caller, obj: Obj) -> bool:
    return (
        caller.username == obj.owner
        or caller.role == Role.admin
        or (caller.role == Role.supervisor and under(obj.area, caller.area))
    )


def _user_act(caller: Caller, obj: Obj) -> bool:
    return caller.role == Role.admin or (
        caller.role == Role.supervisor and obj.role == Role.worker and under(obj.area, caller.area)
    )


def _assigned(caller: Caller, obj: Obj) -> bool:
    if caller.role == Role.worker:
        return caller.username == obj.owner
    return under(obj.area, caller.area)


def _own_only(caller: Caller, obj: Obj) -> bool:
    return caller.username == obj.owner


@dataclass(frozen=True)
class Visibility:
    act: Callable[[Caller, Obj], bool]
    """May the caller address the object by its id (read or change it, within its role)?"""
    know: Callable[[Caller, Obj], bool]
    """May the object's identifiers appear in anything the caller receives?"""


#: Who may see what, by kind of object. Area-scoped objects: anyone whose area contains it.
#: Visits and day routes: a worker only their own. Uploads: only the worker who started them.
VISIBILITY: dict[str, Visibility] = {
    "area": Visibility(_by_area, _by_area),
    "household": Visibility(_by_area, _by_area),
    "member": Visibility(_by_area, _by_area),
    "complaint": Visibility(_by_area, _by_area),
    "proposal": Visibility(_by_area, _by_area),
    "correction": Visibility(_by_area, _by_area),
    "notice": Visibility(_by_area, _by_area),
    "device": Visibility(_device_act, _own_or_area),
    "user": Visibility(_user_act, _own_or_area),
    "visit": Visibility(_assigned, _assigned),
    "route": Visibility(_assigned, _assigned),
    "upload": Visibility(_own_only, _assigned),
    "capture": Visibility(_assigned, _assigned),
    "conflict": Visibility(_assigned, _assigned),
    "month": Visibility(lambda caller, obj: True, lambda caller, obj: True),  # rows inside are checked by area
}

CASE_ROLES = frozenset({Role.admin, Role.approver, Role.supervisor, Role.auditor})
BANK_ROLES = frozenset({Role.admin, Role.approver})
REPORTER_ROLES = frozenset({Role.approver})

# -- the environment: a live server, tokens, object factories ------------------------------------------


@dataclass
class Env:
    live: LiveServer
    admin: httpx.Client
    objects: list[Obj] = field(default_factory=list)
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    tokens: dict[str, str] = field(default_factory=dict)
    devices: dict[str, tuple[str, str]] = field(default_factory=dict)
    cache: dict[tuple[str, str], Obj] = field(default_factory=dict)
    bad_tokens: dict[str, str] = field(default_factory=dict)
    tablets: dict[str, DeviceClient] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    root: Path = Path()

    def tablet(self, username: str) -> DeviceClient:
        """The worker's reference client (its own local store), logged in with its own device."""
        if username not in self.tablets:
            client = DeviceClient(self.root / f"{username}.sqlite", self.live.base_url, seed=1, sleep=lambda _: None)
            client.login(username, PASSWORD, f"{username}-sync-tablet")
            self.tablets[username] = client
        return self.tablets[username]

    def area_id(self, code: str) -> int:
        return self.live.world.area_ids[code]

    def user_id(self, username: str) -> str:
        return str(self.live.world.user_ids[username])

    def token(self, caller: Caller) -> str:
        if caller.label not in self.tokens:
            device = self.device(caller.username) if caller.device else None
            self.tokens[caller.label] = self.live.login(caller.username, device)["access_token"]
        return self.tokens[caller.label]

    def device(self, username: str) -> tuple[str, str]:
        if username not in self.devices:
            self.devices[username] = self.live.register_device(username, f"{username}-tablet")
        return self.devices[username]

    def client(self, token: str | None) -> httpx.Client:
        """A kept-alive client for ``token`` (one per token, closed with the environment)."""
        key = token or ""
        if key not in self.clients:
            self.clients[key] = self.live.client(headers={"Authorization": f"Bearer {token}"} if token else {})
        return self.clients[key]

    def add(self, obj: Obj) -> Obj:
        self.objects.append(obj)
        return obj


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def _member_body(serial: int, relation: str = "head") -> dict[str, Any]:
    born = dt.date(1960, 1, 1) + dt.timedelta(days=serial)
    return {
        "name": f"Member{serial}",
        "relation": relation,
        "id_number": make_id_number("520111", born, serial),
        "sex": "female",
        "birth_date": born.isoformat(),
    }


def _household_body(env: Env, area: str) -> dict[str, Any]:
    serial = next(env.serial)
    return {
        "area_id": env.area_id(area),
        "residence": "rural",
        "category": "general",
        "address": f"matrix-lane-{uuid.uuid4().hex[:10]}",
        "members": [_member_body(serial * 2), _member_body(serial * 2 + 1, "spouse")],
        "incomes": [{"kind": "business", "monthly_amount": 30000}],
        "benefit_amount": 50000,
        "bank_account": f"62{serial:014d}",
    }


def make_household(env: Env, variant: str) -> Obj:
    area = VARIANT_AREA[variant]
    data = ok(env.admin.post("/households/", json=_household_body(env, area)), 201)
    members = data["members"]
    return env.add(
        Obj(
            kind="household",
            area=area,
            owner=None,
            params={"household_id": data["id"]},
            markers=(data["id"], data["address"], *(m["id"] for m in members)),
            restricted=(
                *((m["id_number"], CASE_ROLES, "whole ID number") for m in members),
                (data["bank_account"], BANK_ROLES, "whole bank account"),
            ),
        )
    )


def make_correction(env: Env, variant: str) -> Obj:
    household = make_household(env, variant)
    body = {"household_id": household.params["household_id"], "new_amount": 40_000, "reason": "matrix correction"}
    data = ok(env.admin.post("/amount-corrections/", json=body), 201)
    return env.add(Obj("correction", household.area, None, {"correction_id": data["id"]}, (data["id"],)))


def make_member(env: Env, variant: str) -> Obj:
    household = make_household(env, variant)
    data = ok(env.admin.get(f"/households/{household.params['household_id']}"))
    member = data["members"][1]
    params = {"household_id": data["id"], "member_id": member["id"]}
    return env.add(Obj("member", household.area, None, params, (member["id"],)))


def make_device(env: Env, variant: str) -> Obj:
    owner = VARIANT_OWNER[variant]
    device_id, _secret = env.live.register_device(owner, f"matrix-{next(env.serial)}")
    return env.add(Obj("device", USER_AREA[owner], owner, {"device_id": device_id}, (device_id,)))


def make_user(env: Env, variant: str) -> Obj:
    area = VARIANT_AREA[variant]
    username = f"mx{next(env.serial)}{uuid.uuid4().hex[:6]}"
    body = {
        "username": username,
        "display_name": username,
        "role": "worker",
        "password": "matrix-password-1",
        "area_ids": [env.area_id(area)],
    }
    user_id = ok(env.admin.post("/users/", json=body), 201)["id"]
    return env.add(Obj("user", area, username, {"user_id": user_id}, (user_id,), role=Role.worker))


def make_complaint(env: Env, variant: str) -> Obj:
    """A named complaint about a new household (it also starts an urgent recheck visit)."""
    household = make_household(env, variant)
    reporter, contact = f"Reporter-{uuid.uuid4().hex[:8]}", f"tel-{uuid.uuid4().hex[:8]}"
    body = {
        "channel": "hotline",
        "summary": "matrix complaint",
        "subject": {"household_id": household.params["household_id"]},
        "reporter_name": reporter,
        "reporter_contact": contact,
    }
    data = ok(env.admin.post("/complaints/", json=body), 201)
    restricted = ((reporter, REPORTER_ROLES, "reporter name"), (contact, REPORTER_ROLES, "contact"))
    complaint = Obj("complaint", household.area, None, {"complaint_id": data["id"]}, (data["id"],), restricted)
    complaint.params["visit_id"] = data["visit_id"]
    return env.add(complaint)


def make_visit(env: Env, variant: str) -> Obj:
    """An urgent visit (from a complaint) assigned to the variant's worker for today."""
    complaint = make_complaint(env, variant)
    visit_id = complaint.params["visit_id"]
    owner = VARIANT_OWNER[variant]
    item = {"visit_id": visit_id, "worker_id": env.user_id(owner), "visit_on": TODAY}
    ok(env.admin.post("/assignments/", json={"items": [item]}))
    return env.add(Obj("visit", complaint.area, owner, {"visit_id": visit_id}, (visit_id,)))


def make_route(env: Env, variant: str) -> Obj:
    visit = make_visit(env, variant)
    owner = VARIANT_OWNER[variant]
    return env.add(Obj("route", visit.area, owner, {"worker_id": env.user_id(owner), "visit_on": TODAY}, ()))


def _tus_create_headers(visit_id: str, sha256: str, length: int) -> dict[str, str]:
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    metadata = f"sha256 {b64(sha256)},visit_id {b64(visit_id)},kind {b64('house_outside')},filename {b64('p.jpg')}"
    return {"Tus-Resumable": "1.0.0", "Upload-Length": str(length), "Upload-Metadata": metadata}


def _photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (next(_colours), 90, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


_colours = itertools.cycle(range(256))


def make_upload(env: Env, variant: str, *, complete: bool = False) -> Obj:
    """An upload started (or, with ``complete``, finished) by the visit's worker from their tablet."""
    visit = make_visit(env, variant)
    owner = VARIANT_OWNER[variant]
    photo = _photo()
    sha256 = hashlib.sha256(photo).hexdigest()
    headers = _tus_create_headers(visit.params["visit_id"], sha256, len(photo))
    if complete:
        headers["Content-Type"] = "application/offset+octet-stream"
    token = env.token(Caller(owner, Role.worker, USER_AREA[owner], device=True))
    response = env.client(token).post("/uploads/", headers=headers, content=photo if complete else b"")
    assert response.status_code == 201, response.text
    upload_id = response.headers["location"].rstrip("/").rsplit("/", 1)[-1]
    visit.markers = (*visit.markers, sha256)
    return env.add(Obj("upload", visit.area, owner, {"upload_id": upload_id}, (upload_id,)))


async def _insert_accepted_visit(url: str, household_id: uuid.UUID, area_id: int) -> None:
    now = dt.datetime.now(dt.UTC)
    row = {
        "id": uuid.uuid4(),
        "household_id": household_id,
        "area_id": area_id,
        "reason": "scheduled",
        "due_on": now.date(),
        "state": "accepted",
        "visit_on": now.date(),
        "priority": 0,
        "version": 3,
        "created_at": now,
        "updated_at": now,
    }
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(Visit), [row])
    finally:
        await engine.dispose()


def accepted_visit(env: Env, household_id: str, area: str) -> None:
    """An accepted visit, written to the database as sync and review leave it (no API makes one directly)."""
    asyncio.run(_insert_accepted_visit(env.live.settings.database_url, uuid.UUID(household_id), env.area_id(area)))


def make_proposal(env: Env, variant: str) -> Obj:
    """A proposal for an accepted visit of a new household (the visit written as sync leaves it)."""
    household = make_household(env, variant)
    household_id = household.params["household_id"]
    accepted_visit(env, household_id, household.area)
    ok(env.admin.post("/decisions/proposals:generate", json={}), 201)
    rows = ok(env.admin.get("/decisions/proposals", params={"household_id": household_id}))
    proposal_id = rows[-1]["id"]
    return env.add(Obj("proposal", household.area, None, {"proposal_id": proposal_id}, (proposal_id,)))


def make_notice(env: Env, variant: str) -> Obj:
    proposal = make_proposal(env, variant)
    proposal_id = proposal.params["proposal_id"]
    ok(env.admin.post(f"/decisions/proposals/{proposal_id}/review", json={"action": "confirm"}))
    appraisal = {"held_on": TODAY, "participants": ["村主任"], "result": "agreed"}
    ok(env.admin.post(f"/decisions/proposals/{proposal_id}/appraisals", json=appraisal), 201)
    body = {"area_id": env.area_id(proposal.area), "proposal_ids": [proposal_id]}
    notice_id = ok(env.admin.post("/decisions/notices", json=body), 201)["id"]
    return env.add(Obj("notice", proposal.area, None, {"notice_id": notice_id}, (notice_id,)))


def _form(tablet: DeviceClient, household_id: str, notes: str) -> Capture:
    household = tablet.household(household_id)
    assert household is not None, "the visit's household is on the tablet"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Capture(
        outcome=Outcome.completed,
        members=[MemberStatus(member_id=m.id, present=True, no_income=True) for m in household.members],
        notes=notes,
        started_at=now - dt.timedelta(minutes=20),
        ended_at=now,
        signature_missing=SignatureMissing.cannot_write,
    )


def make_capture(env: Env, variant: str, *, submit: bool = True) -> Obj:
    """A capture recorded and pushed by the visit's worker through the reference client."""
    visit = make_visit(env, variant)
    owner = VARIANT_OWNER[variant]
    tablet = env.tablet(owner)
    tablet.pull()
    held = tablet.visit(visit.params["visit_id"])
    assert held is not None, "the assigned visit reached the tablet"
    notes = f"notes-{uuid.uuid4().hex[:10]}"
    capture_id = tablet.record_capture(
        visit.params["visit_id"], _form(tablet, str(held.household_id), notes), submit=submit
    )
    assert capture_id is not None
    assert tablet.push().acknowledged == 1
    tablet.pull()
    capture = Obj("capture", visit.area, owner, {"capture_id": capture_id}, (capture_id, notes))
    capture.params["visit_id"] = visit.params["visit_id"]
    return env.add(capture)


def make_conflict(env: Env, variant: str) -> Obj:
    """A field conflict: the supervisor corrects the notes while the worker edits them offline."""
    capture = make_capture(env, variant, submit=False)
    capture_id, visit_id = capture.params["capture_id"], capture.params["visit_id"]
    tablet = env.tablet(VARIANT_OWNER[variant])
    held = tablet.store.item("capture", capture_id)
    assert held is not None
    edit = {"base_version": held[0], "fields": {"notes": f"sup-{uuid.uuid4().hex[:8]}"}}
    ok(env.admin.patch(f"/reviews/captures/{capture_id}", json=edit))
    draft = tablet.draft(capture_id)
    assert draft is not None
    tablet.record_capture(visit_id, msgspec.structs.replace(draft, notes="worker again"), capture_id=capture_id)
    assert tablet.push().conflicts == 1
    tablet.pull()
    conflicts = ok(env.admin.get("/reviews/conflicts", params={"visit_id": visit_id}))
    conflict_id = str(next(c["id"] for c in conflicts if c["kind"] == "field"))
    return env.add(Obj("conflict", capture.area, capture.owner, {"conflict_id": conflict_id}, ()))


MONTH = dt.datetime.now(dt.UTC).strftime("%Y-%m")


def make_month(env: Env, variant: str) -> Obj:
    """This month's payment roster (built once; a closed month stays as it is)."""
    env.admin.post(f"/payments/months/{MONTH}/build")
    return Obj("month", "C", None, {"month": MONTH}, ())


def make_area(env: Env, variant: str) -> Obj:
    area = VARIANT_AREA[variant]
    return Obj("area", area, None, {"area_id": str(env.area_id(area))}, ())


#: Which area and which worker each variant's object belongs to (from the caller sup1 / worker1's view:
#: ``own`` is theirs, ``other_worker`` a colleague's in the same community, ``neighbour`` another
#: community of the same township, ``other_area`` another township).
VARIANT_AREA = {"own": "T1-a", "other_worker": "T1-a", "neighbour": "T1-b", "other_area": "T2-a"}
VARIANT_OWNER = {"own": "worker1", "other_worker": "worker1b", "neighbour": "worker1b", "other_area": "worker2"}
AREA_VARIANTS = ("own", "neighbour", "other_area")
WORKER_VARIANTS = ("own", "other_worker", "other_area")


def _uuids(*names: str) -> Callable[[], dict[str, str]]:
    return lambda: {name: str(uuid.uuid4()) for name in names}


@dataclass(frozen=True)
class Provider:
    """Makes objects addressed by a route's path parameters, in the variants that make sense for them."""

    kind: str
    make: Callable[[Env, str], Obj]
    variants: tuple[str, ...]
    missing: Callable[[], dict[str, str]]
    """Path values that address nothing (to compare refusals with)."""


#: Path parameters (the full set of one route) → how to make an object for them.
#: When you add an endpoint with a new path parameter, add a provider here: a function creating a
#: real object (through the API, as admin or as its owner) in the requested variant, and its kind
#: in VISIBILITY (add a kind if none fits).
PROVIDERS: dict[frozenset[str], Provider] = {
    frozenset({"household_id"}): Provider("household", make_household, AREA_VARIANTS, _uuids("household_id")),
    frozenset({"household_id", "member_id"}): Provider(
        "member", make_member, AREA_VARIANTS, _uuids("household_id", "member_id")
    ),
    frozenset({"device_id"}): Provider("device", make_device, WORKER_VARIANTS, _uuids("device_id")),
    frozenset({"user_id"}): Provider("user", make_user, AREA_VARIANTS, _uuids("user_id")),
    frozenset({"visit_id"}): Provider("visit", make_visit, WORKER_VARIANTS, _uuids("visit_id")),
    frozenset({"complaint_id"}): Provider("complaint", make_complaint, AREA_VARIANTS, _uuids("complaint_id")),
    frozenset({"worker_id", "visit_on"}): Provider(
        "route", make_route, WORKER_VARIANTS, lambda: {"worker_id": str(uuid.uuid4()), "visit_on": TODAY}
    ),
    frozenset({"upload_id"}): Provider("upload", make_upload, WORKER_VARIANTS, _uuids("upload_id")),
    frozenset({"proposal_id"}): Provider("proposal", make_proposal, AREA_VARIANTS, _uuids("proposal_id")),
    frozenset({"correction_id"}): Provider("correction", make_correction, AREA_VARIANTS, _uuids("correction_id")),
    frozenset({"notice_id"}): Provider("notice", make_notice, AREA_VARIANTS, _uuids("notice_id")),
    frozenset({"month"}): Provider("month", make_month, ("own",), lambda: {"month": "1999-01"}),
    frozenset({"capture_id"}): Provider("capture", make_capture, WORKER_VARIANTS, _uuids("capture_id")),
    frozenset({"conflict_id"}): Provider(
        "conflict", make_conflict, WORKER_VARIANTS, lambda: {"conflict_id": str(2**31 - 7)}
    ),
}

Request = dict[str, Any]
"""Keyword arguments for ``httpx.Client.request``: ``json``, ``content``, ``headers``."""

_TUS = {"Tus-Resumable": "1.0.0"}

#: Valid requests for operations on an object (so a caller who may act on it succeeds, and one who
#: may not is refused on the object alone). Without an entry the body is ``{}``.
OBJECT_REQUESTS: dict[str, Callable[[Env, Obj | None], Request]] = {
    "add_member": lambda env, obj: {"json": _member_body(10_000 + next(env.serial), "child")},
    "update_household": lambda env, obj: {"json": {"phone": "13800000000"}},
    "update_member": lambda env, obj: {"json": {"employment": "farming"}},
    "update_user": lambda env, obj: {"json": {"display_name": "Renamed"}},
    "cancel_visit": lambda env, obj: {"json": {"reason": "matrix check: cancelled"}},
    "review_proposal": lambda env, obj: {"json": {"action": "confirm"}},
    "confirm_correction": lambda env, obj: {"json": {"note": "matrix check"}},
    "reject_correction": lambda env, obj: {"json": {"note": "matrix check"}},
    "edit_capture": lambda env, obj: {"json": {"base_version": 1, "fields": {"notes": "matrix edit"}}},
    "resolve_conflict": lambda env, obj: {"json": {"resolution": "keep"}},
    "tus_status": lambda env, obj: {"headers": _TUS},
    "tus_terminate": lambda env, obj: {"headers": _TUS},
    "tus_append": lambda env, obj: {
        "headers": {**_TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        "content": b"\xff\xd8\xff",
    },
}

#: Visible objects for which these operations may still answer 404 (with the reason).
MAY_BE_ABSENT = {
    "why_amount": "a household without any decision has no amount history yet",
}


@dataclass(frozen=True)
class Reference:
    """An operation without path identifiers whose request names an object (an area, a visit…)."""

    provider: Provider
    build: Callable[[Env, Obj], Request]


_AREA = Provider("area", make_area, AREA_VARIANTS, _uuids())
_VISIT = PROVIDERS[frozenset({"visit_id"})]
_HOUSEHOLD = PROVIDERS[frozenset({"household_id"})]

#: Requests naming an object in their body or headers: the caller must be able to act on it.
REFERENCES: dict[str, Reference] = {
    "create_household": Reference(_AREA, lambda env, obj: {"json": _household_body(env, obj.area)}),
    "create_user": Reference(
        _AREA,
        lambda env, obj: {
            "json": {
                "username": f"mxb{next(env.serial)}{uuid.uuid4().hex[:6]}",
                "display_name": "Matrix body",
                "role": "worker",
                "password": "matrix-password-1",
                "area_ids": [env.area_id(obj.area)],
            }
        },
    ),
    "create_complaint": Reference(
        _HOUSEHOLD,
        lambda env, obj: {
            "json": {"channel": "letter", "summary": "matrix", "subject": {"household_id": obj.params["household_id"]}}
        },
    ),
    "assign_visits": Reference(
        _VISIT,
        lambda env, obj: {
            "json": {
                "items": [
                    {"visit_id": obj.params["visit_id"], "worker_id": env.user_id(obj.owner or ""), "visit_on": TODAY}
                ]
            }
        },
    ),
    "record_correction": Reference(
        _HOUSEHOLD,
        lambda env, obj: {
            "json": {
                "household_id": obj.params["household_id"],
                "new_amount": 10_000 + next(env.serial),
                "reason": "matrix correction",
            }
        },
    ),
    "unassign_visits": Reference(_VISIT, lambda env, obj: {"json": {"visit_ids": [obj.params["visit_id"]]}}),
    "tus_create": Reference(
        _VISIT, lambda env, obj: {"headers": _tus_create_headers(obj.params["visit_id"], "ab" * 32, 100)}
    ),
}


#: Query filters that name an object: a foreign one must not open anything up.
def _foreign_filters(env: Env) -> dict[str, str]:
    other = env.cache.get(("visit", "other_area")) or _cached(env, _VISIT, "other_area")
    household = _cached(env, _HOUSEHOLD, "other_area")
    return {
        "area_id": str(env.area_id("T2-a")),
        "household_id": household.params["household_id"],
        "assigned_to": env.user_id("worker2"),
        "actor_id": env.user_id("worker2"),
        "visit_id": other.params["visit_id"],
    }


# -- checking responses -------------------------------------------------------------------------


def _foreign_markers(env: Env, caller: Caller | None) -> list[tuple[str, str]]:
    """(marker, why) pairs that must not appear in anything sent to ``caller`` (None: anonymous)."""
    found = []
    for obj in env.objects:
        knows = caller is not None and VISIBILITY[obj.kind].know(caller, obj)
        if not knows:
            found += [(m, f"{obj.kind} of {obj.area}/{obj.owner}") for m in obj.markers]
        for marker, roles, what in obj.restricted:
            if not knows or caller is None or caller.role not in roles:
                found.append((marker, f"{what} ({obj.kind} of {obj.area})"))
    return found


def assert_no_leak(env: Env, caller: Caller | None, response: httpx.Response, what: str) -> None:
    text = response.text + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    leaks = [f"{marker} ({why})" for marker, why in _foreign_markers(env, caller) if marker in text]
    who = caller.label if caller else "anonymous"
    assert not leaks, f"{what} as {who} leaked {leaks}: {response.text[:500]}"


def call(env: Env, token: str | None, op: Operation, url: str, request: Request | None = None) -> httpx.Response:
    client = env.client(token)
    if request:
        return client.request(op.method, url, **request)
    if op.has_body:
        return client.request(op.method, url, json={})
    return client.request(op.method, url)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("matrix")
    url = f"sqlite+aiosqlite:///{root / 'recheck.db'}"
    world = seed_world(url)
    media = f"file://{root / 'media'}"
    # a separate process: the server does not share this interpreter's lock with the test
    with ServerProcess(url, media, log_path=root / "server.log") as process:
        live = LiveServer(process.url, world, Settings(env="test", database_url=url, media_url=media, log_json=False))
        admin = live.as_user("admin")
        environment = Env(live, admin, root=root)
        for username in USER_AREA:
            user_id = str(world.user_ids[username])
            role = Role.supervisor if username.startswith("sup") else Role.worker
            environment.add(Obj("user", USER_AREA[username], username, {"user_id": user_id}, (user_id,), role=role))
        # background objects of every kind, so list endpoints have foreign things they could leak
        for variant in AREA_VARIANTS:
            make_member(environment, variant)
            make_notice(environment, variant)
        for variant in WORKER_VARIANTS:
            make_device(environment, variant)
            make_upload(environment, variant, complete=True)
            make_conflict(environment, variant)
        try:
            yield environment
        finally:
            for tablet in environment.tablets.values():
                tablet.close()
            for client in [admin, *environment.clients.values()]:
                client.close()


def _bad_tokens(env: Env) -> dict[str, str]:
    secret = env.live.settings.secret_key
    user_id = env.live.world.user_ids["worker1"]
    expired, _ = issue_access_token(secret, user_id, "worker", None, minutes=-1)
    forged = jwt.encode(
        {"sub": str(user_id), "role": "admin", "typ": "access", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)},
        "not-the-server-secret-" * 3,
        algorithm="HS256",
    )
    lost = env.live.register_device("worker1", "lost-tablet")
    revoked = env.live.login("worker1", lost)["access_token"]
    ok(env.admin.post(f"/devices/{lost[0]}/revoke"))
    return {"no token": "", "expired": expired, "forged": forged, "revoked device": revoked}


# -- the tests -------------------------------------------------------------------------------------


def test_every_route_is_classified() -> None:
    problems = []
    for op in OPERATIONS:
        if op.public:
            continue
        if not op.roles:
            problems.append(f"{op.label} ({op.operation_id}) declares no roles: add opt=allow(...) or opt=PUBLIC")
        if op.params and frozenset(op.params) not in PROVIDERS:
            problems.append(
                f"{op.label} ({op.operation_id}) has path parameters {sorted(op.params)} with no provider: "
                "add an entry to PROVIDERS in tests/server/test_access_matrix.py (a function making a real "
                "object of the caller's own area / another worker / another area, and its kind in VISIBILITY)"
            )
    assert not problems, "\n".join(problems)


def _expected_refusal(caller: Caller, op: Operation) -> bool:
    return caller.role not in op.roles or (op.device_required and not caller.device)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.label)
def test_access_matrix(env: Env, op: Operation) -> None:
    if op.public:
        response = env.client(None).request(op.method, op.url(dict.fromkeys(op.params, "x")), json={})
        assert response.status_code != 401, f"public {op.label} asked for a login: {response.text}"
        assert response.status_code < 500, response.text
        assert_no_leak(env, None, response, op.label)
        return
    provider = PROVIDERS.get(frozenset(op.params)) if op.params else None
    if op.params and provider is None:
        pytest.fail(f"{op.label}: no provider for {sorted(op.params)} (see test_every_route_is_classified)")

    if not env.bad_tokens:
        env.bad_tokens = _bad_tokens(env)
    for name, token in env.bad_tokens.items():
        values = _cached(env, provider, "own").params if provider else {}
        response = call(env, token or None, op, op.url(values), _object_request(env, op, None))
        assert response.status_code == 401, f"{op.label} with {name}: {response.status_code} {response.text}"
        assert_no_leak(env, None, response, f"{op.label} with {name}")

    for caller in CALLERS:
        if caller.device and not op.device_required and op.method != "GET":
            continue  # a device-bound token changes nothing for these: reads check it, changes need not
        token = env.token(caller)
        refused = _expected_refusal(caller, op)
        if provider is None:
            _check_plain(env, caller, token, op, refused)
            continue
        absent = call(env, token, op, op.url(provider.missing()), _object_request(env, op, None))
        assert absent.status_code < 500, f"{op.label} as {caller.label} on a missing id: {absent.text}"
        assert_no_leak(env, caller, absent, f"{op.label} missing id")
        for variant in provider.variants:
            obj = _cached(env, provider, variant)
            may_act = VISIBILITY[obj.kind].act(caller, obj)
            if may_act and not refused and op.method not in ("GET", "HEAD"):
                obj = provider.make(env, variant)  # a fresh one for each change that may succeed
            response = call(env, token, op, op.url(obj.params), _object_request(env, op, obj if may_act else None))
            what = f"{op.label} as {caller.label} on {variant} {obj.kind} ({obj.area}/{obj.owner})"
            assert response.status_code < 500, f"{what}: {response.text}"
            if refused:
                assert response.status_code == 403, f"{what}: role refused expected 403, got {response.text}"
            elif not may_act:
                assert response.status_code == absent.status_code, (
                    f"{what}: must be answered like a missing id ({absent.status_code}), got "
                    f"{response.status_code} {response.text}"
                )
                assert response.status_code in (400, 403, 404, 422), f"{what}: {response.text}"
            elif op.operation_id in OBJECT_REQUESTS or op.method in ("GET", "HEAD"):
                if op.operation_id in MAY_BE_ABSENT and response.status_code == 404:
                    continue
                assert response.is_success, f"{what}: expected success, got {response.status_code} {response.text}"
            else:
                assert response.status_code not in (401, 403, 404), f"{what}: {response.text}"
            assert_no_leak(env, caller, response, what)


def _check_plain(env: Env, caller: Caller, token: str, op: Operation, refused: bool) -> None:
    """An operation without path identifiers: role check, object-naming requests, filters, leaks."""
    if op.operation_id in REFERENCES:
        reference = REFERENCES[op.operation_id]
        for variant in reference.provider.variants:
            obj = reference.provider.make(env, variant)
            response = call(env, token, op, op.path, reference.build(env, obj))
            what = f"{op.label} as {caller.label} naming {variant} {obj.kind} ({obj.area}/{obj.owner})"
            assert response.status_code < 500, f"{what}: {response.text}"
            if refused:
                assert response.status_code == 403, f"{what}: role refused expected 403, got {response.text}"
            elif VISIBILITY[obj.kind].act(caller, obj):
                assert response.is_success, f"{what}: expected success, got {response.status_code} {response.text}"
            else:
                assert response.status_code in (403, 404, 409, 422), f"{what}: must be refused, got {response.text}"
            assert_no_leak(env, caller, response, what)
        return
    response = call(env, token, op, op.path)
    what = f"{op.label} as {caller.label}"
    assert response.status_code < 500, f"{what}: {response.text}"
    if refused:
        assert response.status_code == 403, f"{what}: role refused expected 403, got {response.status_code}"
    else:
        assert response.status_code not in (401, 403, 404), f"{what}: {response.status_code} {response.text}"
    assert_no_leak(env, caller, response, what)
    if refused:
        return
    filters = _foreign_filters(env)
    for name in op.query:  # filters naming a foreign object must not open it up
        if name in filters:
            foreign = call(env, token, op, f"{op.path}?{name}={filters[name]}")
            assert foreign.status_code < 500, foreign.text
            assert_no_leak(env, caller, foreign, f"{what} ?{name}=<foreign>")


def _cached(env: Env, provider: Provider, variant: str) -> Obj:
    key = (provider.kind, variant)
    if key not in env.cache:
        env.cache[key] = provider.make(env, variant)
    return env.cache[key]


def _object_request(env: Env, op: Operation, obj: Obj | None) -> Request | None:
    """The request for ``op`` on ``obj``; for ``None`` (not visible, or missing) the same valid request."""
    if op.operation_id in OBJECT_REQUESTS:
        return OBJECT_REQUESTS[op.operation_id](env, obj)
    return None
