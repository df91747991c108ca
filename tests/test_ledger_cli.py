"""The ledger (migrations, recording decisions) and the read-only commands."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from dondoc.ledger import MIGRATIONS, Ledger
from models.rules import due_actions
from tests.conftest import ROOT, SHIPPED

D = dt.date


def dondoc(*args, db, check=True):
    env = {**os.environ, "DONDOC_DB": str(db), "DONDOC_CONFIG": str(SHIPPED)}
    return subprocess.run([sys.executable, "-m", "dondoc.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=check)


def test_migrations_apply_once_and_are_remembered(tmp_path):
    led = Ledger(tmp_path / "l.db")
    assert led.schema_version == len(MIGRATIONS)
    assert {"cycles", "outbound", "inbound", "reports", "events", "migrations"} <= set(led.db.table_names())
    again = Ledger(tmp_path / "l.db")
    assert [r["version"] for r in again.db["migrations"].rows] == list(range(1, len(MIGRATIONS) + 1))


def test_recording_is_idempotent_and_threads_follow_ups(tmp_path, mini):
    led = Ledger(tmp_path / "l.db")
    day = D(2026, 11, 5)
    acts = due_actions(mini, led.state("kh-test"), day)
    assert len(led.record_actions(acts, day, "stttt.example")) == 3
    assert led.record_actions(acts, day, "stttt.example") == []
    rows = led.outbound("kh-test")
    assert [(r["unit_id"], r["stage"], r["status"], r["plan_hash"]) for r in rows] == [
        ("som", "request", "pending", mini.digest), ("muon", "request", "pending", mini.digest),
        ("khong", "request", "pending", mini.digest)]
    assert all(r["message_id"].endswith("@stttt.example>") for r in rows)
    assert led.db["cycles"].count == 3
    later = due_actions(mini, led.state("kh-test"), D(2026, 11, 20))
    led.record_actions(later, D(2026, 11, 20), "stttt.example")
    first = {r["unit_id"]: r["message_id"] for r in rows}
    for r in led.outbound("kh-test"):
        if r["stage"] == "reminder":
            assert r["thread_id"] == first[r["unit_id"]]
    assert [e["kind"] for e in led.events()] == ["decided"] * 6


def test_a_report_stops_the_follow_ups(tmp_path, mini):
    led = Ledger(tmp_path / "l.db")
    led.record_actions(due_actions(mini, led.state("kh-test"), D(2026, 11, 5)), D(2026, 11, 5), "x.example")
    assert led.record_report("kh-test", "2026", "bao-cao-nam", "muon", D(2026, 11, 18), source="paper") == "new"
    assert led.record_report("kh-test", "2026", "bao-cao-nam", "muon", D(2026, 11, 19), source="paper") == "exists"
    units = [a.unit_id for a in due_actions(mini, led.state("kh-test"), D(2026, 11, 20))]
    assert units == ["som", "khong"]


def test_validate_prints_a_summary_without_importing_prefect(tmp_path):
    out = dondoc("validate", "config/units.yaml", "--today", "2026-11-26", db=tmp_path / "l.db").stdout
    assert "config/units.yaml: OK" in out
    assert "26 đơn vị trong 4 nhóm, 6 nhiệm vụ" in out
    assert "nhiệm vụ truyen-thong-bao-chi: 4 đơn vị, 0 miễn; 2026 hạn 05/12/2026" in out
    probe = ("import sys, dondoc.cli as c\n"
             "for cmd in (['validate'], ['plan', '--today', '2026-11-05', '--json'], ['status', '--json']):\n"
             "    c.main(cmd)\n"
             "assert not [m for m in sys.modules if m.startswith('prefect')], 'prefect imported'\n")
    env = {**os.environ, "DONDOC_DB": str(tmp_path / "p.db")}
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, check=True, capture_output=True)


def test_validate_fails_with_positions(tmp_path):
    bad = tmp_path / "units.yaml"
    bad.write_text(SHIPPED.read_text(encoding="utf-8").replace('due: "20/10"', 'due: "31/02"'), encoding="utf-8")
    r = dondoc("validate", str(bad), db=tmp_path / "l.db", check=False)
    assert r.returncode == 1
    line = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if "31/02" in s)
    assert f"{bad}:{line}:10: tasks[4].due: 31/02 không phải ngày có trong mọi năm" in r.stderr
    assert bad.read_text(encoding="utf-8").count("31/02") == 1  # never rewritten


def test_plan_lists_first_requests_until_they_are_recorded(tmp_path, shipped):
    db = tmp_path / "l.db"
    listed = json.loads(dondoc("plan", "--today", "2026-11-05", "--json", db=db).stdout)["actions"]
    assert {a["stage"] for a in listed} == {"request"}
    assert len(listed) == 4 + 13 + 8   # three yearly tasks; Ngày Di sản is asked after 23/11
    assert {a["deadline"] for a in listed} == {"2026-12-05"}
    after = json.loads(dondoc("plan", "--today", "2026-11-25", "--json", db=db).stdout)["actions"]
    assert len([a for a in after if a["task"] == "ngay-di-san"]) == 4   # less its exempt unit
    assert ("ngay-di-san", "trung-tam-cntt") not in {(a["task"], a["unit"]) for a in after}
    led = Ledger(db)
    led.record_actions(due_actions(shipped, led.state(shipped.plan.id), D(2026, 11, 5)), D(2026, 11, 5),
                       "stttt.daknong.example")
    assert json.loads(dondoc("plan", "--today", "2026-11-05", "--json", db=db).stdout)["actions"] == []


def test_status_uses_the_status_words(tmp_path, shipped):
    db = tmp_path / "l.db"
    led = Ledger(db)
    for day in (D(2026, 11, 5), D(2026, 11, 25)):   # Ngày Di sản is asked after the event
        led.record_actions([a for a in due_actions(shipped, led.state(shipped.plan.id), day)
                            if a.stage == "request"], day, "x.example")
    pid = shipped.plan.id
    led.record_report(pid, "2026", "truyen-thong-bao-chi", "bao-dak-nong", D(2026, 12, 1), source="email")
    led.record_report(pid, "2026", "truyen-thong-bao-chi", "dai-ptth", D(2026, 12, 8), source="paper")
    assert led.record_report(pid, "2026", "truyen-thong-bao-chi", "dai-ptth", D(2026, 12, 9), source="paper",
                             replace=True) == "updated"
    st = json.loads(dondoc("status", "--today", "2026-12-10", "--json", db=db).stdout)
    rows = {(r["task"], r["unit"]): r for r in st["rows"] if r["period"] == "2026"}
    assert rows[("truyen-thong-bao-chi", "bao-dak-nong")]["status_text"] == "đã báo cáo đúng hạn"
    assert rows[("truyen-thong-bao-chi", "dai-ptth")]["status_text"] == "đã báo cáo trễ hạn (đã cập nhật 09/12)"
    assert rows[("truyen-thong-bao-chi", "dai-ptth")]["updated_on"] == "2026-12-09"
    assert rows[("truyen-thong-bao-chi", "cong-ttdt")]["status_text"] == "chưa báo cáo – quá hạn"
    assert rows[("ngay-di-san", "trung-tam-cntt")]["status_text"] == "miễn"
    assert rows[("truyen-thong-bao-chi", "cong-ttdt")]["sent"] == [
        {"stage": "request", "on": "2026-11-05", "status": "pending"}]
    early = json.loads(dondoc("status", "--today", "2026-11-10", "--json", db=db).stdout)
    assert {r["status_text"] for r in early["rows"] if r["task"] == "so-nganh-dang-tai"} == {"chưa đến hạn"}
    table = dondoc("status", "--today", "2026-12-10", db=db).stdout
    assert "Báo Đắk Nông" in table and "đã báo cáo đúng hạn" in table
