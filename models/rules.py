"""The rules: for a plan, what the ledger remembers and a date, what must happen that day.

Pure: `due_actions(plan, state, today)` reads no clock and no file. The flows record what
it returns in the ledger before anything is sent, so a second call with the updated state
proposes nothing that was already decided.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from models.calendar import BusinessCalendar
from models.keys import NONE, Key
from models.period import Period, parse_label, period_of
from models.plan import Plan, Policy, ReportSpec, Task, Unit

Stage = Literal["request", "reminder", "urging", "escalation", "overdue", "compile", "ack", "digest"]
STAGES: tuple[Stage, ...] = ("request", "reminder", "urging", "escalation", "overdue", "compile", "ack", "digest")


@dataclass(frozen=True)
class Cycle:
    """One task of the plan in one period, under one policy: its deadline and the days of each stage."""
    task: Task
    period: Period
    deadline: dt.date
    request_on: dt.date
    closes_on: dt.date            # compile day: after it nothing more is sent for the task
    escalate_on: dt.date | None
    followups: tuple[tuple[Stage, int, dt.date], ...]  # (stage, seq, day), in date order

    def key(self, plan_id: str, unit_id: str | None = None) -> Key:
        return Key(plan_id, self.period.label, self.task.id, unit_id)


@dataclass(frozen=True)
class Action:
    key: str                      # str(Key): unique per plan, period, task, unit, stage and seq
    stage: Stage
    plan_id: str
    period: str                   # the period label: 2026, 2026-H1, 2026-Q3, 2026-10, 2026-10-20
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
    """What the ledger remembers of one plan, as the rules need it."""
    decided: Mapping[str, dt.date] = field(default_factory=dict)  # action key -> day decided
    reported: Mapping[tuple[str, str, str], dt.date] = field(default_factory=dict)  # (task, unit, period)
    away: frozenset[str] = frozenset()   # units whose contact answered out of office
    bounced: frozenset[str] = frozenset()   # addresses a server said do not exist (5.x.x)
    updated: Mapping[tuple[str, str, str], dt.date] = field(default_factory=dict)  # a later report came then
    extended: Mapping[tuple[str, str, str], dt.date] = field(default_factory=dict)  # a unit's new deadline (gia hạn)

    @cached_property
    def asked(self) -> frozenset[tuple[str, str]]:
        """(task, period) of every cycle dondoc asked about (a request decided) or that has a report.
        The keys are read as Key.parse reads them, by splitting (10,000s of keys: no Key objects)."""
        out = {(parts[2], parts[1]) for parts in (k.split("/") for k in self.decided)
               if len(parts) == 5 and parts[4].partition("-")[0] == "request" and parts[2] not in (NONE, "")}
        return frozenset(out | {(t, p) for t, _, p in self.reported})


def action_key(plan_id: str, period: str, task_id: str | None = None, unit_id: str | None = None,
               stage: Stage = "request", seq: int = 0) -> str:
    return str(Key(plan_id, period, task_id, unit_id, stage, seq))


def deadline_for(task: Task, period: str) -> dt.date | None:
    """The deadline of `task` for the period labelled `period`, if the task has one."""
    year = parse_label(period).end.year
    return next((d for p, d in task.due.deadlines(year) if p.label == period), None)


def period_at(plan: Plan, cal: BusinessCalendar, task: Task, day: dt.date) -> str:
    """The period of the cycle of `task` a report received on `day` belongs to: the first
    whose window (first request to compile day) holds the day, else the one whose deadline
    is nearest."""
    cycles = [c for c, _ in task_cycles(plan, cal, task, (day.year - 1, day.year, day.year + 1))]
    inside = [c for c in cycles if c.request_on <= day <= c.closes_on]
    best = inside[0] if inside else min(cycles, key=lambda c: abs((c.deadline - day).days))
    return best.period.label


def cycle(plan: Plan, cal: BusinessCalendar, task: Task, period: Period, deadline: dt.date,
          unit: Unit | None = None) -> Cycle:
    """The stage days of `task` for one deadline, under the policy of `unit` (its group's,
    else the task's or the plan's). A send day that is a day off moves to the previous working
    day; the deadline itself keeps its date. An event's results are asked for no earlier than
    the working day after it ends."""
    pol = plan.policy_for(task, unit)
    d = deadline
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
    request_on = cal.previous_working_day(d - dt.timedelta(days=pol.first_request_days_before))
    if ended := event_end(task, d):
        request_on = max(request_on, cal.add_working_days(ended, 1))
    return Cycle(
        task=task, period=period, deadline=d, request_on=request_on, closes_on=closes,
        escalate_on=cal.add_working_days(d, -pol.escalation.working_days_before) if pol.escalation else None,
        followups=tuple(sorted(follow, key=lambda f: f[2])),
    )


def event_end(task: Task, deadline: dt.date) -> dt.date | None:
    """The last day of the task's event in the cycle that ends at `deadline` (the event's last
    occurrence on or before the deadline), or None for a task with no event."""
    if task.event is None:
        return None
    day, month = map(int, (task.event.end or task.event.start).split("/"))
    for year in (deadline.year, deadline.year - 1):
        try:
            end = dt.date(year, month, day)
        except ValueError:
            continue
        if end <= deadline:
            return end
    return None


def task_cycles(plan: Plan, cal: BusinessCalendar, task: Task, years) -> Iterator[tuple[Cycle, list[Unit]]]:
    """Every cycle of `task` whose deadline falls in `years`, once per policy its units follow,
    with those units (exempt ones included), in date order."""
    by_policy: dict[int, tuple[Unit, list[Unit]]] = {}
    for unit in plan.units_of(task):
        pol = plan.policy_for(task, unit)
        by_policy.setdefault(id(pol), (unit, []))[1].append(unit)
    for year in years:
        for period, deadline in task.due.deadlines(year):
            for first, units in by_policy.values():
                yield cycle(plan, cal, task, period, deadline, first), units


def cycles_around(plan: Plan, cal: BusinessCalendar, today: dt.date) -> list[tuple[Cycle, list[Unit]]]:
    """Every cycle whose window (first request to compile day) contains `today`."""
    years = (today.year - 1, today.year, today.year + 1)
    return [(c, units) for task in plan.tasks for c, units in task_cycles(plan, cal, task, years)
            if c.request_on <= today <= c.closes_on]


def report_periods(plan: Plan, cal: BusinessCalendar, year: int) -> list[tuple[ReportSpec, Period, dt.date]]:
    """Every report the plan compiles for periods that end in `year`: (spec, period, compile
    day). A period with no cycle of its own or within it has no report."""
    out = []
    for spec in plan.reports:
        days: dict[Period, list[dt.date]] = {}
        for task in plan.tasks:
            for c, _ in task_cycles(plan, cal, task, (year,)):
                for p in covering(spec, c.period):
                    n = spec.compile_working_days_after
                    days.setdefault(p, []).append(cal.add_working_days(c.deadline, n) if n else c.closes_on)
        out += [(spec, p, max(d)) for p, d in sorted(days.items())]
    return out


def covering(spec: ReportSpec, period: Period) -> list[Period]:
    """The period of kind `spec` that covers a cycle of `period`: the same period, or the one
    containing it when it is finer (a quarter in its year's report, a one-off day in its
    month's). None when the cycle's period is coarser than the report's."""
    order = ("month", "quarter", "half", "year")
    if period.kind == spec.kind:
        return [period]
    if period.kind == "once" or order.index(period.kind) < order.index(spec.kind):
        return [period_of(spec.kind, period.start)]   # type: ignore[arg-type]
    return []


def compile_day(plan: Plan, cal: BusinessCalendar, period: Period) -> dt.date | None:
    """The day the report of `period` is compiled, or None when the plan compiles none for it."""
    return next((d for _, p, d in report_periods(plan, cal, period.end.year) if p == period), None)


def _stage_to(stage: Stage, pol: Policy, unit: Unit, away: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """To the unit's addresses; the head is copied on the urging letter, and on every
    follow-up once the unit's contact has answered that they are away."""
    head = (unit.head_email,) if unit.head_email else ()
    if stage == "urging" and pol.urging and pol.urging.cc_head or stage != "request" and away:
        return tuple(unit.emails), head
    return tuple(unit.emails), ()


def unit_cycle(plan: Plan, cal: BusinessCalendar, c: Cycle, unit: Unit, state: LedgerState) -> Cycle:
    """The cycle `c` as it stands for one unit: with an extension (gia hạn), its deadline and
    follow-up days are counted from the new deadline; its first request day and its window
    (up to the compile day) stay the cycle's."""
    new = state.extended.get((c.task.id, unit.id, c.period.label))
    if new is None or new == c.deadline:
        return c
    moved = cycle(plan, cal, c.task, c.period, new, unit)
    return Cycle(c.task, c.period, new, c.request_on, c.closes_on, c.escalate_on,
                 tuple(f for f in moved.followups if f[2] < c.closes_on))


def due_actions(plan: Plan, state: LedgerState, today: dt.date,
                cal: BusinessCalendar | None = None) -> list[Action]:
    """Actions due on `today`, in stage order, none already in `state.decided`.

    Per unit and cycle: the first request from its day on, up to the deadline (a unit added
    late gets it on the next run; a cycle whose deadline passed before anyone was asked gets
    none: see `untracked`); after it, only the latest follow-up whose day has come and that
    falls after the first request, so a missed day never produces a burst. Nothing for a unit
    that has reported or is exempt; nothing to an address that bounced (a unit left with none
    gets nothing, and is still listed in the escalation). Nothing at all on a day off."""
    cal = cal or BusinessCalendar(plan.calendar)
    if not cal.is_working_day(today):
        return []
    pid, digest = plan.plan.id, plan.digest
    out: list[Action] = []
    missing: dict[tuple[str, Period], list[str]] = {}     # per task and period, over every policy
    escalate_on: dict[tuple[str, Period], tuple[dt.date, dt.date]] = {}
    for c, units in cycles_around(plan, cal, today):
        t, label = c.task, c.period.label
        if c.escalate_on:
            escalate_on[(t.id, c.period)] = min(escalate_on.get((t.id, c.period), (c.escalate_on, c.deadline)),
                                                 (c.escalate_on, c.deadline))
        for unit in units:
            if unit.id in t.exempt or (t.id, unit.id, label) in state.reported:
                continue
            if state.extended.get((t.id, unit.id, label), c.deadline) <= c.deadline:   # given more time: not missing
                missing.setdefault((t.id, c.period), []).append(unit.id)
            if today >= c.closes_on:
                continue
            base = c.key(pid, unit.id)
            mine = unit_cycle(plan, cal, c, unit, state)
            requested = state.decided.get(str(base.at("request")))
            stage: Stage
            if requested is None:
                if today > mine.deadline:   # too late to ask: the secretariat decides (dondoc plan)
                    continue
                stage, seq, day = "request", 0, c.request_on
            else:
                due = [f for f in mine.followups if requested < f[2] <= today]
                if not due:
                    continue
                stage, seq, day = due[-1]
            key = str(base.at(stage, seq))
            if key in state.decided:
                continue
            pol = plan.policy_for(t, unit)
            to, cc = _stage_to(stage, pol, unit, unit.id in state.away)
            to = tuple(a for a in to if a not in state.bounced)
            if not to:   # every address bounced: writing again is pointless until the plan changes them
                continue
            out.append(Action(key, stage, pid, label, t.id, unit.id, seq, day, mine.deadline, to, cc,
                              plan_hash=digest))
    for (task_id, period), (day, deadline) in escalate_on.items():
        esc_key = action_key(pid, period.label, task_id, None, "escalation")
        units = missing.get((task_id, period))
        if (units and day <= today <= deadline and esc_key not in state.decided
                and (task_id, period.label) in state.asked):
            out.append(Action(esc_key, "escalation", pid, period.label, task_id, None, 0, day,
                              deadline, (plan.escalation_contact.email,), units=tuple(units), plan_hash=digest))
    for year in (today.year - 1, today.year):
        for _, period, day in report_periods(plan, cal, year):
            key = action_key(pid, period.label, stage="compile")
            if (day <= today <= cal.add_working_days(day, 20) and key not in state.decided
                    and tracked(plan, state, period)):
                out.append(Action(key, "compile", pid, period.label, None, None, 0, day, None,
                                  (plan.signer.email,), plan_hash=digest))
    out.sort(key=lambda a: STAGES.index(a.stage))
    return out


def tracked(plan: Plan, state: LedgerState, period: Period) -> bool:
    """Whether dondoc asked about any cycle the report of `period` covers."""
    return any(parse_label(p).start >= period.start and parse_label(p).end <= period.end for _, p in state.asked)


@dataclass(frozen=True)
class Untracked:
    """A cycle whose deadline passed before dondoc asked anyone: the secretariat decides."""
    task_id: str
    period: str
    deadline: dt.date
    units: tuple[str, ...]


def untracked(plan: Plan, state: LedgerState, today: dt.date, cal: BusinessCalendar | None = None) -> list[Untracked]:
    """Open cycles (before their compile day) past their deadline with no request decided for
    some units and no report from them: `dondoc record` their report, or give a new deadline."""
    cal = cal or BusinessCalendar(plan.calendar)
    out = []
    for c, units in cycles_around(plan, cal, today):
        if today <= c.deadline:
            continue
        label = c.period.label
        left = tuple(u.id for u in units if u.id not in c.task.exempt and (c.task.id, u.id, label) not in state.reported
                     and str(c.key(plan.plan.id, u.id).at("request")) not in state.decided
                     and today > state.extended.get((c.task.id, u.id, label), c.deadline))
        if left:
            out.append(Untracked(c.task.id, label, c.deadline, left))
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

# A letter's delivery state (outbound.status), as a clerk reads it.
STATE_WORDS: dict[str, str] = {
    "held": "chờ ký", "pending": "chờ gửi", "sending": "đang gửi", "sent": "đã gửi", "failed": "gửi thất bại",
    "bounced": "bị trả lại", "cancelled": "đã hủy",
}
