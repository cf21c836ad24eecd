"""Accounts, login with rate limits, token refresh, devices and scope resolution."""

from __future__ import annotations

import datetime as dt
import math
import uuid

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import DeviceRegistered, LoginRequest, Role, TokenPair, UserCreate, UserRead, UserUpdate
from schemas.errors import DeviceRevocation
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.auth.models import Device, LoginAttempt, RefreshToken, User, UserArea
from server.auth.secrets import (
    hash_password,
    hash_secret,
    issue_access_token,
    new_secret,
    verify_password,
)
from server.db.base import utcnow
from server.errors import Conflict, DeviceRevoked, DomainError, Forbidden, InvalidInput, NotFound, Unauthorized
from server.registry.models import Area
from server.settings import Settings

__all__ = [
    "RateLimited",
    "create_user",
    "device_owner",
    "device_revoked",
    "list_devices",
    "list_users",
    "login",
    "logout",
    "managed_device",
    "refresh",
    "register_device",
    "resolve_user",
    "revoke_device",
    "revoked_device",
    "update_user",
    "user_read",
]


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, headers: dict[str, str], code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.headers = headers


async def visible_area_ids(session: AsyncSession, area_ids: list[int]) -> frozenset[int]:
    """Every area at or below the given ones (prefix match on the materialised path)."""
    if not area_ids:
        return frozenset()
    paths = (await session.scalars(select(Area.path).where(Area.id.in_(area_ids)))).all()
    if not paths:
        return frozenset()
    ids = await session.scalars(select(Area.id).where(or_(*(Area.path.startswith(p) for p in paths))))
    return frozenset(ids.all())


async def _area_ids(session: AsyncSession, user_id: uuid.UUID) -> list[int]:
    rows = await session.scalars(select(UserArea.area_id).where(UserArea.user_id == user_id).order_by(UserArea.area_id))
    return list(rows.all())


async def resolve_user(session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID | None) -> CurrentUser | None:
    """The current user for a valid token, or ``None`` if the account or the device is no longer usable."""
    user = await session.get(User, user_id)
    if user is None or not user.active:
        return None
    if device_id is not None:
        device = await session.get(Device, device_id)
        if device is None or device.user_id != user.id or device.revoked_at is not None:
            return None
    area_ids = await _area_ids(session, user.id)
    return CurrentUser(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        area_ids=tuple(area_ids),
        visible_area_ids=await visible_area_ids(session, area_ids),
        device_id=device_id,
    )


async def device_revoked(session: AsyncSession, device: Device) -> DeviceRevoked:
    """The refusal a revoked tablet gets: in words, with when and by whom."""
    assert device.revoked_at is not None
    revoker = await session.get(User, device.revoked_by) if device.revoked_by else None
    return DeviceRevoked(
        DeviceRevocation(
            device_id=device.id,
            device_name=device.name,
            revoked_at=device.revoked_at,
            revoked_by=device.revoked_by,
            revoked_by_name=revoker.display_name if revoker else None,
        )
    )


async def revoked_device(session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID | None) -> Device | None:
    """The caller's device if it is revoked while the account itself is still usable."""
    if device_id is None:
        return None
    device = await session.get(Device, device_id)
    if device is None or device.user_id != user_id or device.revoked_at is None:
        return None
    user = await session.get(User, user_id)
    return device if user is not None and user.active else None


async def user_read(session: AsyncSession, user: User, device_id: uuid.UUID | None = None) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        active=user.active,
        area_ids=await _area_ids(session, user.id),
        device_id=device_id,
    )


def _seconds(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


async def _failures(
    session: AsyncSession, key: str, since: dt.datetime
) -> tuple[int, dt.datetime | None, dt.datetime | None]:
    """How many failed logins ``key`` has since ``since``, the first and the last of them."""
    row = (
        await session.execute(
            select(func.count(), func.min(LoginAttempt.at), func.max(LoginAttempt.at)).where(
                LoginAttempt.key == key, LoginAttempt.at >= since
            )
        )
    ).one()
    return int(row[0] or 0), row[1], row[2]


async def _check_rate(session: AsyncSession, settings: Settings, account: str, address: str) -> None:
    """Refuse a login attempt that comes too soon (429 with ``Retry-After``).

    An account past its limit is locked until the window has passed its failures: the guesser
    of one password is stopped. An address past its limit is only slowed down, one attempt per
    1, 2, 4 … 60 seconds: an office's shared address must not lock every colleague out because
    some of them mistyped (or one person guessed), yet it cannot guess fast either.
    """
    window = dt.timedelta(minutes=settings.login_window_minutes)
    now = utcnow()
    count, first, _last = await _failures(session, account, now - window)
    if count >= settings.login_max_failures_per_account and first is not None:
        raise RateLimited(
            f"too many failed logins for this account; try again in {settings.login_window_minutes} minutes",
            headers={"Retry-After": str(_seconds(first + window - now))},
        )
    count, _first, last = await _failures(session, address, now - window)
    excess = count - settings.login_max_failures_per_address
    if excess >= 0 and last is not None:
        pause = dt.timedelta(seconds=min(2**excess, 60))
        if now < last + pause:
            raise RateLimited(
                "too many failed logins from this address; slow down",
                headers={"Retry-After": str(_seconds(last + pause - now))},
                code="slow_down",
            )


async def _tokens(session: AsyncSession, settings: Settings, user: User, device_id: uuid.UUID | None) -> TokenPair:
    access, expires_in = issue_access_token(
        settings.secret_key, user.id, user.role, device_id, settings.access_token_minutes
    )
    refresh_secret = new_secret()
    session.add(
        RefreshToken(
            user_id=user.id,
            device_id=device_id,
            token_hash=hash_secret(refresh_secret),
            expires_at=utcnow() + dt.timedelta(days=settings.refresh_token_days),
        )
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh_secret,
        expires_in=expires_in,
        token_type="Bearer",
        user=await user_read(session, user, device_id),
    )


async def login(session: AsyncSession, settings: Settings, data: LoginRequest, address: str) -> TokenPair:
    """Check the password (and the device credential, if given) and issue tokens.

    Failures are counted per account and per address in the database: past its limit an account
    is locked until the window passes, whatever the password; an address is slowed down
    (see :func:`_check_rate`).
    """
    keys = (f"user:{data.username.lower()}", f"addr:{address}")
    await _check_rate(session, settings, *keys)
    user = await session.scalar(select(User).where(User.username == data.username))
    ok = verify_password(user.password_hash if user else None, data.password)
    device: Device | None = None
    if ok and user is not None and data.device_id is not None:
        device = await session.get(Device, data.device_id)
        ok = (
            device is not None
            and device.user_id == user.id
            and data.device_secret is not None
            and hash_secret(data.device_secret) == device.secret_hash
        )
        if ok and user.active and device is not None and device.revoked_at is not None:
            # the password and the tablet's own credential are right: say why it cannot come back
            raise await device_revoked(session, device)
    if not ok or user is None or not user.active:
        for key in keys:
            session.add(LoginAttempt(key=key))
        await session.commit()  # the failure must count even though the request fails
        raise Unauthorized("wrong username, password or device credential", code="bad_credentials")
    await session.execute(delete(LoginAttempt).where(LoginAttempt.key == f"user:{data.username.lower()}"))
    if device is not None:
        device.last_seen_at = utcnow()
    record(session, Actor(user.id, user.role, device.id if device else None), "login", "user", user.id)
    return await _tokens(session, settings, user, device.id if device else None)


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. A revoked device or account, or a used token, is refused."""
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_secret(refresh_token)))
    if stored is None or stored.revoked_at is not None or stored.expires_at <= utcnow():
        raise Unauthorized("refresh token is invalid, used or expired", code="bad_refresh_token")
    if await resolve_user(session, stored.user_id, stored.device_id) is None:
        device = await revoked_device(session, stored.user_id, stored.device_id)
        if device is not None:
            raise await device_revoked(session, device)
        raise Unauthorized("the account is disabled or the device unknown", code="account_disabled")
    stored.revoked_at = utcnow()
    user = await session.get(User, stored.user_id)
    assert user is not None
    return await _tokens(session, settings, user, stored.device_id)


async def logout(session: AsyncSession, refresh_token: str) -> None:
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_secret(refresh_token)))
    if stored is not None and stored.revoked_at is None:
        stored.revoked_at = utcnow()


async def register_device(session: AsyncSession, user: CurrentUser, actor: Actor, name: str) -> DeviceRegistered:
    """Register a tablet for the calling user; the secret is returned once."""
    secret = new_secret()
    device = Device(id=uuid.uuid4(), user_id=user.id, name=name, secret_hash=hash_secret(secret))
    session.add(device)
    record(session, actor, "register", "device", device.id, {"name": name, "user_id": str(user.id)})
    return DeviceRegistered(device_id=device.id, device_secret=secret, name=name)


async def _device_visible(session: AsyncSession, user: CurrentUser, device: Device) -> bool:
    if device.user_id == user.id or user.role == Role.admin:
        return True
    if user.role != Role.supervisor:
        return False
    owner_areas = await _area_ids(session, device.user_id)
    return bool(owner_areas) and all(user.can_see_area(a) for a in owner_areas)


async def list_devices(session: AsyncSession, user: CurrentUser) -> list[Device]:
    """Own devices; supervisors also see their workers' devices, admins all."""
    devices = (await session.scalars(select(Device).order_by(Device.created_at))).all()
    return [d for d in devices if await _device_visible(session, user, d)]


async def managed_device(session: AsyncSession, user: CurrentUser, device_id: uuid.UUID) -> Device:
    """A device the caller may manage (their own; their workers' for supervisors; any for admins)."""
    device = await session.get(Device, device_id)
    if device is None or not await _device_visible(session, user, device):
        raise NotFound.field("device_id", "no such device")
    return device


async def device_owner(session: AsyncSession, device: Device) -> CurrentUser:
    """The tablet's worker with the tablet as device, whether or not either is still usable
    (to apply what a revoked tablet held as its own)."""
    user = await session.get(User, device.user_id)
    assert user is not None
    area_ids = await _area_ids(session, user.id)
    return CurrentUser(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        area_ids=tuple(area_ids),
        visible_area_ids=await visible_area_ids(session, area_ids),
        device_id=device.id,
    )


async def revoke_device(session: AsyncSession, user: CurrentUser, actor: Actor, device_id: uuid.UUID) -> Device:
    """Revoke a lost tablet: its next request and refresh are refused; what it synced stays."""
    device = await managed_device(session, user, device_id)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        device.revoked_by = user.id
        record(session, actor, "revoke", "device", device.id)
    return device


async def _check_areas(session: AsyncSession, creator: CurrentUser, area_ids: list[int]) -> None:
    known = set((await session.scalars(select(Area.id).where(Area.id.in_(area_ids)))).all())
    for i, area_id in enumerate(area_ids):
        if area_id not in known:
            raise InvalidInput.field(f"$.area_ids[{i}]", "no such area")
        if not creator.can_see_area(area_id):
            raise Forbidden.field(f"$.area_ids[{i}]", "outside your areas")


async def create_user(session: AsyncSession, creator: CurrentUser, actor: Actor, data: UserCreate) -> User:
    """Admins create any account; supervisors create workers of their own areas."""
    if creator.role == Role.supervisor and data.role != Role.worker:
        raise Forbidden.field("$.role", "supervisors may only create workers")
    await _check_areas(session, creator, data.area_ids)
    if await session.scalar(select(User.id).where(User.username == data.username)):
        raise Conflict.field("$.username", "already taken")
    user = User(
        id=uuid.uuid4(),
        username=data.username,
        display_name=data.display_name,
        role=data.role.value,
        password_hash=hash_password(data.password),
        phone=data.phone,
    )
    session.add(user)
    await session.flush()
    session.add_all(UserArea(user_id=user.id, area_id=a) for a in sorted(set(data.area_ids)))
    record(session, actor, "create", "user", user.id, {"username": user.username, "role": user.role})
    return user


async def _managed_user(session: AsyncSession, manager: CurrentUser, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound.field("user_id", "no such user")
    if manager.role != Role.admin:
        areas = await _area_ids(session, user.id)
        if user.role != Role.worker or not areas or not all(manager.can_see_area(a) for a in areas):
            raise NotFound.field("user_id", "no such user")
    return user


async def _keep_an_admin(session: AsyncSession, user: User, data: UserUpdate) -> None:
    """Refuse to deactivate or demote the last active admin: nobody could manage the county then.

    The active admins' rows are locked, so two admins switching each other off at once cannot
    both pass the check.
    """
    leaves = data.active is False or (isinstance(data.role, Role) and data.role != Role.admin)
    if not (leaves and user.active and user.role == Role.admin.value):
        return
    admins = await session.scalars(
        select(User.id).where(User.role == Role.admin.value, User.active.is_(True)).with_for_update()
    )
    if set(admins.all()) <= {user.id}:
        field = "$.active" if data.active is False else "$.role"
        raise Conflict.field(field, "the last active admin cannot be deactivated or demoted", code="last_admin")


async def update_user(
    session: AsyncSession, manager: CurrentUser, actor: Actor, user_id: uuid.UUID, data: UserUpdate
) -> User:
    user = await _managed_user(session, manager, user_id)
    if isinstance(data.role, Role) and manager.role != Role.admin:
        raise Forbidden.field("$.role", "only admins change roles")
    await _keep_an_admin(session, user, data)
    changes: dict[str, object] = {}
    if isinstance(data.role, Role):
        changes["role"] = [user.role, data.role.value]
        user.role = data.role.value
    if isinstance(data.display_name, str):
        changes["display_name"] = [user.display_name, data.display_name]
        user.display_name = data.display_name
    if isinstance(data.active, bool):
        changes["active"] = [user.active, data.active]
        user.active = data.active
    if isinstance(data.password, str):
        user.password_hash = hash_password(data.password)
        changes["password"] = ["***", "***"]
    if isinstance(data.area_ids, list):
        await _check_areas(session, manager, data.area_ids)
        await session.execute(delete(UserArea).where(UserArea.user_id == user.id))
        session.add_all(UserArea(user_id=user.id, area_id=a) for a in sorted(set(data.area_ids)))
        changes["area_ids"] = ["…", sorted(set(data.area_ids))]
    record(session, actor, "update", "user", user.id, changes)
    return user


async def list_users(session: AsyncSession, viewer: CurrentUser, role: Role | None = None) -> list[User]:
    """Users whose areas all lie within the viewer's areas (admins: everyone)."""
    query = select(User).order_by(User.username)
    if role:
        query = query.where(User.role == role.value)
    users = (await session.scalars(query)).all()
    if viewer.role == Role.admin:
        return list(users)
    result = []
    for user in users:
        areas = await _area_ids(session, user.id)
        if areas and all(viewer.can_see_area(a) for a in areas):
            result.append(user)
    return result
