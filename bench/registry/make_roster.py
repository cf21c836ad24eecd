"""Write a deterministic roster of N households (default 100,000) as CSV and XLSX.

The people come from the demo generator (``server.demo.build_county`` with the same seed), so the
roster's area codes are the demo county's communities and villages: import it into a database that
holds the demo *areas* (``bench_import.py`` does that). One row per person, Chinese headers, the
household columns filled on the head's row only — the way a county office keeps it.

    .venv/bin/python bench/registry/make_roster.py [--households 100000] [--seed 7] [--out var/bench]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from server.demo import build_county
from server.registry.roster import COLUMNS

_CATEGORY = {"three_no": "三无", "extreme_hardship": "特困", "general": "一般"}
_RESIDENCE = {"urban": "城市", "rural": "农村"}
_STATUS = {"active": "正常", "suspended": "暂停", "cancelled": "停保"}
_RELATION = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "grandchild": "孙子女",
    "grandparent": "祖父母",
    "sibling": "兄弟姐妹",
    "child_in_law": "儿媳",
    "other": "其他",
}
_SEX = {"male": "男", "female": "女"}
_HEALTH = {"healthy": "健康", "often_ill": "体弱多病", "seriously_ill": "重病"}
_LABOUR = {"full": "有", "partial": "部分", "none": "无"}
_INCOME_KINDS = ["wages", "business", "support", "resident_basic_pension", "social_assistance"]
HEADERS = [
    "户主身份证号",
    "户编号",
    "区划代码",
    "城乡类别",
    "保障类别",
    "保障状态",
    "月保障金(元)",
    "家庭住址",
    "纬度",
    "经度",
    "开户银行",
    "银行账号",
    "联系电话",
    "批准日期",
    "上次复核日期",
    "姓名",
    "与户主关系",
    "身份证号",
    "性别",
    "出生日期",
    "健康状况",
    "残疾等级",
    "劳动能力",
    "就业情况",
    *[next(c.zh for c in COLUMNS if c.key == f"income_{kind}") + "(元/月)" for kind in _INCOME_KINDS],
]


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def roster_rows(households: int, seed: int) -> Iterator[list[Any]]:
    """The data rows (strings for CSV; the XLSX writer turns amounts into numbers)."""
    county = build_county(seed, households)
    members: dict[Any, list[dict[str, Any]]] = {}
    for member in county.members:
        members.setdefault(member["household_id"], []).append(member)
    incomes: dict[Any, dict[str, int]] = {}
    for item in county.incomes:
        incomes.setdefault(item["member_id"], {})[item["kind"]] = item["monthly_amount"]
    for h in county.households:
        for m in members[h["id"]]:
            head = m["relation"] == "head"
            household = (
                [
                    h["code"],
                    h["area_code"],
                    _RESIDENCE[h["residence"]],
                    _CATEGORY[h["category"]],
                    _STATUS[h["status"]],
                    _yuan(h["benefit_amount"]),
                    h["address"],
                    f"{h['lat']:.6f}",
                    f"{h['lon']:.6f}",
                    h["bank_name"],
                    h["bank_account"],
                    h["phone"],
                    h["approved_on"].isoformat(),
                    h["last_recheck_on"].isoformat(),
                ]
                if head
                else [""] * 14
            )
            own = incomes.get(m["id"], {})
            yield [
                h["head_id_number"],
                *household,
                m["name"],
                _RELATION[m["relation"]],
                m["id_number"],
                _SEX[m["sex"]],
                m["birth_date"].isoformat(),
                _HEALTH[m["health"]],
                f"{m['disability_grade']}级" if m["disability_grade"] else "",
                _LABOUR[m["labour_capacity"]],
                m["employment"] or "",
                *[_yuan(own[k]) if k in own else "" for k in _INCOME_KINDS],
            ]


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS)
        writer.writerows(rows)


def write_xlsx(path: Path, rows: list[list[Any]]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("花名册")
    sheet.append(HEADERS)
    amounts = {i for i, h in enumerate(HEADERS) if "元" in h}
    for row in rows:
        sheet.append([float(v) if i in amounts and v else (v or None) for i, v in enumerate(row)])
    workbook.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    parser.add_argument("--no-xlsx", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = list(roster_rows(args.households, args.seed))
    stem = f"roster_{args.households}"
    write_csv(args.out / f"{stem}.csv", rows)
    print(f"{args.out / stem}.csv: {len(rows)} rows, {(args.out / f'{stem}.csv').stat().st_size / 1e6:.1f} MB")
    if not args.no_xlsx:
        write_xlsx(args.out / f"{stem}.xlsx", rows)
        print(f"{args.out / stem}.xlsx: {(args.out / f'{stem}.xlsx').stat().st_size / 1e6:.1f} MB")
    print(f"written in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
