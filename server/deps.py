"""Request-scoped dependencies shared by every controller."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.identity import Actor, CurrentUser
from server.idempotency.guard import Guard
from server.settings import Settings

__all__ = [
    "AppSettings",
    "AuditActor",
    "Caller",
    "DbSession",
    "dependencies",
    "provide_actor",
    "provide_current_user",
    "provide_db",
    "provide_settings",
]


async def provide_db(state: State, request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request, committed before the response is sent (as in session_scope).

    A create sent with an ``Idempotency-Key`` is checked first (a stored answer is replayed)
    and its answer is stored in the same transaction as the create (server/idempotency/guard.py).
    """
    guard = await Guard.of(request, state.settings, state.idempotency_claims)
    async with state.session_factory() as session:
        try:
            if guard is not None:
                await guard.enter(session)
            yield session
            if guard is not None:
                await guard.store(session)
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
        finally:
            if guard is not None:
                guard.release()  # only after the commit: a retry must find the stored answer


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_current_user(request: Request[Any, Any, Any]) -> CurrentUser:
    user: CurrentUser = request.user
    return user


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The audit identity of this request: user, role, device and request id."""
    user = request.user
    request_id = request.scope.get("state", {}).get("request_id")
    if isinstance(user, CurrentUser):
        return Actor.of(user, request_id)
    return Actor(user_id=None, role=None, request_id=request_id)


#: Handler parameter types: ``db: DbSession``, ``settings: AppSettings``, ``current_user: Caller``,
#: ``actor: AuditActor`` (named dependencies, resolved from :data:`dependencies`).
DbSession = NamedDependency[AsyncSession]
AppSettings = NamedDependency[Settings]
Caller = NamedDependency[CurrentUser]
AuditActor = NamedDependency[Actor]

dependencies: dict[str, Provide] = {
    "db": Provide(provide_db),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "current_user": Provide(provide_current_user, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
}
