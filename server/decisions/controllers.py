"""Decisions over HTTP: rules, proposals, review, appraisal, notices, objections, approval."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter, QueryParameter

from schemas.auth import Role
from schemas.decisions import (
    ApplyRequest,
    ApplyResult,
    AppraisalCreate,
    AppraisalRead,
    AppraisalResult,
    ApprovalRequest,
    ApprovalResult,
    GenerateRequest,
    GenerateResult,
    NoticeCreate,
    NoticeRead,
    ObjectionCreate,
    ObjectionRead,
    ProposalRead,
    ProposalState,
    ReleaseRequest,
    ReviewRequest,
    RuleSetRead,
    WhyRead,
)
from server.auth.guards import allow
from server.decisions import chain, exports, services
from server.deps import AppSettings, AuditActor, Caller, DbSession
from server.params import AreaIdQuery

__all__ = ["DecisionController"]

_READERS = allow(Role.supervisor, Role.approver, Role.admin, Role.auditor)
_CASEWORK = allow(Role.supervisor, Role.admin)
_NOTICE = allow(Role.supervisor, Role.approver, Role.admin)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class DecisionController(Controller):
    path = "/decisions"
    tags = ["decisions"]

    # ------------------------------------------------------------ rules

    @get("/rules", opt=allow(*Role), operation_id="get_rules")
    async def get_rules(self, db: DbSession) -> RuleSetRead:
        """The programme rules new proposals use (newest version)."""
        return (await services.list_rule_sets(db))[0]

    @get("/rules/versions", opt=_READERS, operation_id="list_rule_versions")
    async def list_rule_versions(self, db: DbSession) -> list[RuleSetRead]:
        """Every stored rules version, newest first."""
        return await services.list_rule_sets(db)

    @post("/rules", opt=allow(Role.admin), operation_id="load_rules")
    async def load_rules(self, db: DbSession, actor: AuditActor, request: Request[Any, Any, Any]) -> RuleSetRead:
        """Load a new rules version: the whole JSON document (as ``GET /decisions/rules`` shows
        its ``document``), checked; refused with every problem's path, nothing stored."""
        return await services.load_rule_set(db, actor, await request.body())

    # ------------------------------------------------------------ proposals

    @post(
        "/proposals:generate", opt=allow(Role.supervisor, Role.approver, Role.admin), operation_id="generate_proposals"
    )
    async def generate(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: GenerateRequest
    ) -> GenerateResult:
        """Proposals for accepted visits in your areas that have none (idempotent)."""
        return await services.generate(db, actor, user=current_user, area_id=data.area_id, visit_ids=data.visit_ids)

    @get("/proposals", opt=_READERS, operation_id="list_proposals")
    async def list_proposals(
        self,
        db: DbSession,
        current_user: Caller,
        proposal_state: Annotated[ProposalState | None, QueryParameter(name="state")] = None,
        area_id: AreaIdQuery = None,
        household_id: uuid.UUID | None = None,
        after: uuid.UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[ProposalRead]:
        """Proposals in your areas, filtered; page with ``after`` = the last id seen."""
        rows = await services.list_proposals(
            db, current_user, state=proposal_state, area_id=area_id, household_id=household_id, after=after, limit=limit
        )
        return [services.proposal_read(p, with_detail=False) for p in rows]

    @get("/proposals/{proposal_id:uuid}", opt=_READERS, operation_id="get_proposal")
    async def get_proposal(self, db: DbSession, current_user: Caller, proposal_id: uuid.UUID) -> ProposalRead:
        """One proposal with every line it counted; recomputed first if an input changed."""
        return services.proposal_read(await services.get_proposal(db, current_user, proposal_id))

    @post("/proposals/{proposal_id:uuid}/review", opt=_CASEWORK, operation_id="review_proposal", status_code=200)
    async def review(
        self, db: DbSession, current_user: Caller, actor: AuditActor, proposal_id: uuid.UUID, data: ReviewRequest
    ) -> ProposalRead:
        """Confirm, override (reason required) or return the visit for another look."""
        return services.proposal_read(await services.review(db, current_user, actor, proposal_id, data))

    @post("/proposals/{proposal_id:uuid}/appraisals", opt=_CASEWORK, operation_id="record_appraisal")
    async def appraise(
        self, db: DbSession, current_user: Caller, actor: AuditActor, proposal_id: uuid.UUID, data: AppraisalCreate
    ) -> AppraisalRead:
        """Record the community appraisal (date, participants, verdict)."""
        a = await services.record_appraisal(db, current_user, actor, proposal_id, data)
        return AppraisalRead(
            id=a.id,
            proposal_id=a.proposal_id,
            held_on=a.held_on,
            participants=list(a.participants),
            result=AppraisalResult(a.result),
            recorded_by=a.recorded_by,
            recorded_at=a.recorded_at,
            note=a.note,
        )

    @post("/proposals/{proposal_id:uuid}/objections", opt=_NOTICE, operation_id="record_objection")
    async def object_to(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        settings: AppSettings,
        proposal_id: uuid.UUID,
        data: ObjectionCreate,
    ) -> ObjectionRead:
        """An objection during the notice: registered as a complaint (with its urgent recheck);
        the decision is held until the complaint is resolved and the hold released."""
        o = await services.object_to(db, current_user, actor, proposal_id, data, settings.complaint_deadline_days)
        return ObjectionRead(
            id=o.id,
            proposal_id=o.proposal_id,
            channel=o.channel,
            summary=o.summary,
            received_on=o.received_on,
            created_at=o.created_at,
            complaint_id=o.complaint_id,
        )

    @post("/proposals/{proposal_id:uuid}/release", opt=_NOTICE, operation_id="release_proposal", status_code=200)
    async def release(
        self, db: DbSession, current_user: Caller, actor: AuditActor, proposal_id: uuid.UUID, data: ReleaseRequest
    ) -> ProposalRead:
        """Lift an objection's hold once it has been investigated (the finding is recorded)."""
        return services.proposal_read(await services.release(db, current_user, actor, proposal_id, data.resolution))

    @post("/approvals", opt=allow(Role.approver), operation_id="approve_proposals", status_code=200)
    async def approve(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: ApprovalRequest
    ) -> ApprovalResult:
        """Approve one or many proposals, all or nothing; effective the first day of the next open month."""
        return await services.approve(db, current_user, actor, data.proposal_ids, data.note)

    @post("/effective:apply", opt=allow(Role.approver, Role.admin), operation_id="apply_effective", status_code=200)
    async def apply_effective(self, db: DbSession, actor: AuditActor, data: ApplyRequest) -> ApplyResult:
        """Write approved decisions whose month has come into the households."""
        return await services.apply_effective(db, actor, data.on)

    # ------------------------------------------------------------ notices

    @post("/notices", opt=_CASEWORK, operation_id="create_notice")
    async def create_notice(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: NoticeCreate
    ) -> NoticeRead:
        """Put confirmed proposals of one village or community on public notice."""
        notice = await services.create_notice(db, current_user, actor, data)
        return await chain.notice_read(db, current_user, notice.id)

    @get("/notices/{notice_id:uuid}", opt=_READERS, operation_id="get_notice")
    async def get_notice(self, db: DbSession, current_user: Caller, notice_id: uuid.UUID) -> NoticeRead:
        """The notice list as the board shows it (names masked, no ID numbers)."""
        return await chain.notice_read(db, current_user, notice_id)

    @get("/notices/{notice_id:uuid}/export", opt=_READERS, operation_id="export_notice")
    async def export_notice(
        self, db: DbSession, current_user: Caller, notice_id: uuid.UUID, format: Literal["pdf", "xlsx"] = "pdf"
    ) -> Response[bytes]:
        """The notice list for printing: ``format=pdf`` or ``xlsx``."""
        notice = await chain.notice_read(db, current_user, notice_id)
        if format == "pdf":
            body = await anyio.to_thread.run_sync(exports.notice_pdf, notice)
            media = "application/pdf"
        else:
            body = await anyio.to_thread.run_sync(exports.notice_xlsx, notice)
            media = _XLSX
        name = f"notice-{notice.starts_on:%Y%m%d}-{notice.id.hex[:8]}.{format}"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # ------------------------------------------------------------ why

    @get("/households/{household_id:uuid}/why", opt=_READERS, operation_id="why_amount")
    async def why(self, db: DbSession, current_user: Caller, household_id: uuid.UUID) -> WhyRead:
        """Why does this household get N yuan: the decision in force and the full chain behind it."""
        return await chain.why(db, current_user, household_id)
