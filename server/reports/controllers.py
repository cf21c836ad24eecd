"""Reports over HTTP: JSON, XLSX, and one printable HTML page of charts."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio.to_thread
from litestar import Controller, MediaType, Response, get
from litestar.params import Parameter

from schemas.auth import Role
from schemas.reports import ReportRead
from server.auth.guards import allow
from server.deps import Caller, DbSession
from server.params import AreaIdQuery
from server.reports import exports, services

__all__ = ["ReportController"]

_READERS = allow(Role.supervisor, Role.approver, Role.admin, Role.auditor)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Period = Annotated[str, Parameter(max_length=16, description="2026-12, 2026Q4, 2026H2 or 2026")]


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/summary", opt=_READERS, operation_id="report_summary")
    async def summary(
        self, db: DbSession, current_user: Caller, period: Period, area_id: AreaIdQuery = None
    ) -> ReportRead:
        """Per area: households and people on the allowance, decisions by outcome, money, complaints, rechecks."""
        return await services.build_report(db, current_user, period, area_id)

    @get("/summary/export", opt=_READERS, operation_id="report_export")
    async def export(
        self,
        db: DbSession,
        current_user: Caller,
        period: Period,
        area_id: AreaIdQuery = None,
        format: Literal["xlsx", "html"] = "xlsx",
    ) -> Response[bytes | str]:
        """The report as XLSX, or as one printable HTML page of charts (``format=html``)."""
        report = await services.build_report(db, current_user, period, area_id)
        if format == "html":
            return Response(exports.report_html(report), media_type=MediaType.HTML)
        body = await anyio.to_thread.run_sync(exports.report_xlsx, report)
        name = f"report-{report.period}.xlsx"
        return Response(body, media_type=_XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
