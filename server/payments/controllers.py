"""Payment rosters over HTTP: build, close, totals, rows, failures, bank export and return."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from schemas.auth import Role
from schemas.payments import BankLayoutRead, MonthRead, ReturnResult, RosterRowRead, RowStatus
from server.auth.guards import allow
from server.deps import AuditActor, Caller, DbSession
from server.params import AreaIdQuery, RosterSeqAfter
from server.payments import services
from server.payments.layouts import BankLayout, find_layout, layouts
from server.settings import get_settings

__all__ = ["BankLayoutController", "PaymentController"]

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
    async def export(
        self,
        db: DbSession,
        actor: AuditActor,
        month: str,
        format: Literal["csv", "xlsx"] | None = None,
        layout: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Response[bytes]:
        """The bank file in a layout (``GET /payments/layouts``; docs/payments.md). ``format=csv``
        or ``xlsx`` names the generic layouts; the default is ``generic-csv``."""
        chosen = _layout(layout, format)
        name, body, _lines = await services.export_bank_file(db, actor, month, chosen)
        media = _XLSX if chosen.format == "xlsx" else f"text/csv; charset={chosen.encoding.removesuffix('-sig')}"
        return Response(body, media_type=media, headers={"Content-Disposition": _attachment(name)})

    @post("/{month:str}/returns", opt=_PAYMENTS, operation_id="import_bank_return", status_code=200)
    async def import_return(
        self,
        db: DbSession,
        actor: AuditActor,
        month: str,
        request: Request[Any, Any, Any],
        layout: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> ReturnResult:
        """The bank's return file, in the layout the bank file was sent in (request body;
        docs/payments.md): all lines applied, or none with every problem listed."""
        return await services.import_return(db, actor, month, await request.body(), _layout(layout, None))


class BankLayoutController(Controller):
    path = "/payments/layouts"
    tags = ["payments"]

    @get("/", opt=_PAYMENTS, operation_id="list_bank_layouts", sync_to_thread=True)
    def list_layouts(self) -> list[BankLayoutRead]:
        """The shipped bank file layouts and the admin's own (``RECHECK_BANK_LAYOUTS``)."""
        found, _broken = layouts(_folder())
        return [
            BankLayoutRead(name=x.name, title=x.title, format=x.format, encoding=x.encoding, file_name=x.file_name)
            for x in found.values()
        ]


def _folder() -> Path:
    return Path(get_settings().bank_layouts)


def _layout(name: str | None, format: str | None) -> BankLayout:
    return find_layout(name or f"generic-{format or 'csv'}", _folder())


def _attachment(name: str) -> str:
    # RFC 6266: an ASCII fallback and the real (often Chinese) name in UTF-8
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
