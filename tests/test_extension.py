"""A unit given more time (gia hạn): its follow-ups, lateness and the escalation count from
the new deadline; the other units' cycle is unchanged."""
from __future__ import annotations

import datetime as dt

from dondoc.ledger import Ledger
from models.calendar import BusinessCalendar
from models.rules import LedgerState, due_actions, untracked
from models.status import status_rows

D = dt.date
CYCLE = ("bao-cao-nam", "khong", "2026")


def replay(plan, extended):
    """Every day's actions from 01/11 to 31/12/2026, as (day, stage, seq, unit-or-units,
    deadline); the extension is granted on 01/12."""
    decided, out, day, end, granted = {}, [], D(2026, 11, 1), D(2026, 12, 31), D(2026, 12, 1)
    reported = {("bao-cao-nam", "som", "2026"): D(2026, 11, 10)}
    while day <= end:
        state = LedgerState(decided, reported, extended=extended if day >= granted else {})
        for a in due_actions(plan, state, day):
            decided[a.key] = day
            out.append((day, a.stage, a.seq, a.unit_id or ",".join(a.units), a.deadline))
        day += dt.timedelta(days=1)
    return out


def test_follow_ups_count_from_the_new_deadline(mini):
    plain = replay(mini, {})
    moved = replay(mini, {CYCLE: D(2026, 12, 18)})
    khong = [(d, s, n, dl) for d, s, n, u, dl in moved if u == "khong"]
    assert khong == [(D(2026, 11, 5), "request", 0, D(2026, 12, 5)),
                     (D(2026, 11, 20), "reminder", 1, D(2026, 12, 5)),
                     (D(2026, 11, 30), "reminder", 2, D(2026, 12, 5)),
                     (D(2026, 12, 15), "urging", 0, D(2026, 12, 18))]   # no overdue notice before 18/12
    assert ("overdue" in {s for _, s, _, u, _ in plain if u == "khong"})
    # the escalation lists only the units without more time; the others' letters do not change
    assert [u for d, s, _, u, _ in moved if s == "escalation"] == ["muon"]
    def others(xs):
        return [x for x in xs if x[3] != "khong" and x[1] != "escalation"]
    assert others(plain) == others(moved) and len(others(plain)) == 7


def test_status_counts_lateness_from_the_new_deadline(mini):
    cal = BusinessCalendar(mini.calendar)
    decided = {"kh-test/2026/bao-cao-nam/khong/request": D(2026, 11, 5)}
    state = LedgerState(decided, {("bao-cao-nam", "khong", "2026"): D(2026, 12, 16)},
                        extended={CYCLE: D(2026, 12, 18)})
    row = next(r for r in status_rows(mini, state, D(2026, 12, 17), cal=cal) if r.unit_id == "khong")
    assert (row.status, row.deadline, row.extended_from) == ("on_time", D(2026, 12, 18), D(2026, 12, 5))
    open_state = LedgerState(decided, {}, extended={CYCLE: D(2026, 12, 18)})
    rows = {r.unit_id: r.status for r in status_rows(mini, open_state, D(2026, 12, 10), cal=cal)}
    assert rows["khong"] == "not_due" and rows["muon"] == "overdue"
    assert {r.unit_id: r.status for r in status_rows(mini, open_state, D(2026, 12, 21), cal=cal)}["khong"] == "overdue"


def test_an_extension_keeps_an_unasked_unit_off_the_untracked_list_until_its_new_deadline(mini):
    state = LedgerState({}, {}, extended={CYCLE: D(2026, 12, 18)})
    gaps = untracked(mini, state, D(2026, 12, 10))
    assert gaps and "khong" not in gaps[0].units and "muon" in gaps[0].units


def test_the_ledger_keeps_the_latest_extension_and_logs_each(tmp_path):
    led = Ledger(tmp_path / "l.db")
    led.extend("kh-test", "2026", "bao-cao-nam", "khong", D(2026, 12, 10), "chờ số liệu quý IV", "an")
    led.extend("kh-test", "2026", "bao-cao-nam", "khong", D(2026, 12, 18), "xin thêm một tuần", "binh")
    assert led.state("kh-test").extended == {CYCLE: D(2026, 12, 18)}
    assert [e["kind"] for e in led.events("extension")] == ["extension", "extension"]
    assert "binh" in led.events("extension")[-1]["detail"]
    assert led.state("other").extended == {}
