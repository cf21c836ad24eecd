"""Who is calling: the authenticated user as every service sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from schemas.auth import Role

__all__ = ["Actor", "CurrentUser"]


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The caller, resolved once per request by the authentication middleware.

    ``visible_area_ids`` holds every area at or below the user's own areas: scope checks are
    a set lookup or one ``IN`` clause.
    """

    id: uuid.UUID
    username: str
    role: Role
    area_ids: tuple[int, ...]
    visible_area_ids: frozenset[int]
    device_id: uuid.UUID | None = None

    def can_see_area(self, area_id: int) -> bool:
        """True if ``area_id`` lies within the user's areas."""
        return area_id in self.visible_area_ids


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, for the audit trail: user, role, device and request."""

    user_id: uuid.UUID | None
    role: str | None
    device_id: uuid.UUID | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, user: CurrentUser, request_id: str | None = None) -> Actor:
        return cls(user_id=user.id, role=user.role.value, device_id=user.device_id, request_id=request_id)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """Changes made by a command-line operation (import, demo, plan) rather than a request."""
        return cls(user_id=None, role=name)
