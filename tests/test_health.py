"""Alerts on dondoc's own runs (models/health): pure, the clock a parameter."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from models.health import MAX_COUNT, Alert, Run, Schedule, alerts, schedules

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DISPATCH = Schedule("kh-test", "dispatch", "0 8 * * 1-5", "Asia/Ho_Chi_Minh")   # 04/05/2026 is a Monday


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 5, day, hour, minute, second, tzinfo=TZ)


def run(start: dt.datetime, state: str = "completed", flow: str = "dispatch", error: str = "",
        recorded: dt.datetime | None = None, plans=("kh-test",)) -> Run:
    return Run(f"r{start:%d%H%M}", flow, plans, start, recorded or start, state, error)


def test_the_schedules_serve_runs(mini):
    got = schedules([mini])
    assert [(s.plan_id, s.flow, s.cron, s.timezone) for s in got] == [
        ("kh-test", "dispatch", "0 8 * * 1-5", "Asia/Ho_Chi_Minh"),
        ("kh-test", "collect", "*/15 7-16 * * 1-5", "Asia/Ho_Chi_Minh"),
        ("kh-test", "escalate", "30 8 * * 1-5", "Asia/Ho_Chi_Minh"),
        ("kh-test", "report", "0 9 * * 1-5", "Asia/Ho_Chi_Minh")]


def test_a_second_plan_has_no_collect_of_its_own(mini):
    other = mini.model_copy(update={"plan": mini.plan.model_copy(update={"id": "kh-khac"})})
    assert [(s.plan_id, s.flow) for s in schedules([mini, other])][4:] == [
        ("kh-khac", "dispatch"), ("kh-khac", "escalate"), ("kh-khac", "report")]


@pytest.mark.parametrize("now, expected", [
    (at(5, 8, 59), []),                                         # due 08:00, still within the hour's grace
    (at(5, 9, 0), [("missed", at(5, 8), 1)]),                   # grace over: missed once
    (at(6, 9, 30), [("missed", at(5, 8), 2)]),                  # and again the next day
    (at(11, 9, 0), [("missed", at(5, 8), 5)]),                  # Saturday and Sunday are not due
])
def test_a_schedule_that_did_not_run(now, expected):
    got = alerts([DISPATCH], [run(at(4, 8, 0, 5))], now)
    assert [(a.kind, a.since, a.misses) for a in got] == expected


def test_a_run_seconds_after_its_time_meets_it():
    runs = [run(at(4, 8, 0, 5)), run(at(5, 8, 0, 7))]
    assert alerts([DISPATCH], runs, at(5, 23)) == []


def test_misses_are_counted_up_to_a_bound():
    every = Schedule("kh-test", "collect", "* * * * *", "Asia/Ho_Chi_Minh")
    got = alerts([every], [run(at(4, 8), flow="collect")], at(9, 8))
    assert [(a.kind, a.misses) for a in got] == [("missed", MAX_COUNT)]
    assert f"{MAX_COUNT}+ lần" in got[0].text


def test_the_latest_run_failed_until_one_succeeds():
    failed = run(at(5, 8, 0, 3), "failed", error="máy chủ SMTP không trả lời")
    assert alerts([DISPATCH], [run(at(4, 8)), failed], at(5, 9, 30)) == [
        Alert("failed", DISPATCH, at(5, 8, 0, 3), error="máy chủ SMTP không trả lời")]
    assert alerts([DISPATCH], [run(at(4, 8)), failed, run(at(6, 8))], at(6, 10)) == []


def test_a_run_that_never_ended():
    hung = run(at(5, 8), "running")
    assert alerts([DISPATCH], [hung], at(5, 8, 59)) == []
    assert [(a.kind, a.since) for a in alerts([DISPATCH], [hung], at(5, 9))] == [("unfinished", at(5, 8))]


def test_replayed_runs_neither_meet_nor_miss_a_schedule():
    replayed = run(at(4, 7, 30), recorded=dt.datetime(2026, 9, 1, 10, tzinfo=dt.UTC))
    assert alerts([DISPATCH], [replayed], at(20, 12)) == []                    # no live run: nothing watched
    live = run(at(4, 8, 0, 4))
    got = alerts([DISPATCH], [live, replayed], at(5, 9))
    assert [(a.kind, a.since) for a in got] == [("missed", at(5, 8))]


def test_a_schedule_is_watched_from_the_first_live_run_of_its_plan():
    # collect ran, dispatch never: dispatch is missed from collect's first run on
    got = alerts([DISPATCH], [run(at(4, 10), flow="collect")], at(5, 9))
    assert [(a.kind, a.since, a.misses) for a in got] == [("missed", at(5, 8), 1)]
    # a run of another plan does not start the watch
    assert alerts([DISPATCH], [run(at(4, 10), plans=("kh-khac",))], at(8, 9)) == []


def test_the_alert_line_and_its_key():
    a = Alert("missed", DISPATCH, at(5, 8), 2)
    assert a.text == ("Lượt chạy tự động “dispatch” (gửi đề nghị, nhắc báo cáo) của kế hoạch kh-test không "
                      "chạy theo lịch (0 8 * * 1-5) từ 08:00 05/05/2026, đã lỡ 2 lần: "
                      "kiểm tra `dondoc serve` còn chạy không")
    assert a.key == "kh-test.dispatch.missed.20260505T0800"
    assert Alert("failed", DISPATCH, at(5, 8), error="x").text.endswith("lúc 08:00 05/05/2026 bị lỗi: x")
