"""Alerts on dondoc's own runs, the way Healthchecks watches cron jobs (a schedule and a grace
time): a scheduled flow whose latest run failed or never finished, and a schedule that did not
run when due. Pure: the schedules, the recorded runs and `now` come in, alerts come out.

A run counts for a schedule when it is of the schedule's flow and covered the schedule's plan.
Only live runs (run on the real clock, not a day replayed with `--today`) show whether a
schedule ran: a replayed season neither meets nor misses a schedule. A schedule is watched
from the first live run that covered its plan; before any, nothing is missed (a ledger that
no scheduler has run yet).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cronsim import CronSim

from models.plan import Plan

GRACE = dt.timedelta(hours=1)     # a run may come this late (or last this long) before it is missed
LIVE = dt.timedelta(minutes=15)   # a run's clock this close to the ledger's: it ran on the real clock
MAX_COUNT = 99                    # misses are counted up to this many
FLOWS = ("dispatch", "collect", "escalate", "report")
FLOW_WORDS = {"dispatch": "gửi đề nghị, nhắc báo cáo", "collect": "đọc thư trả lời",
              "escalate": "đôn đốc, báo cáo lãnh đạo, tổng hợp hằng ngày", "report": "tổng hợp báo cáo"}


@dataclass(frozen=True)
class Schedule:
    plan_id: str
    flow: str
    cron: str
    timezone: str


def schedules(plans: Sequence[Plan]) -> list[Schedule]:
    """The schedules `dondoc serve` runs: dispatch, escalate and report per plan, and one
    collect for every plan, on the default (first) plan's schedule."""
    out = []
    for i, plan in enumerate(plans):
        for flow in FLOWS:
            if flow != "collect" or i == 0:
                out.append(Schedule(plan.plan.id, flow, getattr(plan.schedules, flow), plan.calendar.timezone))
    return out


@dataclass(frozen=True)
class Run:
    """One flow run as the ledger's event log recorded it."""
    id: str
    flow: str
    plans: tuple[str, ...]
    started: dt.datetime      # the run's own clock (a day replayed with --today: that day)
    recorded: dt.datetime     # when the ledger wrote its start (the real clock)
    state: str = "running"    # running | completed | failed
    error: str = ""

    @property
    def live(self) -> bool:
        return abs(self.started - self.recorded) <= LIVE


@dataclass(frozen=True)
class Alert:
    kind: str                 # failed | unfinished | missed
    schedule: Schedule
    since: dt.datetime        # failed, unfinished: the run's start; missed: the first time missed
    misses: int = 0           # missed: how many times in a row (up to MAX_COUNT)
    error: str = ""

    @property
    def key(self) -> str:
        """Stable for one episode: the same failed run, or the same run of misses."""
        return f"{self.schedule.plan_id}.{self.schedule.flow}.{self.kind}.{self.since:%Y%m%dT%H%M}"

    @property
    def text(self) -> str:
        """One line for a clerk, in Vietnamese."""
        s = self.schedule
        what = f"Lượt chạy tự động “{s.flow}” ({FLOW_WORDS.get(s.flow, s.flow)}) của kế hoạch {s.plan_id}"
        at = f"{self.since:%H:%M %d/%m/%Y}"
        if self.kind == "failed":
            return f"{what} lúc {at} bị lỗi: {self.error or 'không rõ lỗi'}"
        if self.kind == "unfinished":
            return f"{what} bắt đầu lúc {at} nhưng không thấy kết thúc (bị dừng giữa chừng?)"
        times = f"{self.misses}+" if self.misses >= MAX_COUNT else str(self.misses)
        return (f"{what} không chạy theo lịch ({s.cron}) từ {at}, đã lỡ {times} lần: "
                "kiểm tra `dondoc serve` còn chạy không")


def _missed(s: Schedule, since: dt.datetime, now: dt.datetime, grace: dt.timedelta) -> tuple[dt.datetime, int] | None:
    """The first fire time of `s` after `since` whose grace has run out by `now`, and how many
    such fire times there are (up to MAX_COUNT); None when there is none."""
    tz = ZoneInfo(s.timezone)
    first, n = None, 0
    for fire in CronSim(s.cron, since.astimezone(tz).replace(second=0, microsecond=0)):
        if fire <= since:
            continue
        if fire + grace > now or n >= MAX_COUNT:
            break
        first, n = first or fire, n + 1
    return (first, n) if first else None


def alerts(scheds: Sequence[Schedule], runs: Sequence[Run], now: dt.datetime,
           grace: dt.timedelta = GRACE) -> list[Alert]:
    """What is wrong with each schedule at `now` (aware): its latest run failed, or started
    more than `grace` ago and never ended; or it did not run (live) for a time due more than
    `grace` before `now`. `runs` in the order they were recorded; those started after `now`
    (a day looked at again later) do not count."""
    runs = [r for r in runs if r.started <= now]
    out = []
    for s in scheds:
        mine = [r for r in runs if r.flow == s.flow and s.plan_id in r.plans]
        if mine:
            last = mine[-1]
            if last.state == "failed":
                out.append(Alert("failed", s, last.started, error=last.error))
            elif last.state == "running" and last.started + grace <= now:
                out.append(Alert("unfinished", s, last.started))
        live = [r for r in mine if r.live]
        watched = [r for r in runs if r.live and s.plan_id in r.plans]
        since = live[-1].started if live else watched[0].started if watched else None
        if since is not None and (miss := _missed(s, since, now, grace)):
            out.append(Alert("missed", s, miss[0], miss[1]))
    return out
