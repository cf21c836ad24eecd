"""Login, token refresh, the caller's identity, devices and user accounts."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import JSONBody

from schemas.auth import (
    DeviceCreate,
    DeviceRead,
    DeviceRegistered,
    LoginRequest,
    RefreshRequest,
    Role,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
)
from server.auth import services
from server.auth.address import client_address
from server.auth.guards import ALL_ROLES, PUBLIC, allow
from server.auth.models import Device, User
from server.deps import AppSettings, AuditActor, Caller, DbSession

__all__ = ["AuthController", "DeviceController", "UserController"]


def _device_read(device: Device) -> DeviceRead:
    return DeviceRead(
        id=device.id,
        user_id=device.user_id,
        name=device.name,
        created_at=device.created_at,
        revoked_at=device.revoked_at,
        last_seen_at=device.last_seen_at,
    )


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", opt=PUBLIC, operation_id="login", status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        db: DbSession,
        settings: AppSettings,
        data: JSONBody[LoginRequest],
    ) -> TokenPair:
        """Password login; tablets add their device id and secret to get device-bound tokens."""
        return await services.login(db, settings, data, client_address(request, settings.proxy_networks))

    @post("/refresh", opt=PUBLIC, operation_id="refresh_token", status_code=200)
    async def refresh(self, db: DbSession, settings: AppSettings, data: JSONBody[RefreshRequest]) -> TokenPair:
        """Exchange a refresh token for new tokens (the old refresh token stops working)."""
        return await services.refresh(db, settings, data.refresh_token)

    @post("/logout", opt=PUBLIC, operation_id="logout", status_code=204)
    async def logout(self, db: DbSession, data: JSONBody[RefreshRequest]) -> None:
        await services.logout(db, data.refresh_token)

    @get("/me", opt=allow(*ALL_ROLES), operation_id="me")
    async def me(self, db: DbSession, current_user: Caller) -> UserRead:
        user = await db.get(User, current_user.id)
        assert user is not None
        return await services.user_read(db, user, current_user.device_id)


class DeviceController(Controller):
    path = "/devices"
    tags = ["devices"]

    @post("/", opt=allow(Role.worker, Role.supervisor), operation_id="register_device")
    async def register(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[DeviceCreate]
    ) -> DeviceRegistered:
        """Register a tablet for yourself; keep the returned secret on the tablet only."""
        return await services.register_device(db, current_user, actor, data.name)

    @get("/", opt=allow(Role.worker, Role.supervisor, Role.admin), operation_id="list_devices")
    async def list_devices(self, db: DbSession, current_user: Caller) -> list[DeviceRead]:
        return [_device_read(d) for d in await services.list_devices(db, current_user)]

    @post(
        "/{device_id:uuid}/revoke",
        opt=allow(Role.worker, Role.supervisor, Role.admin),
        operation_id="revoke_device",
        status_code=200,
    )
    async def revoke(self, db: DbSession, current_user: Caller, actor: AuditActor, device_id: uuid.UUID) -> DeviceRead:
        """Revoke a lost tablet: its next request is refused."""
        return _device_read(await services.revoke_device(db, current_user, actor, device_id))


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @post("/", opt=allow(Role.admin, Role.supervisor), operation_id="create_user")
    async def create(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[UserCreate]
    ) -> UserRead:
        """Admins create any account; supervisors create workers in their areas."""
        user = await services.create_user(db, current_user, actor, data)
        return await services.user_read(db, user)

    @get("/", opt=allow(Role.admin, Role.supervisor, Role.approver, Role.auditor), operation_id="list_users")
    async def list_users(self, db: DbSession, current_user: Caller, role: Role | None = None) -> list[UserRead]:
        """Accounts within your areas, optionally of one role."""
        return [await services.user_read(db, u) for u in await services.list_users(db, current_user, role)]

    @patch("/{user_id:uuid}", opt=allow(Role.admin, Role.supervisor), operation_id="update_user")
    async def update(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        user_id: uuid.UUID,
        data: JSONBody[UserUpdate],
    ) -> UserRead:
        """Rename, (de)activate, reset the password, move a user between areas or (admins) change the role."""
        user = await services.update_user(db, current_user, actor, user_id, data)
        return await services.user_read(db, user)
