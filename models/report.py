"""What the yearly report says, pure: counts, names, indicator totals, the units' own words.

`compile_report(plan, state, reports, today, period)` reads no file and no clock; the report
flow renders what it returns into the .docx the deputy director signs.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.calendar import BusinessCalendar
from models.period import Period, parse_label, with_period
from models.plan import Indicator, Plan
from models.quote import DETAIL, _fold, about_items, own_words
from models.rules import LedgerState, event_end, task_cycles
from models.status import WORDS, arrival, report_status


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

    @property
    def received(self) -> str:
        """The day the report arrived, dd/mm/yyyy, or ""."""
        return f"{self.received_on:%d/%m/%Y}" if self.received_on else ""


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
    difficulties: list[dict] = field(default_factory=list)   # per unit and task: {"unit", "text"}, from the form
    proposals: list[dict] = field(default_factory=list)      # the units' own proposals, before the plan's
    untracked: list[str] = field(default_factory=list)       # tasks of the period dondoc did not follow
    early: list[str] = field(default_factory=list)           # units whose event report came before it ended

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


def _form(rep: Mapping) -> dict:
    """What the report says (the ledger's `form`); for a row of before the form (no such key),
    its note stands for its text; a paper report's note is the clerk's own, never quoted."""
    if "form" not in rep:
        return {"text": rep.get("note") or ""}
    return json.loads(rep["form"]) if rep["form"] else {}


def flat(text: str, chars: int = 600) -> tuple[str, bool]:
    """A cell's lines as one sentence run ("- a" / "- b" → "a; b."), cut near `chars` (with "…").
    Returns (text, whether it was cut)."""
    lines = [" ".join(x.split()).lstrip("-+•*– ").strip() for x in text.splitlines()]
    lines = [x.rstrip(";,") for x in lines if x]
    out = "; ".join(x if i == len(lines) - 1 else x.rstrip(".") for i, x in enumerate(lines))
    cut = len(out) > chars
    if cut:
        out = out[:chars].rsplit(" ", 1)[0].rstrip(",;") + "…"
    elif out and not out.endswith((".", "!", "?", "…")):
        out += "."
    return out, cut


def _own(plan: Plan, unit_id: str) -> str:
    return plan.unit(unit_id).name if plan.has_unit(unit_id) else unit_id


# the words that open a report's section of difficulties or proposals (models.quote's _SECTIONS):
# a text without any of them has neither, and is not split a second time to look for them
_REMARKS = re.compile(r"\b(?:kho khan|han che|ton tai|de xuat|kien nghi)\b")


class _Said:
    """What the reports counted in the report say, gathered one report at a time (each report's
    form is read once, then let go): indicator values by (task, indicator), the units' words
    under each content item or (speaking of none) under their task, their difficulties and
    proposals."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.items = {c.id: c.text for c in plan.content_items}
        self.under: dict[str, list[dict]] = {c: [] for c in self.items}
        self.rest: dict[str, list[dict]] = {}
        self.given: dict[tuple[str, str], list[float]] = {}
        self.guessed: dict[tuple[str, str], int] = {}
        self.remarks: dict[str, list[dict]] = {"difficulties": [], "proposals": []}

    def add(self, task_id: str, unit_id: str, values: dict, form: dict) -> None:
        """One counted report: its indicator `values` and its `form` (see `_form`)."""
        estimates = set(form.get("estimates", ()))
        for k, v in values.items():
            if v is not None:
                self.given.setdefault((task_id, k), []).append(v)
            if k in estimates:
                self.guessed[(task_id, k)] = self.guessed.get((task_id, k), 0) + 1
        self._words(task_id, unit_id, form)
        text: str = form.get("text") or ""
        wanted = text and not all(form.get(k) for k in self.remarks) and _REMARKS.search(_fold(text))
        sections = about_items(text, {}) if wanted else {}
        for key, out in self.remarks.items():   # the units' difficulties or proposals, one line per report
            if said := form.get(key):
                out.append({"unit": _own(self.plan, unit_id), "text": flat(said)[0]})
            elif part := sections.get(f"_{key}"):
                if words := own_words(part)[0]:
                    out.append({"unit": _own(self.plan, unit_id), "text": words})

    def _words(self, task_id: str, unit_id: str, form: dict) -> None:
        """Under each content item, one line per unit that wrote about it: the form's cell for the
        item, else the part of its report about the item, trimmed, with DETAIL; a report whose
        text speaks of no item of its task goes under the task itself."""
        task = self.plan.task(task_id)
        who = _own(self.plan, unit_id) + (f" ({task.event.name})" if task.event else "")
        own = [i for i in task.content_items if i in self.items]
        parts = about_items(form["text"], {i: self.items[i] for i in own}) if form.get("text") else {}
        if len(own) == 1 and None in parts:
            parts[own[0]] = "\n".join(filter(None, (parts.get(own[0]), parts.pop(None))))
        said = False
        for i in own:
            if cell := (form.get("items") or {}).get(i):
                text, cut = flat(cell)
                self.under[i].append({"unit": who, "text": text, "detail": DETAIL if cut else ""})
                said = True
            elif parts.get(i):
                text, _ = own_words(parts[i])
                if text:
                    self.under[i].append({"unit": who, "text": text, "detail": DETAIL})
                    said = True
        if not said and parts.get(None):
            text, _ = own_words(parts[None])
            if text:
                self.rest.setdefault(task_id, []).append({"unit": _own(self.plan, unit_id), "text": text,
                                                          "detail": DETAIL})


def compile_report(plan: Plan, state: LedgerState, reports: Iterable[Mapping], today: dt.date, period: Period,
                   cal: BusinessCalendar | None = None) -> ReportData:
    """The report of `period`: its own cycles (and one-off cycles inside it), only those dondoc
    asked about (a request decided, or a report recorded). Cycles of finer periods inside it
    (the quarters of a year) are counted apart in `parts`, never added into its totals.
    `reports`: the ledger's report rows of the plan (every period; the latest of each cycle),
    read once; each row counted is let go once its words are taken."""
    cal = cal or BusinessCalendar(plan.calendar)
    by_key = {(r["task_id"], r["unit_id"], r["period"]): r for r in reports}
    groups = {g.id: g.name for g in plan.groups}
    names = {i.id: i for i in plan.indicators}
    rows: list[Row] = []
    said = _Said(plan)
    parts: dict[tuple[str, str], dict[str, int]] = {}
    untracked: dict[str, str] = {}
    years = range(period.start.year, period.end.year + 1)
    for task in plan.tasks:
        for c, units in task_cycles(plan, cal, task, years):
            label = c.period.label
            own = c.period == period or (c.period.kind == "once" and period.contains(c.period))
            if not own and not period.contains(c.period):
                continue
            if (task.id, label) not in state.asked:   # a cycle dondoc never asked about: said, not counted
                if own:
                    untracked.setdefault(task.id, with_period(task.title, c.period))
                continue
            ended = event_end(task, c.deadline)
            title = with_period(task.title, c.period)
            for unit in units:
                received = arrival(state, (task.id, unit.id, label), ended)
                status = report_status(c.deadline, received, unit.id in task.exempt, today, ended)
                if not own:
                    counts = parts.setdefault((label, task.id), dict.fromkeys(WORDS, 0))
                    counts[status] += 1
                    continue
                rep = by_key.pop((task.id, unit.id, label), None)
                values = json.loads(rep["indicators"] or "{}") if rep else {}
                form = _form(rep) if rep else {}
                guessed = set(form.get("estimates", ()))
                rows.append(Row(task.id, title, label, unit.id, unit.name,
                                groups[unit.group], c.deadline, received, status,
                                "; ".join(f"{names[k].name if k in names else k}: {vn_number(v)}"
                                          + (" (ước tính)" if k in guessed else "") for k, v in values.items()),
                                "; ".join(p.rsplit("/", 1)[-1] for p in json.loads(rep["files"] or "[]"))
                                if rep else ""))
                if rep and status != "early":
                    said.add(task.id, unit.id, values, form)
    del by_key
    counts = dict.fromkeys(WORDS, 0)
    for r in rows:
        counts[r.status] += 1
    asked = len(rows) - counts["exempt"]
    totals = []
    for task in plan.tasks:   # one table per task: a unit's figures are never added across tasks
        title = next((r.task_title for r in rows if r.task_id == task.id), task.title)
        for ind_id in task.indicators:
            given = said.given.get((task.id, ind_id))
            guessed = said.guessed.get((task.id, ind_id), 0)
            if given and ind_id in names:
                ind = names[ind_id]
                totals.append({"task_id": task.id, "task": title, "name": ind.name, "unit": ind.unit,
                               "kind": ind.kind, "total": total(ind, given) + (" (ước tính)" if guessed else ""),
                               "reports": len(given), "estimates": guessed})
    items = [{"id": c.id, "text": c.text, "words": said.under[c.id]} for c in plan.content_items]
    for task_id, words in said.rest.items():   # reports that speak of no item of their task: under the task
        title = with_period(plan.task(task_id).title, period)
        items.append({"id": task_id, "text": title[:1].upper() + title[1:], "words": words})
    when = "năm nay" if period.kind == "year" else "kỳ này"
    for item in items:
        covering = [t for t in plan.tasks if item["id"] in t.content_items]
        item["none"] = ("Kế hoạch không giao đơn vị báo cáo riêng về nội dung này." if not covering else
                        f"Nội dung này thuộc nhiệm vụ không theo dõi qua hệ thống {when}."
                        if all(t.id in untracked for t in covering) else "Chưa có đơn vị báo cáo về nội dung này.")
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
        difficulties=said.remarks["difficulties"], proposals=said.remarks["proposals"],
        untracked=[t[:1].upper() + t[1:] for t in untracked.values()],
        early=[f"{r.unit_name} ({r.task_title}, nhận ngày {r.received_on:%d/%m/%Y})" for r in rows
               if r.status == "early"],
        parts=[{"period": parse_label(label).text, "task": with_period(plan.task(t).title, parse_label(label)),
                **c} for (label, t), c in sorted(parts.items())])
