"""Login, rate limits, refresh rotation, devices and revocation, through real HTTP."""

from __future__ import annotations

from tests.support import PASSWORD, LiveServer


def test_login_returns_tokens_and_identity(live: LiveServer) -> None:
    data = live.login("sup1")
    assert data["token_type"] == "Bearer"
    assert data["user"]["role"] == "supervisor"
    assert data["user"]["area_ids"] == [live.world.area_ids["T1"]]
    with live.client(headers={"Authorization": f"Bearer {data['access_token']}"}) as c:
        me = c.get("/auth/me").json()
    assert me["username"] == "sup1"


def test_wrong_password_is_401_and_forged_token_refused(live: LiveServer) -> None:
    with live.client() as c:
        wrong = c.post("/auth/login", json={"username": "sup1", "password": "not-the-password"})
        forged = c.get("/auth/me", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "bad_credentials"
    assert forged.status_code == 401


def test_rate_limit_per_account_holds_even_with_the_right_password(live: LiveServer) -> None:
    with live.client() as c:
        for _ in range(live.settings.login_max_failures_per_account):
            assert c.post("/auth/login", json={"username": "worker2", "password": "wrong-password"}).status_code == 401
        blocked = c.post("/auth/login", json={"username": "worker2", "password": PASSWORD})
        other = c.post("/auth/login", json={"username": "worker1", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "rate_limited"
    assert other.status_code == 200  # the limit is per account, not global


def test_refresh_rotates_and_refuses_reuse(live: LiveServer) -> None:
    first = live.login("approver")
    with live.client() as c:
        second = c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        reuse = c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert reuse.status_code == 401


def test_device_login_and_revocation_refuses_next_request(live: LiveServer) -> None:
    device = live.register_device("worker1", "tablet-7")
    tokens = live.login("worker1", device)
    assert tokens["user"]["device_id"] == device[0]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    with live.client(headers=bearer) as c:
        assert c.get("/auth/me").status_code == 200
    with live.as_user("sup1") as supervisor:
        revoked = supervisor.post(f"/devices/{device[0]}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    with live.client(headers=bearer) as c:
        after = c.get("/auth/me")
        refresh = c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        relogin = c.post(
            "/auth/login",
            json={"username": "worker1", "password": PASSWORD, "device_id": device[0], "device_secret": device[1]},
        )
    assert after.status_code == 401
    assert refresh.status_code == 401
    assert relogin.status_code == 401


def test_a_revoked_tablet_is_told_when_and_by_whom_at_login_refresh_and_sync(live: LiveServer) -> None:
    device = live.register_device("worker1", "平板 7")
    tokens = live.login("worker1", device)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    with live.as_user("sup1") as supervisor:
        sup = supervisor.get("/auth/me").json()
        revoked_at = supervisor.post(f"/devices/{device[0]}/revoke").json()["revoked_at"]
    credential = {"username": "worker1", "password": PASSWORD, "device_id": device[0], "device_secret": device[1]}
    with live.client() as c:
        answers = {
            "login": c.post("/auth/login", json=credential),
            "refresh": c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
            "sync": c.post("/sync/pull", json={"device_time": revoked_at}, headers=bearer),
            "me": c.get("/auth/me", headers=bearer),
        }
        wrong_password = c.post("/auth/login", json={**credential, "password": "not-the-password"})
        wrong_secret = c.post("/auth/login", json={**credential, "device_secret": "guess"})
        without_device = c.post("/auth/login", json={"username": "worker1", "password": PASSWORD})
    for name, answer in answers.items():
        assert answer.status_code == 401, name
        body = answer.json()
        assert body["code"] == "device_revoked", (name, body)
        assert body["errors"] == [{"path": "device_id", "reason": "revoked"}]
        assert body["revocation"] == {
            "device_id": device[0],
            "device_name": "平板 7",
            "revoked_at": revoked_at,
            "revoked_by": sup["id"],
            "revoked_by_name": sup["display_name"],
        }
        assert "was revoked on" in body["message"]
        assert sup["display_name"] in body["message"]
        assert "wrong username" not in body["message"]
        assert body["request_id"]
    # only who holds both the password and the tablet's credential learns of the revocation
    assert wrong_password.json()["code"] == wrong_secret.json()["code"] == "bad_credentials"
    assert without_device.status_code == 200  # the account itself is fine


def test_a_disabled_account_is_not_reported_as_a_revoked_tablet(live: LiveServer) -> None:
    device = live.register_device("worker1b")
    tokens = live.login("worker1b", device)
    with live.as_user("admin") as admin:
        assert admin.patch(f"/users/{live.world.user_ids['worker1b']}", json={"active": False}).status_code == 200
    with live.client() as c:
        refresh = c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert refresh.json()["code"] == "account_disabled"
    assert "revocation" not in refresh.json()


def test_device_secret_must_match(live: LiveServer) -> None:
    device_id, _secret = live.register_device("worker1")
    with live.client() as c:
        response = c.post(
            "/auth/login",
            json={"username": "worker1", "password": PASSWORD, "device_id": device_id, "device_secret": "guess"},
        )
    assert response.status_code == 401


def test_other_supervisor_cannot_revoke_a_device_outside_their_areas(live: LiveServer) -> None:
    device_id, _ = live.register_device("worker1")
    with live.as_user("sup2") as c:
        response = c.post(f"/devices/{device_id}/revoke")
    assert response.status_code == 404


def test_deactivated_user_is_refused_on_the_next_request(live: LiveServer) -> None:
    with live.as_user("worker1b") as worker:
        assert worker.get("/auth/me").status_code == 200
        with live.as_user("sup1") as supervisor:
            response = supervisor.patch(f"/users/{live.world.user_ids['worker1b']}", json={"active": False})
        assert response.status_code == 200
        assert worker.get("/auth/me").status_code == 401


def test_supervisor_creates_workers_only_in_own_areas(live: LiveServer) -> None:
    body = {"username": "newworker", "display_name": "New", "role": "worker", "password": PASSWORD}
    with live.as_user("sup1") as c:
        ok = c.post("/users/", json={**body, "area_ids": [live.world.area_ids["T1-b"]]})
        outside = c.post("/users/", json={**body, "username": "w3", "area_ids": [live.world.area_ids["T2-a"]]})
        admin_role = c.post("/users/", json={**body, "username": "w4", "role": "admin", "area_ids": [1]})
    assert ok.status_code == 201
    assert outside.status_code == 403
    assert outside.json()["errors"][0]["path"] == "$.area_ids[0]"
    assert admin_role.status_code == 403
    assert admin_role.json()["errors"][0]["path"] == "$.role"


def test_the_last_active_admin_cannot_switch_itself_off_or_lose_the_role(live: LiveServer) -> None:
    admin_id = live.world.user_ids["admin"]
    with live.as_user("admin") as admin:
        off = admin.patch(f"/users/{admin_id}", json={"active": False})
        demoted = admin.patch(f"/users/{admin_id}", json={"role": "supervisor"})
        assert admin.get("/auth/me").json()["role"] == "admin"  # still there, still an admin
        # with a second admin the first may step down: someone can still manage the county
        second = admin.post(
            "/users/",
            json={
                "username": "admin2",
                "display_name": "Second",
                "role": "admin",
                "password": PASSWORD,
                "area_ids": [live.world.area_ids["C"]],
            },
        )
        assert second.status_code == 201, second.text
        stepped_down = admin.patch(f"/users/{admin_id}", json={"role": "auditor"})
    assert off.status_code == 409
    assert off.json()["code"] == "last_admin"
    assert off.json()["errors"][0]["path"] == "$.active"
    assert demoted.status_code == 409
    assert demoted.json()["errors"][0]["path"] == "$.role"
    assert stepped_down.status_code == 200, stepped_down.text
    assert stepped_down.json()["role"] == "auditor"
    with live.as_user("admin2") as admin2:
        last = admin2.patch(f"/users/{second.json()['id']}", json={"active": False})
    assert last.status_code == 409


def test_only_admins_change_roles(live: LiveServer) -> None:
    with live.as_user("sup1") as supervisor:
        response = supervisor.patch(f"/users/{live.world.user_ids['worker1b']}", json={"role": "supervisor"})
    assert response.status_code == 403
    assert response.json()["errors"][0]["path"] == "$.role"
