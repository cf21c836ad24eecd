"""Creating accounts outside HTTP (first admin, demo data, tests)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.services import record
from server.auth.identity import Actor
from server.auth.models import User, UserArea
from server.auth.secrets import hash_password
from server.db.session import command_transaction
from server.registry.models import Area
from server.settings import Settings

__all__ = ["add_user", "create_user_by_codes"]


def add_user(
    session: AsyncSession, username: str, role: str, password: str, area_ids: list[int], display_name: str
) -> User:
    """Add a user and their areas to the session (no checks: callers are trusted set-up code)."""
    user = User(
        id=uuid.uuid4(),
        username=username,
        display_name=display_name,
        role=role,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.add_all(UserArea(user_id=user.id, area_id=a) for a in area_ids)
    record(session, Actor.system("cli"), "create", "user", user.id, {"username": username, "role": role})
    return user


async def create_user_by_codes(
    settings: Settings, username: str, role: str, password: str, area_codes: list[str], display_name: str
) -> None:
    from server.cli import CommandError

    async with command_transaction(settings.database_url) as session:
        if await session.scalar(select(User.id).where(User.username == username)):
            raise CommandError(f"user {username} exists")
        areas = {a.code: a.id for a in (await session.scalars(select(Area).where(Area.code.in_(area_codes))))}
        missing = [c for c in area_codes if c not in areas]
        if missing:
            raise CommandError(f"unknown area code(s): {', '.join(missing)}")
        add_user(session, username, role, password, [areas[c] for c in area_codes], display_name)
