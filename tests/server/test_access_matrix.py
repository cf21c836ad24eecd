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

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from litestar.routes import ASGIRoute, HTTPRoute

from schemas.auth import Role
from server.app import create_app
from server.auth.guards import SCHEMA_PATH
from server.auth.secrets import issue_access_token
from server.settings import Settings
from tests.support import LiveServer, make_id_number, seed_world, start_live_server

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
                if method in ("OPTIONS", "HEAD"):
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
    id_numbers: tuple[str, ...] = ()
    bank_accounts: tuple[str, ...] = ()
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


@dataclass(frozen=True)
class Visibility:
    act: Callable[[Caller, Obj], bool]
    """May the caller address the object by its id (read or change it, within its role)?"""
    know: Callable[[Caller, Obj], bool]
    """May the object's identifiers appear in anything the caller receives?"""


#: Who may see what, by kind of object. Area-scoped objects: anyone whose area contains it.
VISIBILITY: dict[str, Visibility] = {
    "area": Visibility(_by_area, _by_area),
    "household": Visibility(_by_area, _by_area),
    "member": Visibility(_by_area, _by_area),
    "device": Visibility(_device_act, _own_or_area),
    "user": Visibility(_user_act, _own_or_area),
    "visit": Visibility(_assigned, _assigned),
}

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

    def area_id(self, code: str) -> int:
        return self.live.world.area_ids[code]

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
        return self.live.client(headers={"Authorization": f"Bearer {token}"} if token else {})

    def add(self, obj: Obj) -> Obj:
        self.objects.append(obj)
        return obj


def _member_body(serial: int, relation: str = "head") -> dict[str, Any]:
    return {
        "name": f"Member{serial}",
        "relation": relation,
        "id_number": make_id_number("520111", dt.date(1960, 1, 1) + dt.timedelta(days=serial), serial),
        "sex": "female",
        "birth_date": (dt.date(1960, 1, 1) + dt.timedelta(days=serial)).isoformat(),
    }


def _household_body(env: Env, area: str) -> dict[str, Any]:
    serial = next(env.serial)
    return {
        "area_id": env.area_id(area),
        "residence": "rural",
        "category": "general",
        "address": f"matrix-lane-{uuid.uuid4().hex[:10]}",
        "members": [_member_body(serial * 2), _member_body(serial * 2 + 1, "spouse")],
        "benefit_amount": 50000,
        "bank_account": f"62{serial:014d}",
    }


def _household_obj(env: Env, data: dict[str, Any], area: str) -> Obj:
    members = data["members"]
    return Obj(
        kind="household",
        area=area,
        owner=None,
        params={"household_id": data["id"]},
        markers=(data["id"], data["address"], *(m["id"] for m in members)),
        id_numbers=tuple(m["id_number"] for m in members if "*" not in m["id_number"]),
        bank_accounts=(data["bank_account"],) if data.get("bank_account") else (),
    )


def make_household(env: Env, variant: str) -> Obj:
    area = VARIANT_AREA[variant]
    response = env.admin.post("/households/", json=_household_body(env, area))
    assert response.status_code == 201, response.text
    return env.add(_household_obj(env, response.json(), area))


def make_member(env: Env, variant: str) -> Obj:
    household = make_household(env, variant)
    data = env.admin.get(f"/households/{household.params['household_id']}").json()
    member = data["members"][1]
    return env.add(
        Obj(
            kind="member",
            area=household.area,
            owner=None,
            params={"household_id": data["id"], "member_id": member["id"]},
            markers=(member["id"],),
            id_numbers=(member["id_number"],),
        )
    )


def make_device(env: Env, variant: str) -> Obj:
    owner = VARIANT_OWNER[variant]
    device_id, _secret = env.live.register_device(owner, f"matrix-{next(env.serial)}")
    return env.add(Obj("device", USER_AREA[owner], owner, {"device_id": device_id}, (device_id,)))


def make_user(env: Env, variant: str) -> Obj:
    area = VARIANT_AREA[variant]
    username = f"mx{next(env.serial)}{uuid.uuid4().hex[:6]}"
    response = env.admin.post(
        "/users/",
        json={
            "username": username,
            "display_name": username,
            "role": "worker",
            "password": "matrix-password-1",
            "area_ids": [env.area_id(area)],
        },
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    return env.add(Obj("user", area, username, {"user_id": user_id}, (user_id,), role=Role.worker))


#: Which area and which worker each variant's object belongs to (from the caller sup1 / worker1's view:
#: ``own`` is theirs, ``other_worker`` a colleague's in the same community, ``neighbour`` another
#: community of the same township, ``other_area`` another township).
VARIANT_AREA = {"own": "T1-a", "other_worker": "T1-a", "neighbour": "T1-b", "other_area": "T2-a"}
VARIANT_OWNER = {"own": "worker1", "other_worker": "worker1b", "neighbour": "worker1b", "other_area": "worker2"}


@dataclass(frozen=True)
class Provider:
    """Makes objects addressed by a route's path parameters, in the variants that make sense for them."""

    kind: str
    make: Callable[[Env, str], Obj]
    variants: tuple[str, ...]


#: Path parameters (the full set of one route) → how to make an object for them.
#: When you add an endpoint with a new path parameter, add a provider here: a function creating a
#: real object (through the API, as admin or as its owner) in the requested variant, and its kind
#: in VISIBILITY (add a kind if none fits).
PROVIDERS: dict[frozenset[str], Provider] = {
    frozenset({"household_id"}): Provider("household", make_household, ("own", "neighbour", "other_area")),
    frozenset({"household_id", "member_id"}): Provider("member", make_member, ("own", "neighbour", "other_area")),
    frozenset({"device_id"}): Provider("device", make_device, ("own", "other_worker", "other_area")),
    frozenset({"user_id"}): Provider("user", make_user, ("own", "neighbour", "other_area")),
}

#: Operations whose request body names an area: a valid body for an object in ``area``.
AREA_BODIES: dict[str, Callable[[Env, str], dict[str, Any]]] = {
    "create_household": _household_body,
    "create_user": lambda env, area: {
        "username": f"mxb{next(env.serial)}{uuid.uuid4().hex[:6]}",
        "display_name": "Matrix body",
        "role": "worker",
        "password": "matrix-password-1",
        "area_ids": [env.area_id(area)],
    },
}

#: Valid bodies for operations on an object (used for callers who may act on it).
OBJECT_BODIES: dict[str, Callable[[Env, Obj], dict[str, Any]]] = {
    "add_member": lambda env, obj: _member_body(10_000 + next(env.serial), "child"),
    "update_household": lambda env, obj: {"phone": "13800000000"},
    "update_member": lambda env, obj: {"employment": "farming"},
    "update_user": lambda env, obj: {"display_name": "Renamed"},
}

# -- checking responses -------------------------------------------------------------------------


def _foreign_markers(env: Env, caller: Caller | None) -> list[tuple[str, str]]:
    """(marker, why) pairs that must not appear in anything sent to ``caller`` (None: anonymous)."""
    found = []
    for obj in env.objects:
        if caller is None or not VISIBILITY[obj.kind].know(caller, obj):
            found += [(m, f"{obj.kind} of {obj.area}/{obj.owner}") for m in obj.markers]
        if caller is None or not VISIBILITY[obj.kind].know(caller, obj) or caller.role == Role.worker:
            found += [(n, f"whole ID number ({obj.kind} of {obj.area})") for n in obj.id_numbers]
        if caller is None or caller.role not in (Role.admin, Role.approver) or not _by_area(caller, obj):
            found += [(b, f"whole bank account ({obj.kind} of {obj.area})") for b in obj.bank_accounts]
    return found


def assert_no_leak(env: Env, caller: Caller | None, response: httpx.Response, what: str) -> None:
    text = response.text + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    leaks = [f"{marker} ({why})" for marker, why in _foreign_markers(env, caller) if marker in text]
    who = caller.label if caller else "anonymous"
    assert not leaks, f"{what} as {who} leaked {leaks}: {response.text[:500]}"


def call(env: Env, token: str | None, op: Operation, url: str, body: Any = None) -> httpx.Response:
    with env.client(token) as client:
        if op.has_body:
            return client.request(op.method, url, json=body if body is not None else {})
        return client.request(op.method, url)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("matrix")
    url = f"sqlite+aiosqlite:///{root / 'recheck.db'}"
    world = seed_world(url)
    with start_live_server(url, f"file://{root / 'media'}", world) as live, live.as_user("admin") as admin:
        environment = Env(live, admin)
        for variant in ("own", "neighbour", "other_area"):  # background objects for list endpoints
            make_member(environment, variant)
        for variant in ("own", "other_worker", "other_area"):
            make_device(environment, variant)
        for username in USER_AREA:
            user_id = str(world.user_ids[username])
            role = Role.supervisor if username.startswith("sup") else Role.worker
            environment.add(Obj("user", USER_AREA[username], username, {"user_id": user_id}, (user_id,), role=role))
        yield environment


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
    response = env.admin.post(f"/devices/{lost[0]}/revoke")
    assert response.status_code == 200, response.text
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
        with env.client(None) as client:
            response = client.request(op.method, op.url(dict.fromkeys(op.params, "x")), json={})
        assert response.status_code not in (401, 403), f"public {op.label} refused: {response.text}"
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
        response = call(env, token or None, op, op.url(values))
        assert response.status_code == 401, f"{op.label} with {name}: {response.status_code} {response.text}"
        assert_no_leak(env, None, response, f"{op.label} with {name}")

    for caller in CALLERS:
        token = env.token(caller)
        refused = _expected_refusal(caller, op)
        if provider is None:
            _check_plain(env, caller, token, op, refused)
            continue
        missing = {name: str(uuid.uuid4()) for name in op.params}
        absent = call(env, token, op, op.url(missing), _object_body(env, op, None))
        assert absent.status_code < 500, f"{op.label} as {caller.label} on a missing id: {absent.text}"
        assert_no_leak(env, caller, absent, f"{op.label} missing id")
        for variant in provider.variants:
            obj = _object_for(env, op, provider, variant)
            may_act = VISIBILITY[obj.kind].act(caller, obj)
            body = _object_body(env, op, obj if may_act else None)
            response = call(env, token, op, op.url(obj.params), body)
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
            elif op.operation_id in OBJECT_BODIES or not op.has_body:
                assert response.is_success, f"{what}: expected success, got {response.status_code} {response.text}"
            else:
                assert response.status_code not in (401, 403, 404), f"{what}: {response.text}"
            assert_no_leak(env, caller, response, what)


def _check_plain(env: Env, caller: Caller, token: str, op: Operation, refused: bool) -> None:
    """An operation without path identifiers: role check, area-carrying bodies, area filters, leaks."""
    if op.operation_id in AREA_BODIES:
        for variant in ("own", "neighbour", "other_area"):
            area = VARIANT_AREA[variant]
            response = call(env, token, op, op.path, AREA_BODIES[op.operation_id](env, area))
            what = f"{op.label} as {caller.label} for {area}"
            assert response.status_code < 500, f"{what}: {response.text}"
            if refused:
                assert response.status_code == 403, f"{what}: role refused expected 403, got {response.text}"
            elif under(area, caller.area):
                assert response.is_success, f"{what}: expected success, got {response.text}"
            else:
                assert response.status_code in (403, 404, 422), f"{what}: must be refused, got {response.text}"
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
    for name in op.query:  # filters naming a foreign area must not open it up
        if name.endswith("area_id") and not refused:
            foreign = call(env, token, op, f"{op.path}?{name}={env.area_id('T2-a')}")
            assert foreign.status_code < 500, foreign.text
            assert_no_leak(env, caller, foreign, f"{what} ?{name}=T2-a")


def _object_for(env: Env, op: Operation, provider: Provider, variant: str) -> Obj:
    """A fresh object for operations that change things, a shared one for reads."""
    return _cached(env, provider, variant) if op.method == "GET" else provider.make(env, variant)


def _cached(env: Env, provider: Provider, variant: str) -> Obj:
    key = (provider.kind, variant)
    if key not in env.cache:
        env.cache[key] = provider.make(env, variant)
    return env.cache[key]


def _object_body(env: Env, op: Operation, obj: Obj | None) -> Any:
    if not op.has_body:
        return None
    if obj is not None and op.operation_id in OBJECT_BODIES:
        return OBJECT_BODIES[op.operation_id](env, obj)
    if op.operation_id in OBJECT_BODIES:  # the same valid body, so only the object differs
        return OBJECT_BODIES[op.operation_id](env, Obj("none", "C", None, {}, ()))
    return {}
