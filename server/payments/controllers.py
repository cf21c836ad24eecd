"""Payment rosters over HTTP: build, close, totals, rows, failures, bank export and return."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from schemas.auth import Role
from schemas.payments import MonthRead, ReturnResult, RosterRowRead, RowStatus
from server.auth.guards import allow
from server.deps import AuditActor, Caller, DbSession
from server.params import AreaIdQuery, RosterSeqAfter
from server.payments import services

__all__ = ["PaymentController"]

_PAYMENTS = allow(Role.approver, Role.admin)
_READERS = allow(Role.approver, Role.admin, Role.auditor, Role.supervisor)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PaymentController(Controller):
    path = "/payments/months"
    tags = ["payments"]

    @post("/{month:str}/build", opt=_PAYMENTS, operation_id="build_roster", status_code=200)
    async def build(self, db: DbSession, current_user: Caller, actor: AuditActor, month: str) -> MonthRead:
        """(Re)build an open month's roster from households and approved decisions."""
        return await services.build(db, actor, month, user=current_user)

    @post("/{month:str}/close", opt=_PAYMENTS, operation_id="close_roster", status_code=200)
    async def close(self, db: DbSession, current_user: Caller, actor: AuditActor, month: str) -> MonthRead:
        """Rebuild with every approval so far and freeze the month (once)."""
        return await services.close(db, actor, month, user=current_user)

    @get("/{month:str}", opt=_READERS, operation_id="get_roster_month")
    async def get_month(self, db: DbSession, current_user: Caller, month: str) -> MonthRead:
        """The month's state and totals, per area (integer fen, reconciling exactly)."""
        return await services.month_read(db, month, user=current_user)

    @get("/{month:str}/rows", opt=_READERS, operation_id="list_roster_rows")
    async def rows(
        self,
        db: DbSession,
        current_user: Caller,
        month: str,
        status: RowStatus | None = None,
        area_id: AreaIdQuery = None,
        after_seq: RosterSeqAfter = 0,
        limit: Annotated[int, Parameter(ge=1, le=5000)] = 200,
    ) -> list[RosterRowRead]:
        """Rows in bank-file order; page with ``after_seq`` = the last ``seq`` seen."""
        return await services.list_rows(
            db, current_user, month, status=status, area_id=area_id, after_seq=after_seq, limit=limit
        )

    @get("/{month:str}/failures", opt=_READERS, operation_id="list_payment_failures")
    async def failures(self, db: DbSession, current_user: Caller, month: str) -> list[RosterRowRead]:
        """Payments the bank returned as failed, with its reason, for follow-up."""
        return await services.failures(db, current_user, month)

    @get("/{month:str}/export", opt=_PAYMENTS, operation_id="export_roster")
    async def export(self, db: DbSession, month: str, format: Literal["csv", "xlsx"] = "csv") -> Response[bytes]:
        """The bank file (docs/payments.md): ``format=csv`` or ``xlsx``."""
        _row, lines = await services.export_rows(db, month)
        if format == "csv":
            body = await anyio.to_thread.run_sync(services.export_csv, lines)
            media = "text/csv; charset=utf-8"
        else:
            body = await anyio.to_thread.run_sync(services.export_xlsx, month, lines)
            media = _XLSX
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="roster-{month}.{format}"'}
        )

    @post("/{month:str}/returns", opt=_PAYMENTS, operation_id="import_bank_return", status_code=200)
    async def import_return(
        self, db: DbSession, actor: AuditActor, month: str, request: Request[Any, Any, Any]
    ) -> ReturnResult:
        """The bank's return file (CSV body, docs/payments.md): all lines applied, or none with
        every problem listed."""
        return await services.import_return(db, actor, month, await request.body())
