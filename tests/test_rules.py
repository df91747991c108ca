"""The rules across a whole cycle, day by day, against a table written by hand."""
from __future__ import annotations

import datetime as dt

from models.loader import parse_plan
from models.rules import LedgerState, due_actions
from tests.conftest import MINI

D = dt.date
BO = """  - id: bo
    name: UBND huyện Bỏ
    group: huyen
    emails: [vanthu@bo.example]
"""
MOI = """  - id: moi
    name: UBND huyện Mới
    group: huyen
    emails: [vanthu@moi.example]
"""


def plan_on(day: dt.date):
    """The plan as the secretariat edits it during the cycle: `bo` is removed on 01/12,
    `moi` is added on 25/11, and `muon` changes its address on 28/11."""
    units = ""
    if day < D(2026, 12, 1):
        units += BO
    if day >= D(2026, 11, 25):
        units += MOI
    text = MINI.replace("tasks:\n", units + "tasks:\n", 1)
    if day >= D(2026, 11, 28):
        text = text.replace("vanthu@muon.example, bientap@muon.example", "vanphong@muon.example")
    return parse_plan(text, "mini.yaml")


REPORTS = {"som": D(2026, 11, 10), "muon": D(2026, 12, 9)}

# What is proposed on each day from 01/11 to 31/12/2026; every other day, nothing.
# Deadline Saturday 05/12; 24/11 is a day off, so 10 working days before is 20/11.
EXPECTED = {
    D(2026, 11, 5): [("request", 0, "som"), ("request", 0, "muon"), ("request", 0, "khong"), ("request", 0, "bo")],
    D(2026, 11, 20): [("reminder", 1, "muon"), ("reminder", 1, "khong"), ("reminder", 1, "bo")],
    D(2026, 11, 25): [("request", 0, "moi")],
    D(2026, 11, 30): [("reminder", 2, "muon"), ("reminder", 2, "khong"), ("reminder", 2, "bo"),
                      ("reminder", 2, "moi")],
    D(2026, 12, 2): [("urging", 0, "muon"), ("urging", 0, "khong"), ("urging", 0, "moi")],
    D(2026, 12, 4): [("escalation", 0, "muon,khong,moi")],
    D(2026, 12, 11): [("overdue", 1, "khong"), ("overdue", 1, "moi")],
    D(2026, 12, 18): [("overdue", 2, "khong"), ("overdue", 2, "moi")],
    D(2026, 12, 25): [("compile", 0, "")],
}


def run_cycle(start=D(2026, 11, 1), end=D(2026, 12, 31)):   # noqa: B008 — dates are immutable
    decided, reported, seen = {}, {}, {}
    day = start
    while day <= end:
        for unit, on in REPORTS.items():
            if on <= day:
                reported[("bao-cao-nam", unit, "2026")] = on
        actions = due_actions(plan_on(day), LedgerState(dict(decided), dict(reported)), day)
        for a in actions:
            decided[a.key] = day
        if actions:
            seen[day] = actions
        day += dt.timedelta(days=1)
    return seen


def test_whole_cycle_matches_the_hand_written_table():
    seen = run_cycle()
    got = {day: [(a.stage, a.seq, a.unit_id or ",".join(a.units)) for a in acts] for day, acts in seen.items()}
    assert got == EXPECTED


def test_recipients_follow_the_plan_as_it_is_that_day():
    seen = run_cycle()
    by = {(a.stage, a.seq, a.unit_id): a for acts in seen.values() for a in acts}
    assert by[("request", 0, "muon")].to == ("vanthu@muon.example", "bientap@muon.example")
    assert by[("reminder", 2, "muon")].to == ("vanphong@muon.example",)        # changed on 28/11
    assert by[("urging", 0, "muon")].cc == ("gd@muon.example",)                # copied to the head
    assert by[("urging", 0, "khong")].cc == ()                                 # no head declared
    esc = by[("escalation", 0, None)]
    assert esc.to == ("pgd@stttt.example",) and esc.deadline == D(2026, 12, 5)
    assert by[("request", 0, "som")].key == "kh-test/2026/bao-cao-nam/som/request"
    assert by[("overdue", 2, "khong")].key == "kh-test/2026/bao-cao-nam/khong/overdue-2"
    assert len({a.plan_hash for a in seen[D(2026, 11, 5)]}) == 1
    assert seen[D(2026, 11, 5)][0].plan_hash != seen[D(2026, 11, 25)][0].plan_hash


def test_a_rerun_the_same_day_proposes_nothing(mini):
    day = D(2026, 11, 5)
    first = due_actions(mini, LedgerState(), day)
    assert len(first) == 3
    assert due_actions(mini, LedgerState({a.key: day for a in first}), day) == []


def test_missed_days_do_not_make_a_burst(mini):
    # The requests went out on 05/11; nothing ran again until 01/12: only the latest
    # follow-up that is due (the 30/11 reminder) is proposed, not the 20/11 one too.
    decided = {a.key: D(2026, 11, 5) for a in due_actions(mini, LedgerState(), D(2026, 11, 5))}
    got = due_actions(mini, LedgerState(decided), D(2026, 12, 1))
    assert [(a.stage, a.seq, a.unit_id) for a in got] == [
        ("reminder", 2, "som"), ("reminder", 2, "muon"), ("reminder", 2, "khong")]


def test_nothing_on_a_day_off_and_a_first_request_moves_to_the_working_day_before(mini):
    text = MINI.replace('due: "05/12"', 'due: "10/03"')   # 30 days before: 08/02/2027, in Tết
    plan = parse_plan(text, "mini.yaml")
    assert due_actions(plan, LedgerState(), D(2027, 2, 8)) == []
    days = [D(2027, 2, 1) + dt.timedelta(days=i) for i in range(20)]
    first = next(d for d in days if due_actions(plan, LedgerState(), d))
    assert first == D(2027, 2, 3)   # Tết 2027 runs from 04/02 to 10/02


def test_nothing_more_to_an_address_that_bounced(mini):
    decided = {a.key: D(2026, 11, 5) for a in due_actions(mini, LedgerState(), D(2026, 11, 5))}
    state = LedgerState(decided, bounced=frozenset({"vanthu@muon.example", "vanthu@khong.example"}))
    got = {a.unit_id: a.to for a in due_actions(mini, state, D(2026, 11, 20))}
    assert got == {"som": ("vanthu@som.example",), "muon": ("bientap@muon.example",)}   # khong has none left
    esc = due_actions(mini, LedgerState(decided, bounced=state.bounced), D(2026, 12, 4))
    assert [a.units for a in esc if a.stage == "escalation"] == [("som", "muon", "khong")]
