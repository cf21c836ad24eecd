"""Workers and their tablets: last sync, clock offset, and revoking a lost tablet."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from litestar import Controller, Response, get, post

from schemas.auth import Role
from server.auth import services as auth_services
from server.auth.models import Device
from server.console.web import CONSOLE_OPT, PLANNERS, Console
from server.errors import DomainError, InvalidInput

__all__ = ["WorkerController"]


class WorkerController(Controller):
    path = "/console/workers"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/", name="console_workers")
    async def index(self, console: Console) -> Response[Any]:
        return await self._page(console, done=console.request.query_params.get("done"))

    async def _page(self, console: Console, status: int = 200, **extra: Any) -> Response[Any]:
        user = console.require(*PLANNERS)
        workers = await auth_services.list_users(console.db, user, Role.worker)
        devices: dict[uuid.UUID, list[Device]] = defaultdict(list)
        for device in await auth_services.list_devices(console.db, user):
            devices[device.user_id].append(device)
        context: dict[str, Any] = {"problem": None, "done": None} | extra
        return console.render(
            "devices/index.html",
            status=status,
            workers=workers,
            devices=devices,
            saved=bool(context["done"]),
            **context,
        )

    @post("/devices/{device_id:str}/revoke", name="console_revoke_device", status_code=200)
    async def revoke(self, console: Console, device_id: str) -> Response[Any]:
        """Revoke a lost tablet (the API's service: its next sync is refused, what it sent stays)."""
        user = console.require(*PLANNERS)
        try:
            if console.form.get("confirm") != "yes":
                raise InvalidInput.field("confirm", "tick the box to confirm the tablet is lost", code="unconfirmed")
            try:
                device = uuid.UUID(device_id)
            except ValueError as exc:
                raise InvalidInput.field("device_id", "not a device of this list") from exc
            await auth_services.revoke_device(console.db, user, console.actor, device)
        except DomainError as error:
            await console.db.rollback()
            return await self._page(console, status=error.status, problem=error)
        return console.redirect("/console/workers?done=revoked")
