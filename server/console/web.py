"""What every console page shares: the request's context (session, user, language, form),
rendering with the session cookie re-signed, redirects that work for htmx, and the refusals
(sign-in needed, forged form, wrong role) turned into pages.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlparse

from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie, State
from litestar.di import Provide
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.auth.identity import Actor, CurrentUser
from server.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, environment, translations
from server.console.session import COOKIE, SessionData, load_user, write_cookie
from server.errors import DomainError
from server.settings import Settings

__all__ = [
    "CONSOLE_OPT",
    "LANG_COOKIE",
    "OFFICE_ROLES",
    "PLANNERS",
    "Console",
    "CsrfRefused",
    "SignInRequired",
    "console_dependencies",
    "console_exception_handlers",
    "safe_next",
    "session_cookie",
]

#: Console handlers are not behind the API's bearer-token middleware; the context below
#: authenticates them from the session cookie instead.
CONSOLE_OPT: dict[str, Any] = {"exclude_from_auth": True, "roles": ()}
LANG_COOKIE = "recheck_lang"
#: Everyone who uses the console (workers use the field app).
OFFICE_ROLES = (Role.supervisor, Role.admin, Role.approver, Role.auditor)
#: Who plans, assigns and orders routes: exactly the API's planners.
PLANNERS = (Role.supervisor, Role.admin)
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SignInRequired(Exception):
    """No usable session: the browser goes to the sign-in page and comes back afterwards."""

    def __init__(self, expired: bool) -> None:
        super().__init__("sign in")
        self.expired = expired


class CsrfRefused(Exception):
    """A form post without this session's CSRF token (forged, or from a stale page)."""


class RoleRefused(Exception):
    """The signed-in user's role may not use this page."""


@dataclass
class Console:
    """One console request: who is signed in, in which language, and the posted form."""

    request: Request[Any, Any, Any]
    settings: Settings
    db: AsyncSession
    session: SessionData
    user_or_none: CurrentUser | None
    expired: bool
    language: str
    form: Mapping[str, Any] = field(default_factory=dict)
    form_lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def _(self, message: str) -> str:
        """``message`` in the page's language."""
        return translations(self.language).gettext(message)

    def require(self, *roles: Role) -> CurrentUser:
        """The signed-in user, who must hold one of ``roles`` (default: any office role)."""
        user = self.user_or_none
        if user is None:
            raise SignInRequired(self.expired)
        if user.role not in (roles or OFFICE_ROLES):
            raise RoleRefused()
        return user

    @property
    def actor(self) -> Actor:
        user = self.require()
        return Actor.of(user, self.request.scope.get("state", {}).get("request_id"))

    def values(self, name: str) -> list[str]:
        """Every value posted under ``name`` (checkboxes)."""
        return self.form_lists.get(name, [])

    def cookies(self) -> list[Cookie]:
        return [session_cookie(self.settings, self.session)]

    def render(self, template: str, status: int = 200, **context: Any) -> Response[str]:
        """The page (or htmx fragment) ``template`` with the session cookie re-signed."""
        html = (
            environment(self.language)
            .get_template(template)
            .render(
                user=self.user_or_none,
                csrf=self.session.n,
                path=self.request.url.path,
                query=self.request.url.query,
                htmx=self.htmx,
                tiles_url=self.settings.map_tiles_url,
                Role=Role,
                **context,
            )
        )
        headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
        return Response(html, status_code=status, media_type=MediaType.HTML, cookies=self.cookies(), headers=headers)

    def redirect(self, url: str) -> Response[Any]:
        """Post/redirect/get; htmx follows ``HX-Redirect`` instead of swapping the answer in."""
        if self.htmx:
            return Response("", status_code=200, headers={"HX-Redirect": url}, cookies=self.cookies())
        return Redirect(url, status_code=303, cookies=self.cookies())


def session_cookie(settings: Settings, data: SessionData) -> Cookie:
    """The session cookie: HttpOnly (no script reads it), SameSite=Lax (other sites' forms do
    not carry it), Secure in production (only over HTTPS)."""
    return Cookie(
        key=COOKIE,
        value=write_cookie(settings.secret_key, data),
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
        path="/",
    )


def safe_next(target: str | None) -> str:
    """A same-site path to return to after signing in (never another host)."""
    if not target:
        return "/console/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/console/"
    return target


def _language(request: Request[Any, Any, Any]) -> str:
    chosen = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


async def provide_console(request: Request[Any, Any, Any], state: State, db: AsyncSession) -> Console:
    """Read the session cookie, resolve the user and, for a post, check the CSRF token."""
    settings: Settings = state.settings
    from server.console.session import read_cookie

    loaded = await load_user(
        db, read_cookie(settings.secret_key, request.cookies.get(COOKIE)), settings.console_idle_seconds
    )
    context = Console(
        request=request,
        settings=settings,
        db=db,
        session=loaded.data,
        user_or_none=loaded.user,
        expired=loaded.expired,
        language=_language(request),
    )
    if request.method in _UNSAFE:
        form = await request.form()
        context.form = {k: v for k, v in form.items() if isinstance(v, str)}
        context.form_lists = {k: [v for v in form.getall(k) if isinstance(v, str)] for k in form}
        token = request.headers.get("x-csrf-token") or context.form.get("_csrf") or ""
        if not hmac.compare_digest(str(token), loaded.data.n):
            raise CsrfRefused()
    return context


console_dependencies = {"console": Provide(provide_console)}


def _page(request: Request[Any, Any, Any], template: str, status: int, **context: Any) -> Response[str]:
    language = _language(request)
    html = (
        environment(language)
        .get_template(template)
        .render(user=None, csrf="", path=request.url.path, query="", htmx=False, Role=Role, **context)
    )
    return Response(html, status_code=status, media_type=MediaType.HTML, headers={"Cache-Control": "no-store"})


def _sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    back = request.headers.get("hx-current-url") or request.headers.get("referer") or str(request.url)
    parsed = urlparse(back)
    target = safe_next(parsed.path + (f"?{parsed.query}" if parsed.query else ""))
    url = f"/console/login?next={quote(target)}" + ("&expired=1" if exc.expired else "")
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=401, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def _csrf(request: Request[Any, Any, Any], exc: CsrfRefused) -> Response[Any]:
    return _page(request, "error.html", 403, kind="csrf")


def _role(request: Request[Any, Any, Any], exc: RoleRefused) -> Response[Any]:
    return _page(request, "error.html", 403, kind="role")


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _page(request, "error.html", exc.status, kind="domain", error=exc)


console_exception_handlers: dict[int | type[Exception], Any] = {
    SignInRequired: _sign_in,
    CsrfRefused: _csrf,
    RoleRefused: _role,
    DomainError: _domain,
}
