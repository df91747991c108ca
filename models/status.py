"""Status of each unit's report for each task and cycle, in the words of the Government's
task-tracking rules. Pure."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from models.calendar import BusinessCalendar
from models.plan import Plan
from models.rules import LedgerState, task_cycles

WORDS = {
    "not_due": "chưa đến hạn",
    "on_time": "đã báo cáo đúng hạn",
    "late": "đã báo cáo trễ hạn",
    "overdue": "chưa báo cáo – quá hạn",
    "exempt": "miễn",
}


def report_status(deadline: dt.date, reported_on: dt.date | None, exempt: bool, today: dt.date) -> str:
    """One of WORDS' keys. A report received on the deadline day itself is on time: the
    deadline keeps its date even when it is a day off, and a unit is not late for using it."""
    if exempt:
        return "exempt"
    if reported_on is not None:
        return "on_time" if reported_on <= deadline else "late"
    return "overdue" if today > deadline else "not_due"


@dataclass(frozen=True)
class StatusRow:
    period: str
    task_id: str
    unit_id: str
    unit_name: str
    deadline: dt.date
    status: str
    reported_on: dt.date | None
    sent: tuple[tuple[str, dt.date, str], ...]   # (stage, day decided, delivery status)
    updated_on: dt.date | None = None            # a later report replaced the first

    @property
    def word(self) -> str:
        return WORDS[self.status] + (f" (đã cập nhật {self.updated_on:%d/%m})" if self.updated_on else "")


def status_rows(plan: Plan, state: LedgerState, today: dt.date,
                sent: Mapping[tuple[str, str, str], list[tuple[str, dt.date, str]]] | None = None,
                cal: BusinessCalendar | None = None) -> list[StatusRow]:
    """One row per unit and cycle: this year's cycles that dondoc asked about, those still
    open from last year, and each task's next cycle. A cycle whose first request day has
    passed without dondoc asking anything (it was set up later) is left out: nobody was
    asked, so nobody is late (`dondoc plan` lists those still open)."""
    cal = cal or BusinessCalendar(plan.calendar)
    sent = sent or {}
    rows = []
    for task in plan.tasks:
        shown: set[str] = set()
        for c, units in task_cycles(plan, cal, task, (today.year - 1, today.year, today.year + 1)):
            label = c.period.label
            if c.request_on <= today:
                if (task.id, label) not in state.asked or (c.closes_on < today and c.deadline.year < today.year):
                    continue
            elif shown - {label}:      # a cycle still to come: only when the task shows nothing else
                continue
            shown.add(label)
            for unit in units:
                k = (task.id, unit.id, label)
                reported = state.reported.get(k)
                rows.append(StatusRow(label, task.id, unit.id, unit.name, c.deadline,
                                      report_status(c.deadline, reported, unit.id in task.exempt, today),
                                      reported, tuple(sent.get(k, ())), state.updated.get(k)))
    return rows


def counts(rows: list[StatusRow]) -> dict[str, int]:
    out = dict.fromkeys(WORDS, 0)
    for r in rows:
        out[r.status] += 1
    return out
