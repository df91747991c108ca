"""Plans and periods: schedules of every kind, period keys, the migration from year keys,
several plans side by side, renames, the first run after setting up, the new plan fields."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from dondoc.ledger import MIGRATIONS, Ledger
from models.calendar import BusinessCalendar
from models.inbound import match_reply
from models.keys import Key
from models.loader import PlanInvalid, parse_plan
from models.mailparse import parse_reply
from models.period import parse_label, period_of, title_for, with_period
from models.renames import held_back, orphans
from models.report import compile_report, vn_number
from models.rules import LedgerState, due_actions, report_periods, task_cycles, untracked
from tests.conftest import MINI, ROOT

D = dt.date
DATA = ROOT / "tests" / "data"


def plan_with(due: str, extra: str = "") -> object:
    return parse_plan(MINI.replace('due: "05/12"', f"due: {due}") + extra, "mini.yaml")


@pytest.mark.parametrize("due, year, expected", [
    ('"05/12"', 2026, [("2026", D(2026, 12, 5))]),
    ('["15/06", "15/12"]', 2026, [("2026-H1", D(2026, 6, 15)), ("2026-H2", D(2026, 12, 15))]),
    ("{every: quarter, day: 20}", 2026, [("2026-Q1", D(2026, 3, 20)), ("2026-Q2", D(2026, 6, 20)),
                                         ("2026-Q3", D(2026, 9, 20)), ("2026-Q4", D(2026, 12, 20))]),
    ("{every: month, day: 31}", 2027, [(f"2027-{m:02d}", d) for m, d in enumerate(
        [D(2027, m, 28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31) for m in range(1, 13)], 1)]),
    ("{every: half-year, day: 15, month: 1}", 2026, [("2026-H1", D(2026, 1, 15)), ("2026-H2", D(2026, 7, 15))]),
    ('"20/10/2026"', 2026, [("2026-10-20", D(2026, 10, 20))]),
    ('"20/10/2026"', 2027, []),
])
def test_each_schedule_kind_gives_its_periods(due, year, expected):
    task = plan_with(due).tasks[0]
    assert [(p.label, d) for p, d in task.due.deadlines(year)] == expected


@pytest.mark.parametrize("due, message", [
    ('"31/02"', "31/02 không phải ngày có trong mọi năm"),
    ('["15/06", "20/06"]', "mỗi ngày phải thuộc một nửa năm khác nhau"),
    ('["15/06", "15/09", "15/12"]', "2 (nửa năm), 4 (quý) hoặc 12 (tháng)"),
    ("{every: week, day: 2}", "every: một trong year, half-year, quarter, month"),
    ("{every: quarter, day: 40}", "day: ngày trong tháng, từ 1 đến 31"),
    ("{every: quarter, day: 20, month: 4}", "month: tháng thứ mấy của kỳ, từ 1 đến 3"),
    ('"31/02/2026"', "31/02/2026 không phải ngày có thật"),
])
def test_a_bad_schedule_is_a_located_error(due, message):
    with pytest.raises(PlanInvalid) as e:
        plan_with(due)
    err = e.value.errors[0]
    assert err.field == "tasks[0].due" and message in err.message
    assert err.line == MINI.splitlines().index('    due: "05/12"') + 1


def test_period_labels_round_trip_and_read_in_vietnamese():
    for label, text in [("2026", "năm 2026"), ("2026-H1", "6 tháng đầu năm 2026"), ("2026-H2", "6 tháng cuối năm 2026"),
                        ("2026-Q3", "quý III năm 2026"), ("2026-10", "tháng 10 năm 2026"),
                        ("2026-10-20", "đợt ngày 20/10/2026")]:
        assert parse_label(label).label == label and parse_label(label).text == text
    assert period_of("quarter", D(2026, 12, 20)).end == D(2026, 12, 31)
    for bad in ("2026-Q5", "2026-13", "26", "2026-H3"):
        with pytest.raises(ValueError):
            parse_label(bad)


def test_year_and_period_replaced_never_doubled():
    q3 = parse_label("2026-Q3")
    assert with_period("báo cáo {period} ({year})", q3) == "báo cáo quý III năm 2026 (2026)"
    year = parse_label("2026")
    assert title_for("Kế hoạch truyền thông năm 2026", year) == "Kế hoạch truyền thông năm 2026"
    assert title_for("Kế hoạch truyền thông", year) == "Kế hoạch truyền thông năm 2026"
    assert title_for("Kế hoạch truyền thông năm {year}", year) == "Kế hoạch truyền thông năm 2026"


def test_one_key_builds_and_parses():
    for key in (Key("kh", "2026-Q3", "t", "u", "reminder", 2), Key("kh", "2026", "t", None, "escalation"),
                Key("kh", "2026", stage="compile"), Key("kh", "2026-H1", "t", "u")):
        assert Key.parse(str(key)) == key
    assert str(Key("kh", "2026", stage="compile")) == "kh/2026/-/-/compile"
    assert Key.parse("kh/2026/t/u/overdue-2").cycle == Key("kh", "2026", "t", "u")
    for bad in ("kh/2026", "kh/2026/t/u/x/y", "kh//t/u", "kh/2026/t/u/overdue-x"):
        with pytest.raises(ValueError):
            Key.parse(bad)


def test_a_q4_deadline_crosses_the_year_and_a_monthly_one_keeps_its_holiday():
    plan = plan_with("{every: quarter, day: 20}")
    cal = BusinessCalendar(plan.calendar)
    q4 = [c for c, _ in task_cycles(plan, cal, plan.tasks[0], (2026,)) if c.period.label == "2026-Q4"][0]
    assert q4.deadline == D(2026, 12, 20) and q4.closes_on.year == 2027       # compiled in January
    state = LedgerState({str(Key("kh-test", "2026-Q4", "bao-cao-nam", "khong", "request")): D(2026, 11, 20)})
    stage, seq, day = q4.followups[-1]
    assert stage == "overdue" and day.year == 2027
    jan = due_actions(plan, state, day, cal)
    assert [(a.stage, a.seq, a.period) for a in jan if a.unit_id == "khong"] == [("overdue", seq, "2026-Q4")]
    monthly = plan_with("{every: month, day: 17}")              # 17/02/2026 is the first day of Tết
    feb = [c for c, _ in task_cycles(monthly, cal, monthly.tasks[0], (2026,)) if c.period.label == "2026-02"][0]
    assert feb.deadline == D(2026, 2, 17) and not cal.is_working_day(feb.deadline)
    assert feb.request_on == cal.previous_working_day(D(2026, 2, 17) - dt.timedelta(days=30))
    assert cal.is_working_day(feb.request_on)


def test_an_event_is_asked_about_after_it_ends(shipped):
    cal = BusinessCalendar(shipped.calendar)
    di_san = next(c for c, _ in task_cycles(shipped, cal, shipped.task("ngay-di-san"), (2026,)))
    assert di_san.request_on == D(2026, 11, 25)        # 23/11 event, 24/11 a day off since 2026
    week = next(c for c, _ in task_cycles(shipped, cal, shipped.task("tuan-le-hoc-tap"), (2026,)))
    assert week.request_on == D(2026, 10, 8)           # the week ends 07/10


def test_the_first_run_after_setting_up_never_asks_after_a_deadline(shipped):
    # Installed on 02/11: the learning week's reports were due 20/10.
    got = due_actions(shipped, LedgerState(), D(2026, 11, 2))
    assert "tuan-le-hoc-tap" not in {a.task_id for a in got}
    gaps = untracked(shipped, LedgerState(), D(2026, 11, 2))
    assert [(g.task_id, g.period, g.deadline, len(g.units)) for g in gaps] == [
        ("tuan-le-hoc-tap", "2026", D(2026, 10, 20), 12)]


SECOND = ROOT / "config" / "plans" / "binh-dan-hoc-vu-so.yaml"


def test_the_second_plan_says_what_the_schema_could_not(shipped):
    from dondoc.plans import read_plan
    plan = read_plan(SECOND)
    assert plan.signer.authority is None and plan.signer.title == "GIÁM ĐỐC"
    assert plan.escalation_contact.email == "lvtung@skhcn.lamnguyen.example"
    xa, so = plan.unit("xa-ea-lam"), plan.unit("so-gddt")
    task = plan.task("ngay-chuyen-doi-so")
    assert plan.policy_for(task, xa).first_request_days_before == 15
    assert plan.policy_for(task, so).first_request_days_before == 20
    cal = BusinessCalendar(plan.calendar)
    assert [p.label for _, p, _ in report_periods(plan, cal, 2026)] == [
        "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-H1", "2026-H2", "2026"]
    # escalations go to escalate_to, not to the signer
    state = LedgerState({str(Key(plan.plan.id, "2026-Q2", "xa-phuong-quy", "xa-ea-lam", "request")): D(2026, 6, 5)})
    esc = [a for a in due_actions(plan, state, D(2026, 6, 19), cal) if a.stage == "escalation"]
    assert [a.to for a in esc] == [("lvtung@skhcn.lamnguyen.example",)]


def test_percent_and_decimal_indicators_are_never_summed_as_counts():
    text = MINI.replace('  - {id: tin-bai, name: "Tin, bài", unit: "tin, bài"}',
                        '  - {id: tin-bai, name: "Tin, bài", unit: "tin, bài"}\n'
                        '  - {id: ty-le, name: "Tỷ lệ", unit: "%", kind: percent}\n'
                        '  - {id: gio, name: "Giờ phát sóng", unit: giờ, kind: decimal}')
    plan = parse_plan(text.replace("indicators: [tin-bai]", "indicators: [tin-bai, ty-le, gio]"), "m.yaml")
    req = {str(Key("kh-test", "2026", "bao-cao-nam", u, "request")): D(2026, 11, 5) for u in ("som", "muon", "khong")}
    reports = [{"task_id": "bao-cao-nam", "unit_id": u, "period": "2026", "indicators": json.dumps(v), "files": "[]",
                "note": ""} for u, v in (("som", {"tin-bai": 1200, "ty-le": 87.5, "gio": 12.5}),
                                         ("muon", {"tin-bai": 34, "ty-le": 60, "gio": 3.25}))]
    state = LedgerState(req, {("bao-cao-nam", "som", "2026"): D(2026, 12, 1),
                              ("bao-cao-nam", "muon", "2026"): D(2026, 12, 1)})
    data = compile_report(plan, state, reports, D(2026, 12, 25), parse_label("2026"))
    totals = {t["name"]: t["total"] for t in data.totals}
    assert totals == {"Tin, bài": "1.234", "Tỷ lệ": "trung bình 73,8% (thấp nhất 60%, cao nhất 87,5%)",
                      "Giờ phát sóng": "15,75"}
    assert vn_number(1234567) == "1.234.567" and vn_number(87.5) == "87,5"


def test_the_migration_keeps_the_history_of_a_year_ledger(tmp_path, shipped):
    db = tmp_path / "old.db"
    shutil.copy(DATA / "ledger-v4.db", db)      # written by the code of schema 4 (year keys)
    with sqlite3.connect(db) as conn:
        before = {r[0] for r in conn.execute("select key from outbound")}
    led = Ledger(db)
    assert led.schema_version == len(MIGRATIONS)   # every migration, in order
    keys = [r["key"] for r in led.outbound(shipped.plan.id)]
    assert len(keys) == len(before) and all(Key.parse(k) for k in keys)
    assert "hoc-tap-suot-doi/2026/-/-/compile" in keys
    assert "hoc-tap-suot-doi/2026/ngay-di-san/-/escalation" in keys
    assert "hoc-tap-suot-doi/2026-12-04/-/-/digest" in keys
    assert {r["period"] for r in led.db.query("select period from reports")} == {"2026"}
    state = led.state(shipped.plan.id)
    assert state.reported[("truyen-thong-bao-chi", "bao-dak-nong", "2026")] == D(2026, 11, 18)
    # nothing already decided is proposed again, and the units that reported are not asked
    again = due_actions(shipped, state, D(2026, 12, 4))
    assert not [a for a in again if a.stage in ("request", "escalation")]
    assert ("bao-dak-nong", "truyen-thong-bao-chi") not in {(a.unit_id, a.task_id) for a in
                                                            due_actions(shipped, state, D(2026, 12, 11))}
    led.thread_of("hoc-tap-suot-doi/2026/huyen-tuyen-truyen/ubnd-dak-mil/urging")   # keys still parse


def test_collect_routes_each_reply_to_its_own_plan(shipped):
    from dondoc.plans import read_plan
    second = read_plan(SECOND)
    plans = {shipped.plan.id: shipped, second.plan.id: second}
    sent = {"<a@x>": Key(second.plan.id, "2026-Q3", "xa-phuong-quy", "xa-ea-lam")}

    def reply(sender, subject, refs=""):
        raw = (f"From: {sender}\r\nTo: dondoc@x\r\nSubject: {subject}\r\nMessage-ID: <r{len(subject)}@y>\r\n"
               + (f"In-Reply-To: {refs}\r\n" if refs else "") + "\r\nBáo cáo.\r\n").encode()
        return parse_reply(raw)
    m = match_reply(reply("vanthu@ealam.lamnguyen.example", "Re: báo cáo", "<a@x>"), plans, sent)
    assert (m.status, m.plan_id, m.period, m.unit_id) == ("matched", second.plan.id, "2026-Q3", "xa-ea-lam")
    m = match_reply(reply("vanthu@ealam.lamnguyen.example", "Re: [binh-dan-hoc-vu-so/2026-Q4/xa-phuong-quy/xa-ea-lam]"),
                    plans, sent)
    assert (m.status, m.plan_id, m.period) == ("matched", second.plan.id, "2026-Q4")
    m = match_reply(reply("vanthu@baodaknong.example", "Re: [hoc-tap-suot-doi/2026/truyen-thong-bao-chi/bao-dak-nong]"),
                    plans, sent)
    assert (m.status, m.plan_id, m.period) == ("matched", shipped.plan.id, "2026")
    m = match_reply(reply("vanthu@baodaknong.example", "Re: [ke-hoach-cu/2026/t/bao-dak-nong]"), plans, sent)
    assert m.status == "triage" and "mã kế hoạch 'ke-hoach-cu' không có trong tệp kế hoạch nào" in m.reason


def cli(*args, env, check=True):
    return subprocess.run([sys.executable, "-m", "dondoc.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=check)


def test_a_renamed_task_is_never_silent_and_asks_nobody_twice(tmp_path, shipped):
    conf = tmp_path / "units.yaml"
    conf.write_text(MINI, encoding="utf-8")
    env = {**os.environ, "DONDOC_CONFIG": str(conf), "DONDOC_DB": str(tmp_path / "l.db")}
    plan = parse_plan(MINI)
    led = Ledger(tmp_path / "l.db")
    led.record_actions(due_actions(plan, led.state("kh-test"), D(2026, 11, 5)), D(2026, 11, 5), "x.example")
    led.record_report("kh-test", "2026", "bao-cao-nam", "som", D(2026, 11, 10), source="paper")
    conf.write_text(MINI.replace("id: bao-cao-nam", "id: bao-cao-ket-qua"), encoding="utf-8")
    r = cli("validate", env=env)
    line = MINI.splitlines().index("  - id: bao-cao-nam") + 1
    assert r.returncode == 0
    assert (f"{conf}:{line}:5: tasks: sổ cái có 3 chu kỳ của nhiệm vụ 'bao-cao-nam', kế hoạch không còn định nghĩa"
            in r.stderr)
    # until the rename is declared, the renamed task asks nobody
    planned = json.loads(cli("plan", "--today", "2026-11-20", "--json", env=env).stdout)["actions"]
    assert planned and {a["task"] for a in planned} == {"bao-cao-ket-qua"}   # dondoc plan shows; dispatch holds
    renamed = parse_plan(conf.read_text(encoding="utf-8"))
    assert held_back(renamed, orphans([renamed], led.history())) == {"bao-cao-ket-qua"}
    out = cli("plan", "rename-task", "bao-cao-nam", "bao-cao-ket-qua", "--plan", "kh-test", env=env).stdout
    assert "Đã chuyển" in out
    assert cli("validate", env=env).stderr == ""
    state = Ledger(tmp_path / "l.db").state("kh-test")
    assert ("bao-cao-ket-qua", "som", "2026") in state.reported
    got = due_actions(renamed, state, D(2026, 11, 20))
    assert [(a.stage, a.unit_id) for a in got] == [("reminder", "muon"), ("reminder", "khong")]   # som reported


def test_validate_checks_every_plan_file_and_their_ids(tmp_path):
    conf = tmp_path / "units.yaml"
    conf.write_text(MINI, encoding="utf-8")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "b.yaml").write_text(MINI, encoding="utf-8")
    env = {**os.environ, "DONDOC_CONFIG": str(conf), "DONDOC_DB": str(tmp_path / "l.db")}
    r = cli("validate", env=env, check=False)
    line = MINI.splitlines().index("  id: kh-test") + 1
    assert r.returncode == 1
    assert f"{tmp_path / 'plans' / 'b.yaml'}:{line}:3: plan.id: mã kế hoạch 'kh-test' đã dùng trong {conf}" in r.stderr
    (tmp_path / "plans" / "b.yaml").write_text(MINI.replace("id: kh-test", "id: kh-b"), encoding="utf-8")
    r = cli("validate", env=env)
    assert f"{conf}: OK (kh-test" in r.stdout and "b.yaml: OK (kh-b" in r.stdout
    r = cli("status", "--plan", "kh-nope", env=env, check=False)
    assert r.returncode == 1 and "không có kế hoạch kh-nope" in r.stderr


def test_a_letter_of_the_second_plan_names_its_period_and_its_signer_as_written():
    import io

    from docx import Document

    from dondoc.ledger import action_row
    from dondoc.letters import document_context, unit_mail
    from dondoc.plans import read_plan
    from dondoc.render import Templates
    plan = read_plan(SECOND)
    cal = BusinessCalendar(plan.calendar)
    act = next(a for a in due_actions(plan, LedgerState(), D(2026, 9, 7), cal) if a.unit_id == "xa-ea-lam")
    assert (act.stage, act.period, act.deadline) == ("request", "2026-Q3", D(2026, 9, 20))   # a Sunday: kept
    row = action_row(act, D(2026, 9, 7), "<t.request@skhcn.lamnguyen.example>", None)
    templates = Templates()
    docx = templates.docx("request").render(document_context(plan, "request", D(2026, 9, 7), [row], cal))
    letter = unit_mail(plan, [row], templates, cal, plan.issuer.email, dt.datetime(2026, 9, 7, 8, tzinfo=cal.tz))
    text = "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)
    cells = "\n".join(c.text for t in Document(io.BytesIO(docx)).tables for r in t.rows for c in r.cells)
    assert "quý III năm 2026" in text and "{period}" not in text + cells and "None" not in text + cells
    assert "KT." not in cells and "GIÁM ĐỐC" in cells and "Trần Thị Minh Hằng" in cells
    import email
    import email.policy
    subject = email.message_from_bytes(letter.data, policy=email.policy.default)["Subject"]
    assert subject.startswith("[binh-dan-hoc-vu-so/2026-Q3/xa-phuong-quy/xa-ea-lam] V/v báo cáo kết quả")
    assert subject.endswith("quý III năm 2026")
