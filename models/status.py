"""Status of each unit's report for each task and cycle, in the words of the Government's
task-tracking rules. Pure."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from models.calendar import BusinessCalendar
from models.plan import Plan
from models.rules import LedgerState, event_end, task_cycles

WORDS = {
    "not_due": "chưa đến hạn",
    "on_time": "đã báo cáo đúng hạn",
    "late": "đã báo cáo trễ hạn",
    "overdue": "chưa báo cáo – quá hạn",
    "exempt": "miễn",
    "early": "gửi trước khi sự kiện kết thúc – chưa tính",
}


def report_status(deadline: dt.date, reported_on: dt.date | None, exempt: bool, today: dt.date,
                  event_end: dt.date | None = None) -> str:
    """One of WORDS' keys. A report received on the deadline day itself is on time: the
    deadline keeps its date even when it is a day off, and a unit is not late for using it.
    A report of an event's results received on or before the event's last day (`event_end`)
    cannot hold them: `early`, flagged and not counted as reported."""
    if exempt:
        return "exempt"
    if reported_on is not None and event_end is not None and reported_on <= event_end:
        return "early"
    if reported_on is not None:
        return "on_time" if reported_on <= deadline else "late"
    return "overdue" if today > deadline else "not_due"


class StatusRow(NamedTuple):
    """One unit's report in one cycle. (A named tuple: made five times faster than a frozen
    dataclass, and `status` makes one per unit and cycle, 10,000s of them.)"""
    period: str
    task_id: str
    unit_id: str
    unit_name: str
    deadline: dt.date
    status: str
    reported_on: dt.date | None
    sent: tuple[tuple[str, dt.date, str], ...]   # (stage, day decided, delivery status)
    updated_on: dt.date | None = None            # a later report replaced the first
    extended_from: dt.date | None = None         # the cycle's own deadline, when this unit was given more time

    @property
    def word(self) -> str:
        return WORDS[self.status] + (f" (đã cập nhật {self.updated_on:%d/%m})" if self.updated_on else "")


def arrival(state: LedgerState, key: tuple[str, str, str], ended: dt.date | None) -> dt.date | None:
    """The day a cycle's report counts from: its first arrival; for an event's report that first
    came before the event ended, the day a later version replaced it (if one did)."""
    first = state.reported.get(key)
    later = state.updated.get(key)
    if first is not None and ended is not None and first <= ended and later is not None and later > ended:
        return later
    return first


def status_rows(plan: Plan, state: LedgerState, today: dt.date,
                sent: Mapping[tuple[str, str, str], list[tuple[str, dt.date, str]]] | None = None,
                cal: BusinessCalendar | None = None) -> list[StatusRow]:
    """`iter_status_rows` as a list."""
    return list(iter_status_rows(plan, state, today, sent, cal))


def iter_status_rows(plan: Plan, state: LedgerState, today: dt.date,
                     sent: Mapping[tuple[str, str, str], list[tuple[str, dt.date, str]]] | None = None,
                     cal: BusinessCalendar | None = None) -> Iterator[StatusRow]:
    """One row per unit and cycle, task by task, made as they are read: this year's cycles that
    dondoc asked about, those still open from last year, and each task's next cycle. A cycle
    whose first request day has passed without dondoc asking anything (it was set up later) is
    left out: nobody was asked, so nobody is late (`dondoc plan` lists those still open)."""
    cal = cal or BusinessCalendar(plan.calendar)
    sent = sent or {}
    reported, updated, extended = state.reported, state.updated, state.extended
    for task in plan.tasks:
        shown: set[str] = set()
        exempt = set(task.exempt)
        for c, units in task_cycles(plan, cal, task, (today.year - 1, today.year, today.year + 1)):
            label = c.period.label
            if c.request_on <= today:
                if (task.id, label) not in state.asked or (c.closes_on < today and c.deadline.year < today.year):
                    continue
            elif shown - {label}:      # a cycle still to come: only when the task shows nothing else
                continue
            shown.add(label)
            ended = event_end(task, c.deadline)
            for unit in units:
                k = (task.id, unit.id, label)
                got = arrival(state, k, ended) if reported.get(k) else None
                deadline = extended.get(k, c.deadline)
                yield StatusRow(label, task.id, unit.id, unit.name, deadline,
                                report_status(deadline, got, unit.id in exempt, today, ended),
                                got, tuple(sent.get(k, ())), updated.get(k),
                                c.deadline if deadline != c.deadline else None)


def counts(rows: Iterable[StatusRow]) -> dict[str, int]:
    out = dict.fromkeys(WORDS, 0)
    for r in rows:
        out[r.status] += 1
    return out


def bounce_fixed(plan: Plan, unit_id: str | None, address: str | None) -> bool:
    """Whether the plan has since changed the address a letter bounced from: the unit (still in
    the plan) no longer lists it among its emails or its head's. Unknown address: not fixed."""
    if not address or not unit_id:
        return False
    if not plan.has_unit(unit_id):
        return True
    unit = plan.unit(unit_id)
    return address.lower() not in {a.lower() for a in [*unit.emails, unit.head_email or ""]}


def letter_problems(plan: Plan, rows: Iterable[Mapping], bounced_to: Mapping[str, str],
                    attempts: int) -> list[tuple[str, str]]:
    """(kind, line) for every letter of `plan` a clerk must look at, one Vietnamese line each:
    `failed` (refused for good), `bounced` (unless the plan has since changed that address;
    `bounced_to`: letter key -> the address that bounced), `stuck` (still waiting after
    `attempts` runs that could not send it), `partial` (sent, but some recipients refused).
    An email carrying several rows is named once, by its lead row."""
    out = []
    for r in rows:
        if r.get("mail_key") not in (None, r["key"]):
            continue
        unit = plan.unit(r["unit_id"]).name if r["unit_id"] and plan.has_unit(r["unit_id"]) else r["unit_id"]
        who = f"{unit} — {r['key']}" if unit else r["key"]
        error = r["last_error"] or ""
        if r["status"] == "failed":
            out.append(("failed", f"Gửi thất bại: {who}: {error}"))
        elif r["status"] == "bounced" and not bounce_fixed(plan, r["unit_id"], bounced_to.get(r["key"])):
            out.append(("bounced", f"Thư bị trả lại: {who}: {error}"))
        elif r["status"] == "pending" and (r["attempts"] or 0) >= attempts and error:
            out.append(("stuck", f"Đã thử {r['attempts']} lần vẫn chưa gửi được: {who}: {error}"))
        elif r["status"] == "sent" and error:
            out.append(("partial", f"Đã gửi nhưng có người nhận bị từ chối: {who}: {error}"))
    return out
