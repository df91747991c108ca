"""The rules: for a plan, what the ledger remembers and a date, what must happen that day.

Pure: `due_actions(plan, state, today)` reads no clock and no file. The flows record what
it returns in the ledger before anything is sent, so a second call with the updated state
proposes nothing that was already decided.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from models.calendar import BusinessCalendar
from models.plan import Plan, Task, Unit

Stage = Literal["request", "reminder", "urging", "escalation", "overdue", "compile", "ack", "digest"]
STAGES: tuple[Stage, ...] = ("request", "reminder", "urging", "escalation", "overdue", "compile", "ack", "digest")


@dataclass(frozen=True)
class Cycle:
    """One task of the plan in one year: its deadline and the days of each stage."""
    task: Task
    year: int
    deadline: dt.date
    request_on: dt.date
    closes_on: dt.date            # compile day: after it nothing more is sent for the task
    escalate_on: dt.date | None
    followups: tuple[tuple[Stage, int, dt.date], ...]  # (stage, seq, day), in date order


@dataclass(frozen=True)
class Action:
    key: str                      # unique per plan, year, task, unit, stage and seq
    stage: Stage
    plan_id: str
    year: int
    task_id: str | None
    unit_id: str | None
    seq: int
    scheduled_on: dt.date         # the day the policy put it on
    deadline: dt.date | None
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    units: tuple[str, ...] = ()   # escalation: the units still missing
    plan_hash: str = ""
    thread: str | None = None     # ack: the Message-ID of the reply it answers
    body: str | None = None       # digest, compile: {"subject", "text", "files"} as JSON, decided now


@dataclass(frozen=True)
class LedgerState:
    """What the ledger remembers, as the rules need it."""
    decided: Mapping[str, dt.date] = field(default_factory=dict)  # action key -> day decided
    reported: Mapping[tuple[str, str, int], dt.date] = field(default_factory=dict)  # (task, unit, year)
    away: frozenset[str] = frozenset()   # units whose contact answered out of office
    bounced: frozenset[str] = frozenset()   # addresses a server said do not exist (5.x.x)


def action_key(plan_id: str, year: int, task_id: str | None = None, unit_id: str | None = None,
               stage: Stage = "request", seq: int = 0) -> str:
    parts = [plan_id, str(year), task_id, unit_id, f"{stage}-{seq}" if seq else stage]
    return "/".join(p for p in parts if p)


def deadline_of(task: Task, year: int) -> dt.date:
    day, month = map(int, task.due.split("/"))
    return dt.date(year, month, day)


def cycle(plan: Plan, cal: BusinessCalendar, task: Task, year: int) -> Cycle:
    """The stage days of `task` in `year`. A send day that is a day off moves to the
    previous working day; the deadline itself keeps its date."""
    pol = plan.policy_for(task)
    d = deadline_of(task, year)
    closes = cal.add_working_days(d, pol.compile_working_days_after)
    follow: list[tuple[Stage, int, dt.date]] = [
        ("reminder", i + 1, cal.add_working_days(d, -r.working_days_before))
        for i, r in enumerate(sorted(pol.reminders, key=lambda r: -r.working_days_before))]
    if pol.urging:
        follow.append(("urging", 0, cal.add_working_days(d, -pol.urging.working_days_before)))
    if pol.overdue:
        n = 1
        while (day := cal.add_working_days(d, n * pol.overdue.every_working_days)) < closes:
            if pol.overdue.limit is not None and n > pol.overdue.limit:
                break
            follow.append(("overdue", n, day))
            n += 1
    return Cycle(
        task=task, year=year, deadline=d,
        request_on=cal.previous_working_day(d - dt.timedelta(days=pol.first_request_days_before)),
        closes_on=closes,
        escalate_on=cal.add_working_days(d, -pol.escalation.working_days_before) if pol.escalation else None,
        followups=tuple(sorted(follow, key=lambda f: f[2])),
    )


def cycles_around(plan: Plan, cal: BusinessCalendar, today: dt.date) -> list[Cycle]:
    """Every cycle whose window (first request to compile day) contains `today`."""
    out = []
    for year in (today.year - 1, today.year, today.year + 1):
        for task in plan.tasks:
            c = cycle(plan, cal, task, year)
            if c.request_on <= today <= c.closes_on:
                out.append(c)
    return out


def compile_day(plan: Plan, cal: BusinessCalendar, year: int) -> dt.date:
    """The yearly report is compiled once every task due that year has closed."""
    return max(cycle(plan, cal, t, year).closes_on for t in plan.tasks)


def _stage_to(stage: Stage, plan: Plan, task: Task, unit: Unit, away: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """To the unit's addresses; the head is copied on the urging letter, and on every
    follow-up once the unit's contact has answered that they are away."""
    pol = plan.policy_for(task)
    head = (unit.head_email,) if unit.head_email else ()
    if stage == "urging" and pol.urging and pol.urging.cc_head or stage != "request" and away:
        return tuple(unit.emails), head
    return tuple(unit.emails), ()


def due_actions(plan: Plan, state: LedgerState, today: dt.date,
                cal: BusinessCalendar | None = None) -> list[Action]:
    """Actions due on `today`, in stage order, none already in `state.decided`.

    Per unit and cycle: the first request from its day on (a unit added late gets it on the
    next run); after it, only the latest follow-up whose day has come and that falls after
    the first request, so a missed day never produces a burst. Nothing for a unit that has
    reported or is exempt; nothing to an address that bounced (a unit left with none gets
    nothing, and is still listed in the escalation). Nothing at all on a day off."""
    cal = cal or BusinessCalendar(plan.calendar)
    if not cal.is_working_day(today):
        return []
    pid, digest = plan.plan.id, plan.digest
    out: list[Action] = []
    for c in cycles_around(plan, cal, today):
        t = c.task
        missing: list[str] = []
        for unit in plan.units_of(t):
            if unit.id in t.exempt or (t.id, unit.id, c.year) in state.reported:
                continue
            missing.append(unit.id)
            if today >= c.closes_on:
                continue
            req_key = action_key(pid, c.year, t.id, unit.id, "request")
            requested = state.decided.get(req_key)
            if requested is None:
                stage, seq, day = "request", 0, c.request_on
            else:
                due = [f for f in c.followups if requested < f[2] <= today]
                if not due:
                    continue
                stage, seq, day = due[-1]
            key = action_key(pid, c.year, t.id, unit.id, stage, seq)
            if key in state.decided:
                continue
            to, cc = _stage_to(stage, plan, t, unit, unit.id in state.away)
            to = tuple(a for a in to if a not in state.bounced)
            if not to:   # every address bounced: writing again is pointless until the plan changes them
                continue
            out.append(Action(key, stage, pid, c.year, t.id, unit.id, seq, day, c.deadline,
                              to, cc, plan_hash=digest))
        esc_key = action_key(pid, c.year, t.id, None, "escalation")
        if (c.escalate_on and missing and c.escalate_on <= today <= c.deadline
                and esc_key not in state.decided):
            out.append(Action(esc_key, "escalation", pid, c.year, t.id, None, 0, c.escalate_on,
                              c.deadline, (plan.signer.email,), units=tuple(missing), plan_hash=digest))
    for year in (today.year - 1, today.year):
        day = compile_day(plan, cal, year)
        key = action_key(pid, year, stage="compile")
        if day <= today and key not in state.decided and day.year >= today.year - 1:
            if today <= cal.add_working_days(day, 20):
                out.append(Action(key, "compile", pid, year, None, None, 0, day, None,
                                  (plan.signer.email,), plan_hash=digest))
    out.sort(key=lambda a: STAGES.index(a.stage))
    return out


STAGE_WORDS: dict[str, str] = {
    "request": "đề nghị báo cáo",
    "reminder": "nhắc báo cáo",
    "urging": "đôn đốc",
    "escalation": "báo cáo lãnh đạo",
    "overdue": "thông báo quá hạn",
    "compile": "tổng hợp báo cáo",
    "ack": "xác nhận đã nhận",
    "digest": "tổng hợp hằng ngày",
}
