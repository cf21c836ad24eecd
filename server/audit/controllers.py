"""Reading the audit trail (auditors and admins). There is deliberately no write endpoint."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import Parameter

from schemas.auth import Role
from schemas.base import Struct
from server.audit.services import list_events
from server.auth.guards import allow
from server.deps import DbSession
from server.params import AuditAfter

__all__ = ["AuditController", "AuditEventRead"]


class AuditEventRead(Struct):
    id: int
    at: dt.datetime
    action: str
    entity: str
    entity_id: str
    changes: dict[str, Any]
    actor_id: uuid.UUID | None = None
    actor_role: str | None = None
    device_id: uuid.UUID | None = None
    request_id: str | None = None


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/", opt=allow(Role.auditor, Role.admin), operation_id="list_audit_events")
    async def list_audit_events(
        self,
        db: DbSession,
        entity: Annotated[str | None, Parameter(max_length=40)] = None,
        entity_id: Annotated[str | None, Parameter(max_length=64)] = None,
        actor_id: uuid.UUID | None = None,
        after_id: AuditAfter = 0,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[AuditEventRead]:
        """Audit entries in write order; page with ``after_id`` = the last id seen."""
        events = await list_events(
            db, entity=entity, entity_id=entity_id, actor_id=actor_id, after_id=after_id, limit=limit
        )
        return [
            AuditEventRead(
                id=e.id,
                at=e.at,
                action=e.action,
                entity=e.entity,
                entity_id=e.entity_id,
                changes=e.changes,
                actor_id=e.actor_id,
                actor_role=e.actor_role,
                device_id=e.device_id,
                request_id=e.request_id,
            )
            for e in events
        ]
