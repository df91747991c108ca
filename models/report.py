"""What the yearly report says, pure: counts, names, indicator totals, the units' own words.

`compile_report(plan, state, reports, today, year)` reads no file and no clock; the report
flow renders what it returns into the .docx the deputy director signs.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from models.calendar import BusinessCalendar
from models.plan import Plan
from models.rules import LedgerState, deadline_of
from models.status import WORDS, report_status


@dataclass(frozen=True)
class Row:
    task_id: str
    task_title: str
    unit_id: str
    unit_name: str
    group: str
    deadline: dt.date
    received_on: dt.date | None
    status: str
    indicators: str
    files: str

    @property
    def word(self) -> str:
        return WORDS[self.status]


@dataclass
class ReportData:
    year: int
    rows: list[Row]
    counts: dict[str, int]
    asked: int                      # reports asked for (exempt ones excluded)
    units: int                      # distinct units asked
    totals: list[dict]              # indicator, unit, total, reports giving it
    items: list[dict]               # content item, and the units' words under it
    groups: list[dict]              # per group: on time, late, missing
    late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def percent(self, status: str) -> str:
        return f"{100 * self.counts[status] / self.asked:.1f}%".replace(".", ",") if self.asked else "0%"


def compile_report(plan: Plan, state: LedgerState, reports: list[dict], today: dt.date, year: int,
                   cal: BusinessCalendar | None = None) -> ReportData:
    """`reports`: the ledger's report rows of the plan (any year; only `year`'s are used).
    Only the tasks of `year` that were asked about (a request decided, or a report recorded)
    are counted."""
    by_key = {(r["task_id"], r["unit_id"]): r for r in reports if r["year"] == year}
    groups = {g.id: g.name for g in plan.groups}
    rows: list[Row] = []
    names = {i.id: i.name for i in plan.indicators}
    asked_tasks = {k.split("/")[2] for k in state.decided if k.endswith("/request") and k.split("/")[1] == str(year)}
    asked_tasks |= {t for t, _ in by_key}
    for task in plan.tasks:
        if task.id not in asked_tasks:   # a task dondoc never asked about (e.g. before it was set up)
            continue
        deadline = deadline_of(task, year)
        for unit in plan.units_of(task):
            rep = by_key.get((task.id, unit.id))
            received = state.reported.get((task.id, unit.id, year))
            values = json.loads(rep["indicators"] or "{}") if rep else {}
            rows.append(Row(task.id, task.title.replace("{year}", str(year)), unit.id, unit.name, groups[unit.group],
                            deadline, received, report_status(deadline, received, unit.id in task.exempt, today),
                            "; ".join(f"{names.get(k, k)}: " + f"{v:,}".replace(",", ".") for k, v in values.items()),
                            "; ".join(p.rsplit("/", 1)[-1] for p in json.loads(rep["files"] or "[]")) if rep else ""))
    counts = dict.fromkeys(WORDS, 0)
    for r in rows:
        counts[r.status] += 1
    asked = len(rows) - counts["exempt"]
    totals = []
    for ind in plan.indicators:
        given = [json.loads(r["indicators"] or "{}").get(ind.id) for r in by_key.values()]
        given = [v for v in given if v is not None]
        if given:
            totals.append({"name": ind.name, "unit": ind.unit, "total": f"{sum(given):,}".replace(",", "."),
                           "reports": len(given)})
    items, quoted = [], set()
    for item in plan.content_items:
        words = []
        for task in plan.tasks:
            if item.id not in task.content_items:
                continue
            for (task_id, unit_id), rep in by_key.items():
                note = " ".join((rep["note"] or "").split())
                if task_id == task.id and note and (task_id, unit_id) not in quoted:
                    quoted.add((task_id, unit_id))
                    words.append({"unit": plan.unit(unit_id).name if plan.has_unit(unit_id) else unit_id,
                                  "text": note[:400] + ("…" if len(note) > 400 else "")})
        items.append({"id": item.id, "text": item.text, "words": words})
    for task in plan.tasks:   # reports of tasks that name no content item: under the task itself
        words = [{"unit": plan.unit(u).name if plan.has_unit(u) else u, "text": " ".join(r["note"].split())[:400]}
                 for (t, u), r in by_key.items() if t == task.id and (t, u) not in quoted and (r["note"] or "").strip()]
        if words:
            title = task.title.replace("{year}", str(year))
            items.append({"id": task.id, "text": title[:1].upper() + title[1:], "words": words})
    per_group = []
    for g in plan.groups:
        mine = [r for r in rows if r.group == g.name and r.status != "exempt"]
        if mine:
            per_group.append({"name": g.name, "asked": len(mine),
                              **{k: sum(r.status == k for r in mine) for k in ("on_time", "late", "overdue", "not_due")}})
    return ReportData(
        year, rows, counts, asked, len({r.unit_id for r in rows if r.status != "exempt"}), totals, items, per_group,
        late=sorted({r.unit_name for r in rows if r.status == "late"}),
        missing=sorted({r.unit_name for r in rows if r.status in ("overdue", "not_due")}))
