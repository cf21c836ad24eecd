"""The decision workflow over real HTTP on both engines: proposal → review → appraisal →
notice → objection/hold → approval → effective, with every illegal step refused."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import pytest
from openpyxl import load_workbook

from server.db.base import utcnow
from server.decisions import inputs
from tests.server.decisions.helpers import (
    accepted_visit,
    age_notice,
    approve,
    bump_visit,
    create_household,
    effective_day_comes,
    first_of_next_month,
    generate,
    member,
    ok,
    proposal_of,
    to_notice,
)
from tests.support import PASSWORD, LiveServer

# Worked example 1 of DOMAIN.md without the pension line (resident basic pension is counted
# again from 2026 under the default rules): farming 600.00 + support 300.00, 3 members,
# rural 560.00 → per capita 300.00 → (560 − 300) × 3 = 780 yuan.
EXAMPLE_1 = [("business", 60000), ("support", 30000)]


def test_full_chain_from_proposal_to_effective_amount(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1, benefit_amount=70000)
    accepted_visit(live, household)
    result = generate(live)
    assert result["created"] == 1
    assert generate(live)["created"] == 0, "generation is idempotent"

    proposal = proposal_of(live, household)
    assert proposal["state"] == "proposed"
    assert proposal["outcome"] == "adjust"
    assert proposal["direction"] == "increase"
    assert proposal["new_amount"] == 78000
    assert proposal["per_capita_income"] == 30000
    assert proposal["rule_version"] == "2026.2-demo"
    assert "per-capita income 300.00 yuan is below the rural standard 560.00 yuan" in proposal["explanation_en"]
    assert "人均收入300.00元低于农村低保标准560.00元" in proposal["explanation_zh"]
    assert proposal["inputs"]["household"] == household["version"]
    pid = proposal["id"]

    notice = to_notice(live, [pid])
    assert notice["entries"][0]["name"] == "王*"
    assert notice["entries"][0]["household_size"] == 3
    assert notice["entries"][0]["monthly_amount"] == 78000
    assert notice["entries"][0]["change"] == "增加80.00元"

    approved = approve(live, [pid])
    effective = first_of_next_month()
    assert approved["approved"] == 1
    assert approved["effective_from"] == {effective.strftime("%Y-%m"): 1}
    with live.as_user("approver") as c:
        detail = ok(c.get(f"/decisions/proposals/{pid}"))
        assert detail["state"] == "approved"
        assert detail["effective_from"] == effective.isoformat()
    effective_day_comes(live, pid)
    with live.as_user("approver") as c:
        applied = ok(c.post("/decisions/effective:apply", json={}))
        assert applied["applied"] == 1
        after = ok(c.get(f"/households/{household['id']}"))
        assert after["benefit_amount"] == 78000
        assert after["version"] == household["version"] + 1
        why = ok(c.get(f"/decisions/households/{household['id']}/why"))
    assert why["benefit_amount"] == 78000
    assert "780.00" in why["answer_zh"]
    assert "780.00" in why["answer_en"]
    steps = [s["step"] for s in why["chain"]]
    for expected in ("proposed", "confirm", "appraisal", "community_appraisal", "notice", "public_notice", "approve"):
        assert expected in steps, steps
    assert steps[-1] in ("take_effect", "approval") or "take_effect" in steps
    proposed = next(s for s in why["chain"] if s["step"] == "proposed")
    assert proposed["detail"]["rule_version"] == "2026.2-demo"
    assert {line["kind"] for line in proposed["detail"]["counted"]} == {"business", "support"}


def test_illegal_steps_are_refused(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    today = utcnow().date()
    with live.as_user("sup1") as c:
        early = c.post(
            "/decisions/notices",
            json={"area_id": live.world.area_ids["T1-b"], "proposal_ids": [pid]},
        )
        assert early.status_code == 409, early.text
        assert "only confirmed proposals go on notice" in early.json()["errors"][0]["reason"]
        no_reason = c.post(f"/decisions/proposals/{pid}/review", json={"action": "override", "outcome": "keep"})
        assert no_reason.status_code == 422
        assert no_reason.json()["errors"][0]["path"] == "$.reason"
        release = c.post(f"/decisions/proposals/{pid}/release", json={"resolution": "nothing to release"})
        assert release.status_code == 409
        assert release.json()["errors"][0]["path"] == "state"
    with live.as_user("approver") as c:
        refused = c.post("/decisions/approvals", json={"proposal_ids": [pid]})
        assert refused.status_code == 409
        assert "only a proposal on notice" in refused.json()["errors"][0]["reason"]
    with live.as_user("worker1") as c:
        assert c.get("/decisions/proposals").status_code == 403
    with live.as_user("sup1") as c:
        ok(
            c.post(
                f"/decisions/proposals/{pid}/review",
                json={
                    "action": "override",
                    "outcome": "adjust",
                    "new_amount": 75000,
                    "reason": "家中有未申报的零工收入",
                },
            )
        )
        again = c.post(f"/decisions/proposals/{pid}/review", json={"action": "confirm"})
        assert again.status_code == 409
        notice = ok(
            c.post(
                "/decisions/notices",
                json={"area_id": live.world.area_ids["T1-b"], "proposal_ids": [pid], "starts_on": today.isoformat()},
            ),
            201,
        )
    assert notice["entries"][0]["monthly_amount"] == 75000
    with live.as_user("approver") as c:
        during = c.post("/decisions/approvals", json={"proposal_ids": [pid]})
        assert during.status_code == 409
        assert "the public notice runs until" in during.json()["errors"][0]["reason"]


def test_a_notice_starts_today_and_approval_waits_seven_full_days_from_its_creation(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    yesterday = (utcnow().date() - dt.timedelta(days=1)).isoformat()
    area_id = live.world.area_ids["T1-b"]
    with live.as_user("sup1") as c:
        ok(c.post(f"/decisions/proposals/{pid}/review", json={"action": "confirm"}))
        backdated = c.post(
            "/decisions/notices", json={"area_id": area_id, "proposal_ids": [pid], "starts_on": yesterday}
        )
        assert backdated.status_code == 422, backdated.text
        assert backdated.json()["errors"][0]["path"] == "$.starts_on"
        assert ok(c.get(f"/decisions/proposals/{pid}"))["state"] == "confirmed", "nothing was put on notice"
        notice = ok(c.post("/decisions/notices", json={"area_id": area_id, "proposal_ids": [pid]}), 201)
    # a notice whose dates say it began 8 days ago, but that was created just now
    age_notice(live, notice["id"], 8, created=False)
    with live.as_user("approver") as c:
        early = c.post("/decisions/approvals", json={"proposal_ids": [pid]})
    assert early.status_code == 409, early.text
    assert "the public notice runs until" in early.json()["errors"][0]["reason"]
    age_notice(live, notice["id"], 6)
    with live.as_user("approver") as c:
        six_days = c.post("/decisions/approvals", json={"proposal_ids": [pid]})
    assert six_days.status_code == 409, "six days after publication the notice still runs"
    age_notice(live, notice["id"], 7)
    assert approve(live, [pid])["approved"] == 1


def test_decisions_take_effect_on_their_day_not_before(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1, benefit_amount=70000)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    to_notice(live, [pid])
    approve(live, [pid])
    effective = first_of_next_month()
    with live.as_user("approver") as c:
        early = c.post("/decisions/effective:apply", json={"on": effective.isoformat()})
        assert early.status_code == 422, early.text
        assert early.json()["errors"][0]["path"] == "$.on"
        assert ok(c.get(f"/households/{household['id']}"))["benefit_amount"] == 70000
        assert ok(c.post("/decisions/effective:apply", json={}))["applied"] == 0, "not due yet"
        assert ok(c.get(f"/decisions/proposals/{pid}"))["state"] == "approved"
    effective_day_comes(live, pid)
    with live.as_user("approver") as c:
        assert ok(c.post("/decisions/effective:apply", json={}))["applied"] == 1
        assert ok(c.get(f"/households/{household['id']}"))["benefit_amount"] == 78000


def test_objection_holds_the_decision_until_resolved(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    with live.as_user("sup1") as c:
        ok(c.post(f"/decisions/proposals/{pid}/review", json={"action": "confirm"}))
        notice = ok(
            c.post("/decisions/notices", json={"area_id": live.world.area_ids["T1-b"], "proposal_ids": [pid]}), 201
        )
    age_notice(live, notice["id"], 9)
    with live.as_user("sup1") as c:
        objection = ok(
            c.post(
                f"/decisions/proposals/{pid}/objections",
                json={"channel": "hotline", "summary": "该户有车辆", "reporter_name": "李四"},
            ),
            201,
        )
        assert objection["complaint_id"]
        assert ok(c.get(f"/decisions/proposals/{pid}"))["state"] == "held"
    with live.as_user("approver") as c:
        held = c.post("/decisions/approvals", json={"proposal_ids": [pid]})
        assert held.status_code == 409
    with live.as_user("sup1") as c:
        complaint = ok(c.get(f"/complaints/{objection['complaint_id']}"))
        assert complaint["household_id"] == household["id"]
        assert complaint["visit_id"], "the objection's complaint makes the recheck urgent"
        early = c.post(f"/decisions/proposals/{pid}/release", json={"resolution": "核查车辆已报废，异议不成立"})
        assert early.status_code == 409
        assert early.json()["errors"][0]["path"] == "complaint_id"
        ok(c.post(f"/visits/{complaint['visit_id']}/cancel", json={"reason": "复核已在公示期内完成"}))
        ok(
            c.post(
                f"/complaints/{objection['complaint_id']}/resolve",
                json={"resolution": "核查车辆已报废，异议不成立", "substantiated": False},
            )
        )
        ok(c.post(f"/decisions/proposals/{pid}/release", json={"resolution": "核查车辆已报废，异议不成立"}))
    with live.as_user("approver") as c:
        needs_appraisal = c.post("/decisions/approvals", json={"proposal_ids": [pid]})
        assert needs_appraisal.status_code == 409
        assert "community appraisal" in needs_appraisal.json()["errors"][0]["reason"]
    with live.as_user("sup1") as c:
        ok(
            c.post(
                f"/decisions/proposals/{pid}/appraisals",
                json={"held_on": utcnow().date().isoformat(), "participants": ["村民代表"], "result": "agreed"},
            ),
            201,
        )
    assert approve(live, [pid])["approved"] == 1


def test_approval_outside_the_area_is_refused_and_nothing_is_approved(live: LiveServer) -> None:
    households = [create_household(live, incomes=EXAMPLE_1) for _ in range(2)]
    for h in households:
        accepted_visit(live, h)
    generate(live)
    pids = [proposal_of(live, h)["id"] for h in households]
    to_notice(live, pids)
    with live.as_user("admin") as c:
        ok(
            c.post(
                "/users/",
                json={
                    "username": "approver2",
                    "display_name": "Approver T2",
                    "role": "approver",
                    "password": PASSWORD,
                    "area_ids": [live.world.area_ids["T2"]],
                },
            ),
            201,
        )
    with live.as_user("approver2") as c:
        refused = c.post("/decisions/approvals", json={"proposal_ids": pids})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["path"] == "$.proposal_ids[0]"
    with live.as_user("approver") as c:
        states = {ok(c.get(f"/decisions/proposals/{pid}"))["state"] for pid in pids}
    assert states == {"in_notice"}
    assert approve(live, pids)["approved"] == 2


def test_changed_input_recomputes_and_the_reviewer_sees_what_changed(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    visit_id = accepted_visit(live, household)
    generate(live)
    proposal = proposal_of(live, household)
    pid = proposal["id"]
    with live.as_user("sup1") as c:
        ok(c.post(f"/decisions/proposals/{pid}/review", json={"action": "confirm"}))
        # A correction: a fourth member is registered → (560 − 225) × 4 = 1,340 yuan.
        ok(
            c.post(
                f"/households/{household['id']}/members",
                json=member("王新", "child", dt.date(2015, 1, 1)),
            ),
            201,
        )
        recomputed = ok(c.get(f"/decisions/proposals/{pid}"))
    assert recomputed["revision"] == 2
    assert recomputed["state"] == "proposed", "a changed amount goes back to review"
    assert recomputed["new_amount"] == 134000
    change = recomputed["changes"][-1]
    assert change["fields"]["new_amount"] == [78000, 134000]
    assert change["inputs"]["household"] == [household["version"], household["version"] + 1]
    bump_visit(live, visit_id)
    with live.as_user("sup1") as c:
        again = ok(c.get(f"/decisions/proposals/{pid}"))
    assert again["revision"] == 3
    assert again["state"] == "proposed"
    assert again["changes"][-1]["fields"] == {}


def test_no_proposal_while_a_conflict_or_evidence_is_open(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    visit_id = accepted_visit(live, household)

    async def conflicted(session: Any, visit_ids: Any) -> set[uuid.UUID]:
        return {visit_id} & set(visit_ids)

    async def evidence(session: Any, visit_ids: Any) -> dict[uuid.UUID, list[str]]:
        return {visit_id: ["ab" * 32]} if visit_id in visit_ids else {}

    monkeypatch.setattr(inputs, "unresolved_conflicts", conflicted)
    result = generate(live)
    assert result["created"] == 0
    assert result["skipped"] == [{"visit_id": str(visit_id), "reason": "the visit has an unresolved conflict"}]
    monkeypatch.undo()
    monkeypatch.setattr(inputs, "missing_evidence", evidence)
    assert "evidence missing" in generate(live)["skipped"][0]["reason"]
    monkeypatch.undo()
    assert generate(live)["created"] == 1


def test_return_plans_another_visit(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    with live.as_user("sup1") as c:
        short = c.post(f"/decisions/proposals/{pid}/review", json={"action": "return"})
        assert short.status_code == 422
        returned = ok(
            c.post(f"/decisions/proposals/{pid}/review", json={"action": "return", "reason": "收入证明照片不清"})
        )
        assert returned["state"] == "returned"
        visits = c.get("/visits/", params={"household_id": household["id"]})
    if visits.status_code == 200:
        body = visits.json()
        items = body["items"] if isinstance(body, dict) else body
        assert any(v["reason"] == "follow_up" for v in items)


def test_notice_exports_are_masked(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1, head="张三丰")
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    notice = to_notice(live, [pid])
    with live.as_user("sup1") as c:
        pdf = c.get(f"/decisions/notices/{notice['id']}/export", params={"format": "pdf"})
        xlsx = c.get(f"/decisions/notices/{notice['id']}/export", params={"format": "xlsx"})
        full = ok(c.get(f"/households/{household['id']}"))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert b"STSong-Light" in pdf.content
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
    assert "张*" in cells
    text = " ".join(cells)
    assert "三丰" not in text
    for m in full["members"]:
        assert m["id_number"] not in text
        assert m["id_number"][-4:] not in text.replace("2026", "")


def test_rules_are_versioned_and_bad_rules_are_refused(live: LiveServer) -> None:
    with live.as_user("admin") as c:
        current = ok(c.get("/decisions/rules"))
        document: dict[str, Any] = current["document"]
        overlapping = {
            **document,
            "version": "bad",
            "standards": [
                *document["standards"],
                {"residence": "rural", "amount": 60000, "effective_from": "2026-06-01"},
            ],
        }
        refused = c.post("/decisions/rules", json=overlapping)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["path"].startswith("$.standards[")
        missing = {
            **document,
            "version": "bad2",
            "standards": [s for s in document["standards"] if s["residence"] != "urban"],
        }
        refused = c.post("/decisions/rules", json=missing)
        assert refused.status_code == 422
        assert "urban" in refused.json()["message"]
        raised = {
            **document,
            "version": "2026.2",
            "standards": [
                {"residence": "urban", "amount": 72000, "effective_from": "2026-01-01"},
                {"residence": "rural", "amount": 56000, "effective_from": "2026-01-01", "effective_to": "2026-06-30"},
                {"residence": "rural", "amount": 60000, "effective_from": "2026-07-01"},
            ],
        }
        ok(c.post("/decisions/rules", json=raised), 201)
        assert c.post("/decisions/rules", json=raised).status_code == 409
        assert ok(c.get("/decisions/rules"))["version"] == "2026.2"
        assert [r["version"] for r in ok(c.get("/decisions/rules/versions"))] == ["2026.2"]
    with live.as_user("sup1") as c:
        assert c.post("/decisions/rules", json=raised).status_code == 403
    household = create_household(live, incomes=EXAMPLE_1)
    accepted_visit(live, household)
    generate(live)
    proposal = proposal_of(live, household)
    assert proposal["rule_version"] == "2026.2"
    assert proposal["standard"] == 60000
