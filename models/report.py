"""What the yearly report says, pure: counts, names, indicator totals, the units' own words.

`compile_report(plan, state, reports, today, period)` reads no file and no clock; the report
flow renders what it returns into the .docx the deputy director signs.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from models.calendar import BusinessCalendar
from models.period import Period, parse_label, with_period
from models.plan import Indicator, Plan
from models.rules import LedgerState, task_cycles
from models.status import WORDS, report_status


@dataclass(frozen=True)
class Row:
    task_id: str
    task_title: str
    period: str
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
    period: Period
    rows: list[Row]
    counts: dict[str, int]
    asked: int                      # reports asked for (exempt ones excluded)
    units: int                      # distinct units asked
    totals: list[dict]              # per task: indicator, unit, total, reports giving it
    items: list[dict]               # content item, and the units' words under it
    groups: list[dict]              # per group: on time, late, missing
    late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    parts: list[dict] = field(default_factory=list)   # finer periods inside this one: their counts, apart

    @property
    def year(self) -> int:
        return self.period.year

    def percent(self, status: str) -> str:
        return f"{100 * self.counts[status] / self.asked:.1f}%".replace(".", ",") if self.asked else "0%"


def vn_number(value: float, decimals: int = 1) -> str:
    """1234 -> "1.234", 87.5 -> "87,5": Vietnamese separators."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", ".")
    whole, _, frac = f"{value:,.{decimals}f}".partition(".")
    return whole.replace(",", ".") + ("," + frac.rstrip("0") if frac.rstrip("0") else "")


def total(indicator: Indicator, values: list[float]) -> str:
    """A count or decimal is summed; a percentage is averaged, with its lowest and highest."""
    if indicator.kind == "percent":
        avg = sum(values) / len(values)
        return (f"trung bình {vn_number(avg)}% (thấp nhất {vn_number(min(values))}%, "
                f"cao nhất {vn_number(max(values))}%)")
    return vn_number(sum(values), 2)


def _values(rep: dict | None) -> dict:
    return json.loads(rep["indicators"] or "{}") if rep else {}


def compile_report(plan: Plan, state: LedgerState, reports: list[dict], today: dt.date, period: Period,
                   cal: BusinessCalendar | None = None) -> ReportData:
    """The report of `period`: its own cycles (and one-off cycles inside it), only those dondoc
    asked about (a request decided, or a report recorded). Cycles of finer periods inside it
    (the quarters of a year) are counted apart in `parts`, never added into its totals.
    `reports`: the ledger's report rows of the plan (every period; the latest of each cycle)."""
    cal = cal or BusinessCalendar(plan.calendar)
    by_key = {(r["task_id"], r["unit_id"], r["period"]): r for r in reports}
    groups = {g.id: g.name for g in plan.groups}
    names = {i.id: i for i in plan.indicators}
    rows: list[Row] = []
    parts: dict[tuple[str, str], dict[str, int]] = {}
    years = range(period.start.year, period.end.year + 1)
    for task in plan.tasks:
        for c, units in task_cycles(plan, cal, task, years):
            label = c.period.label
            if (task.id, label) not in state.asked:   # a cycle dondoc never asked about
                continue
            own = c.period == period or (c.period.kind == "once" and period.contains(c.period))
            if not own and not period.contains(c.period):
                continue
            for unit in units:
                received = state.reported.get((task.id, unit.id, label))
                status = report_status(c.deadline, received, unit.id in task.exempt, today)
                if not own:
                    counts = parts.setdefault((label, task.id), dict.fromkeys(WORDS, 0))
                    counts[status] += 1
                    continue
                rep = by_key.get((task.id, unit.id, label))
                values = _values(rep)
                rows.append(Row(task.id, with_period(task.title, c.period), label, unit.id, unit.name,
                                groups[unit.group], c.deadline, received, status,
                                "; ".join(f"{names[k].name if k in names else k}: {vn_number(v)}"
                                          for k, v in values.items()),
                                "; ".join(p.rsplit("/", 1)[-1] for p in json.loads(rep["files"] or "[]"))
                                if rep else ""))
    counts = dict.fromkeys(WORDS, 0)
    for r in rows:
        counts[r.status] += 1
    asked = len(rows) - counts["exempt"]
    mine = {(r.task_id, r.unit_id, r.period): by_key[(r.task_id, r.unit_id, r.period)]
            for r in rows if (r.task_id, r.unit_id, r.period) in by_key}
    totals = []
    for task in plan.tasks:   # one table per task: a unit's figures are never added across tasks
        title = next((r.task_title for r in rows if r.task_id == task.id), task.title)
        for ind_id in task.indicators:
            given = [v for (t, _, _), rep in mine.items() if t == task.id
                     and (v := _values(rep).get(ind_id)) is not None]
            if given and ind_id in names:
                ind = names[ind_id]
                totals.append({"task": title, "name": ind.name, "unit": ind.unit, "kind": ind.kind,
                               "total": total(ind, given), "reports": len(given)})
    items, quoted = [], set()
    for item in plan.content_items:
        words = []
        for task in plan.tasks:
            if item.id not in task.content_items:
                continue
            for (task_id, unit_id, label), rep in mine.items():
                note = " ".join((rep["note"] or "").split())
                if task_id == task.id and note and (task_id, unit_id, label) not in quoted:
                    quoted.add((task_id, unit_id, label))
                    words.append({"unit": plan.unit(unit_id).name if plan.has_unit(unit_id) else unit_id,
                                  "text": note[:400] + ("…" if len(note) > 400 else "")})
        items.append({"id": item.id, "text": item.text, "words": words})
    for task in plan.tasks:   # reports of tasks that name no content item: under the task itself
        words = [{"unit": plan.unit(u).name if plan.has_unit(u) else u, "text": " ".join(r["note"].split())[:400]}
                 for (t, u, p), r in mine.items() if t == task.id and (t, u, p) not in quoted
                 and (r["note"] or "").strip()]
        if words:
            title = with_period(task.title, period)
            items.append({"id": task.id, "text": title[:1].upper() + title[1:], "words": words})
    per_group = []
    for g in plan.groups:
        of_group = [r for r in rows if r.group == g.name and r.status != "exempt"]
        if of_group:
            per_group.append({"name": g.name, "asked": len(of_group),
                              **{k: sum(r.status == k for r in of_group)
                                 for k in ("on_time", "late", "overdue", "not_due")}})
    return ReportData(
        period, rows, counts, asked, len({r.unit_id for r in rows if r.status != "exempt"}), totals, items, per_group,
        late=sorted({r.unit_name for r in rows if r.status == "late"}),
        missing=sorted({r.unit_name for r in rows if r.status in ("overdue", "not_due")}),
        parts=[{"period": parse_label(label).text, "task": with_period(plan.task(t).title, parse_label(label)),
                **c} for (label, t), c in sorted(parts.items())])
