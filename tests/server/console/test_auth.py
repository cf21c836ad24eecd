"""Console sign-in over real HTTP: redirects, the session cookie's flags, CSRF on every form, the
API's rate limits, roles as the API has them, sign-out and the idle timeout."""

from __future__ import annotations

import time

from server.console.session import COOKIE, SessionData, read_cookie
from server.console.web import safe_next, session_cookie
from server.settings import Settings
from tests.server.console.helpers import csrf_of, sign_in
from tests.support import LiveServer


def test_root_opens_the_console_and_asks_for_sign_in(live: LiveServer) -> None:
    with live.client(follow_redirects=False) as client:
        assert client.get("/").headers["location"] == "/console/"
        answer = client.get("/console/")
        assert answer.status_code == 303
        assert answer.headers["location"] in ("/console/login?next=/console/", "/console/login?next=/console")
        page = client.get("/console/login")
    assert page.status_code == 200
    assert "登录" in page.text  # Chinese by default
    assert page.headers["content-type"].startswith("text/html")


def test_sign_in_sets_a_safe_cookie_and_shows_the_overview(live: LiveServer) -> None:
    with sign_in(live, "sup1") as (client, answer):
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie  # the test server is plain HTTP
        overview = client.get("/console/")
        assert overview.status_code == 200
        assert "总览" in overview.text
        assert "sup1" in overview.text


def test_production_cookie_is_secure() -> None:
    settings = Settings(env="production", secret_key="x" * 40)
    cookie = session_cookie(settings, SessionData.fresh())
    assert cookie.secure
    assert cookie.httponly
    assert cookie.samesite == "lax"
    assert session_cookie(Settings(env="test"), SessionData.fresh()).secure is False


def test_a_post_without_the_csrf_token_is_refused(live: LiveServer) -> None:
    with live.client(follow_redirects=False) as client:
        client.get("/console/login")
        refused = client.post("/console/login", data={"username": "sup1", "password": "correct-horse-battery"})
        assert refused.status_code == 403
        assert COOKIE not in refused.headers.get("set-cookie", "")
        forged = client.post(
            "/console/login", data={"username": "sup1", "password": "correct-horse-battery", "_csrf": "guess"}
        )
        assert forged.status_code == 403
        # and nothing signed in: the overview still asks for sign-in
        assert client.get("/console/").status_code == 303
    with sign_in(live, "sup1") as (signed, _):
        overview = signed.get("/console/")
        token = csrf_of(overview.text)
        # signing out needs the token too; without it the session stays
        assert signed.post("/console/logout").status_code == 403
        assert signed.get("/console/").status_code == 200
        assert signed.post("/console/logout", data={"_csrf": token}).status_code == 303
        assert signed.get("/console/").status_code == 303


def test_sign_out_ends_the_session_even_for_a_copied_cookie(live: LiveServer) -> None:
    with sign_in(live, "sup1") as (client, _):
        stolen = client.cookies[COOKIE]
        token = csrf_of(client.get("/console/").text)
        client.post("/console/logout", data={"_csrf": token})
    with live.client(follow_redirects=False, cookies={COOKIE: stolen}) as other:
        assert other.get("/console/").status_code == 303


def test_wrong_password_and_rate_limit_use_the_api_rules(live: LiveServer) -> None:
    with live.client(follow_redirects=False) as client:
        token = csrf_of(client.get("/console/login").text)
        for _ in range(live.settings.login_max_failures_per_account):
            wrong = client.post("/console/login", data={"username": "sup2", "password": "nope", "_csrf": token})
            assert wrong.status_code == 401
            assert "用户名或密码错误" in wrong.text
        limited = client.post(
            "/console/login", data={"username": "sup2", "password": "correct-horse-battery", "_csrf": token}
        )
        assert limited.status_code == 429
        assert "登录失败次数过多" in limited.text
        assert int(limited.headers["retry-after"]) > 0


def test_a_worker_is_sent_to_the_field_app(live: LiveServer) -> None:
    with sign_in(live, "worker1") as (client, answer):
        assert answer.status_code == 303
        assert answer.headers["location"] == "/field/"
        assert client.get("/console/").status_code == 303  # no console session for a worker


def test_english_by_the_switch(live: LiveServer) -> None:
    with live.client(follow_redirects=True) as client:
        page = client.get("/console/lang/en", params={"next": "/console/login"})
        assert "Sign in to the recheck console" in page.text
        assert "登录" not in page.text
        back = client.get("/console/lang/zh", params={"next": "https://evil.example/"})
        assert back.url.host == "127.0.0.1"  # never off-site
        assert "登录" in back.text


def test_next_is_kept_on_site() -> None:
    assert safe_next("/console/visits?due=overdue") == "/console/visits?due=overdue"
    for bad in ("https://evil.example/x", "//evil.example", "javascript:alert(1)", "", None):
        assert safe_next(bad) == "/console/"


def test_a_forged_cookie_is_not_a_session() -> None:
    assert read_cookie("k", "eyJuIjoiYSIsInIiOiJiIiwidCI6MX0.deadbeef") is None
    assert read_cookie("k", None) is None


def test_an_idle_session_is_signed_out(idle_live: LiveServer) -> None:
    with sign_in(idle_live, "sup1") as (client, _):
        assert client.get("/console/").status_code == 200
        time.sleep(1.5)
        assert client.get("/console/").status_code == 200  # use slides the timeout
        time.sleep(1.5)
        assert client.get("/console/").status_code == 200
        time.sleep(3.5)
        gone = client.get("/console/")
        assert gone.status_code == 303
        assert gone.headers["location"].endswith("expired=1")
