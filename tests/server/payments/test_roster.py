"""The monthly payment roster over real HTTP on both engines: totals to the fen, close once,
later approvals in the next month, bank export, bank return all-or-nothing, failures."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from tests.server.decisions.helpers import (
    accepted_visit,
    approve,
    create_household,
    first_of_next_month,
    generate,
    ok,
    proposal_of,
    to_notice,
)
from tests.support import LiveServer


def _month(offset: int = 1) -> str:
    day = first_of_next_month()
    for _ in range(offset - 1):
        day = first_of_next_month(day)
    return day.strftime("%Y-%m")


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _households(live: LiveServer) -> list[dict[str, Any]]:
    amounts = [56000, 78033, 18000, 123456]
    areas = ["T1-a", "T1-b", "T2-a", "T1-b"]
    users = ["sup1", "sup1", "sup2", "sup1"]
    return [
        create_household(live, area, benefit_amount=amount, user=user, residence="rural")
        for amount, area, user in zip(amounts, areas, users, strict=True)
    ]


def test_roster_totals_reconcile_to_the_fen(live: LiveServer) -> None:
    households = _households(live)
    create_household(live, "T1-a", benefit_amount=0)
    month = _month()
    with live.as_user("approver") as c:
        built = ok(c.post(f"/payments/months/{month}/build"))
        rows = ok(c.get(f"/payments/months/{month}/rows", params={"limit": 5000}))
        ok(c.post(f"/payments/months/{month}/close"))
        export = c.get(f"/payments/months/{month}/export", params={"format": "csv"})
        xlsx = c.get(f"/payments/months/{month}/export", params={"format": "xlsx"})
    assert built["state"] == "open"
    assert built["row_count"] == 4 == len(rows)
    expected = sum(h["benefit_amount"] for h in households)
    assert built["total"] == expected == sum(r["amount"] for r in rows) == sum(a["total"] for a in built["areas"])
    assert {a["area_code"]: a["households"] for a in built["areas"]} == {"T1-a": 1, "T1-b": 2, "T2-a": 1}
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    lines = _csv(export.content)
    assert lines[0][:8] == [
        "seq",
        "month",
        "household_code",
        "payee_name",
        "payee_id_number",
        "bank_name",
        "bank_account",
        "amount",
    ]
    assert lines[-1] == ["TOTAL", "4", "2754.89"]
    assert sum(int(line[7].replace(".", "")) for line in lines[1:-1]) == expected
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book["roster"].max_row == 6
    area_rows = list(book["areas"].iter_rows(values_only=True))
    assert area_rows[-1][-1] == expected
    with live.as_user("sup1") as c:
        mine = ok(c.get(f"/payments/months/{month}"))
        masked = ok(c.get(f"/payments/months/{month}/rows"))
        assert c.get(f"/payments/months/{month}/export").status_code == 403
    assert {a["area_code"] for a in mine["areas"]} == {"T1-a", "T1-b"}
    assert all(r["bank_account"].startswith("****") for r in masked)


def test_an_open_months_bank_file_is_refused(live: LiveServer) -> None:
    _households(live)
    month = _month()
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{month}/build"))
        for fmt in ("csv", "xlsx"):
            refused = c.get(f"/payments/months/{month}/export", params={"format": fmt})
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "month_open"
            assert refused.json()["errors"][0]["path"] == "month"
            assert "close it before exporting" in refused.json()["errors"][0]["reason"]
        ok(c.post(f"/payments/months/{month}/close"))
        assert c.get(f"/payments/months/{month}/export").status_code == 200


def test_close_freezes_once_and_later_approvals_go_to_the_next_month(live: LiveServer) -> None:
    household = create_household(live, incomes=[("business", 60000), ("support", 30000)], benefit_amount=70000)
    accepted_visit(live, household)
    generate(live)
    pid = proposal_of(live, household)["id"]
    to_notice(live, [pid])
    month = _month()
    with live.as_user("approver") as c:
        closed = ok(c.post(f"/payments/months/{month}/close"))
        assert closed["state"] == "closed"
        again = c.post(f"/payments/months/{month}/close")
        assert again.status_code == 409
        assert "already closed" in again.json()["errors"][0]["reason"]
        rebuild = c.post(f"/payments/months/{month}/build")
        assert rebuild.status_code == 409
    approved = approve(live, [pid])
    assert approved["effective_from"] == {_month(2): 1}, "the next month is closed"
    with live.as_user("approver") as c:
        frozen = ok(c.get(f"/payments/months/{month}/rows", params={"limit": 5000}))
        later = ok(c.post(f"/payments/months/{_month(2)}/build"))
        rows = ok(c.get(f"/payments/months/{_month(2)}/rows", params={"limit": 5000}))
    row = next(r for r in frozen if r["household_id"] == household["id"])
    assert row["amount"] == 70000
    new = next(r for r in rows if r["household_id"] == household["id"])
    assert new["amount"] == 78000
    assert new["proposal_id"] == pid
    assert later["total"] == sum(r["amount"] for r in rows)


def _return_file(lines: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "household_code", "bank_account", "amount", "status", "reason"])
    writer.writerows(lines)
    return out.getvalue().encode()


def test_bank_return_is_all_or_nothing_and_failures_are_listed(live: LiveServer) -> None:
    _households(live)
    month = _month()
    with live.as_user("approver") as c:
        open_return = c.post(f"/payments/months/{month}/returns", content=b"x")
        ok(c.post(f"/payments/months/{month}/close"))
        bank = _csv(c.get(f"/payments/months/{month}/export").content)[1:-1]
    assert open_return.status_code in (404, 409)
    good = [[r[0], r[2], r[6], r[7], "paid", ""] for r in bank]
    good[1][4:] = ["failed", "账户已冻结"]
    total = f"{sum(int(r[3].replace('.', '')) for r in good) / 100:.2f}"

    unknown = _return_file([*good, ["99", "X", "1", "1.00", "paid", ""], ["TOTAL", str(len(good) + 1), total]])
    wrong_total = _return_file([*good, ["TOTAL", str(len(good)), "1.00"]])
    with live.as_user("approver") as c:
        for body, needle in ((unknown, "unknown row"), (wrong_total, "does not equal the sum")):
            refused = c.post(f"/payments/months/{month}/returns", content=body, headers={"Content-Type": "text/csv"})
            assert refused.status_code == 422, refused.text
            assert any(needle in e["reason"] for e in refused.json()["errors"]), refused.text
            assert "nothing was applied" in refused.json()["message"]
        untouched = ok(c.get(f"/payments/months/{month}"))
        assert untouched.get("paid_count", 0) == 0
        assert untouched["pending_count"] == len(good)
        result = ok(
            c.post(
                f"/payments/months/{month}/returns",
                content=_return_file([*good, ["TOTAL", str(len(good)), total]]),
                headers={"Content-Type": "text/csv"},
            )
        )
        assert result["paid"] == len(good) - 1
        assert result["failed"] == 1
        summary = ok(c.get(f"/payments/months/{month}"))
        failures = ok(c.get(f"/payments/months/{month}/failures"))
        replay = ok(
            c.post(
                f"/payments/months/{month}/returns",
                content=_return_file([*good, ["TOTAL", str(len(good)), total]]),
                headers={"Content-Type": "text/csv"},
            )
        )
    assert replay["unchanged"] == len(good)
    assert summary["paid_total"] + summary["failed_total"] == summary["total"]
    assert summary.get("pending_count", 0) == 0
    assert [f["failure_reason"] for f in failures] == ["账户已冻结"]
    assert failures[0]["seq"] == int(good[1][0])


def test_bad_month_is_refused(live: LiveServer) -> None:
    with live.as_user("approver") as c:
        bad = c.post("/payments/months/2026-13/build")
        missing = c.get("/payments/months/2030-01")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "month"
    assert missing.status_code == 404
