"""Signing in and out of the console, and the language switch."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect

from schemas.auth import LoginRequest, Role
from server.auth import services
from server.auth.address import client_address
from server.console.session import SessionData
from server.console.web import CONSOLE_OPT, LANG_COOKIE, Console, safe_next
from server.errors import DomainError

__all__ = ["ConsoleAuthController", "root"]


@get("/", opt=CONSOLE_OPT, include_in_schema=False, name="root")
async def root() -> Redirect:
    """The server's address opens the console."""
    return Redirect("/console/", status_code=302)


class ConsoleAuthController(Controller):
    path = "/console"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/login", name="console_login")
    async def login_page(self, console: Console, expired: bool = False) -> Response[Any]:
        target = safe_next(console.request.query_params.get("next"))
        if console.user_or_none is not None:
            return console.redirect(target)
        return console.render("auth/login.html", next=target, expired=expired, error=None, username="")

    @post("/login", name="console_login_post", status_code=200)
    async def login(self, console: Console) -> Response[Any]:
        """The API's login service, with its rate limits; a worker is sent to the field app."""
        username = console.form.get("username", "").strip()
        target = safe_next(console.form.get("next"))
        address = client_address(console.request, console.settings.proxy_networks)
        try:
            data = msgspec.convert({"username": username, "password": console.form.get("password", "")}, LoginRequest)
            pair = await services.login(console.db, console.settings, data, address)
        except (msgspec.ValidationError, DomainError) as error:
            status = getattr(error, "status", 422)
            message = (
                console._("Too many failed sign-ins. Try again later.")
                if status == 429
                else console._("Wrong username or password.")
            )
            page = console.render(
                "auth/login.html", status=status, next=target, expired=False, error=message, username=username
            )
            page.headers.update(getattr(error, "headers", None) or {})  # a 429's Retry-After
            return page
        if pair.user is None or pair.user.role == Role.worker:
            # Field workers use the tablet app, which signs in with its own device credential.
            await services.logout(console.db, pair.refresh_token)
            return console.redirect("/field/")
        # A new nonce at sign-in: a token seen before signing in is worth nothing after it.
        console.session = SessionData.fresh()
        console.session = msgspec.structs.replace(console.session, r=pair.refresh_token)
        return console.redirect(target)

    @post("/logout", name="console_logout", status_code=200)
    async def logout(self, console: Console) -> Response[Any]:
        if console.session.r:
            await services.logout(console.db, console.session.r)
        console.session = SessionData.fresh()
        return console.redirect("/console/login")

    @get("/lang/{language:str}", name="console_language")
    async def language(self, request: Request[Any, Any, Any], language: str) -> Response[Any]:
        """Switch the console's language (a preference, kept in a cookie for a year)."""
        chosen = language if language in ("zh", "en") else "zh"
        back = safe_next(request.query_params.get("next"))
        return Redirect(
            back,
            status_code=303,
            cookies=[Cookie(key=LANG_COOKIE, value=chosen, max_age=365 * 86400, samesite="lax", path="/")],
        )
