"""``POST /imports/roster``: upload a roster spreadsheet (multipart, field ``file``).

Admins import anywhere; supervisors only into their own areas (and only over households already
registered there). The answer is the import summary, or 422 naming each bad row and column, or
413 for a file over ``RECHECK_IMPORT_MAX_BYTES``: the declared length is checked before a byte of
the body is read, so a 1 GB upload is refused at once. Nothing is written unless the whole file
(or, with ``skip_invalid``, every household left in it) is good.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
from litestar import Controller, Request, post
from litestar.datastructures import UploadFile
from sqlalchemy.exc import IntegrityError

from schemas.auth import Role
from schemas.roster import RosterError, RosterImportResult
from server.auth.guards import allow
from server.deps import AppSettings, AuditActor, Caller, DbSession
from server.errors import Conflict, DomainError, InvalidInput
from server.registry.roster import RosterTooLarge, read_roster_bytes
from server.registry.roster_import import import_roster

__all__ = ["RosterImportController"]

#: Room for the multipart envelope (boundaries, part headers) around the file itself.
_ENVELOPE = 64 * 1024


class LengthRequired(DomainError):
    status = 411
    code = "length_required"


def _too_large(size: int, limit: int) -> RosterTooLarge:
    reason = f"{size} bytes, over the limit of {limit} bytes"
    return RosterTooLarge(f"file: {reason}", [RosterError(path="file", reason=reason)])


class RosterImportController(Controller):
    path = "/imports"
    tags = ["registry"]

    @post(
        "/roster",
        opt=allow(Role.admin, Role.supervisor),
        operation_id="import_roster",
        status_code=200,
        request_max_body_size=None,  # limited by RECHECK_IMPORT_MAX_BYTES below, before reading
    )
    async def import_roster(
        self,
        request: Request[Any, Any, Any],
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        settings: AppSettings,
        skip_invalid: bool = False,
        dry_run: bool = False,
    ) -> RosterImportResult:
        """Import households from a CSV or XLSX roster (layout: docs/roster.md); one row per person."""
        limit = settings.import_max_bytes
        length = request.content_length
        if length is None:
            raise LengthRequired.field("Content-Length", "required for uploads (the size is checked first)")
        if length > limit + _ENVELOPE:
            raise _too_large(length, limit)
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput.field("file", "attach the roster as the multipart field 'file'")
        data = await upload.read()
        if len(data) > limit:
            raise _too_large(len(data), limit)
        roster = await anyio.to_thread.run_sync(
            functools.partial(
                read_roster_bytes,
                data,
                upload.filename or "roster",
                max_bytes=limit,
                max_rows=settings.import_max_rows,
            )
        )
        try:
            return await import_roster(
                db,
                roster,
                actor,
                scope=current_user.visible_area_ids,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                source=upload.filename or "upload",
            )
        except IntegrityError as exc:
            raise Conflict("a concurrent change touched the same households; upload again") from exc
