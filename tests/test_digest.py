"""The daily digest, `dondoc status` and the alert email, against a real ledger and SMTP server:
fixed bounces and ended absences drop out, overdue units come with whom to call, failed and
missed runs show, stuck and partly refused letters show, two misses mail the secretariat once."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dondoc.digest import digest_actions, problems, recorded_runs
from dondoc.ledger import Ledger
from dondoc.outbox import decide, deliver
from dondoc.render import Templates
from dondoc.runtime import open_runtime
from dondoc.settings import Settings
from models.calendar import BusinessCalendar
from models.loader import parse_plan
from tests.conftest import MINI, ROOT

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = dt.date(2025, 12, 10)        # a Wednesday; the deadline 05/12/2025 has passed
HONG = """  - id: hong
    name: UBND huyện Hỏng Địa Chỉ
    group: huyen
    emails: [{email}]
"""
KHONG = "    emails: [vanthu@khong.example]\n"
CONTACT = KHONG + "    contact: Chị Lan (văn thư)\n    phone: 0261 3544 123\n"
SCHEDULES = "schedules:\n  collect: \"0 10 * * 1-5\"\n"


def plan_text(hong_email: str) -> str:
    return (MINI.replace("tasks:\n", HONG.format(email=hong_email) + "tasks:\n", 1).replace(KHONG, CONTACT)
            + SCHEDULES)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 12, day, hour, minute, second, tzinfo=TZ)


def ran(ledger: Ledger, run_id: str, flow: str, start: dt.datetime, state: str, error: str = "") -> None:
    """A live run as flows.common.recorded writes it, at a time of the test's choosing."""
    rec = start.astimezone(dt.UTC).isoformat(timespec="seconds")
    with ledger.db.conn:
        ledger.db.execute("insert into events (at, kind, key, detail) values (?, 'run-start', ?, ?)",
                          [rec, run_id, json.dumps({"flow": flow, "plans": ["kh-test"], "now": start.isoformat()})])
        ledger.db.execute("insert into events (at, kind, key, detail) values (?, 'run-end', ?, ?)",
                          [rec, run_id, json.dumps({"flow": flow, "state": state, "error": error})])


@pytest.fixture
def season(tmp_path, env, monkeypatch):
    """The requests decided with hong at its old address; then the plan changed it. Bounces,
    absences, a stuck and a partly refused letter, and the runs of three days."""
    plan_file = tmp_path / "units.yaml"
    plan_file.write_text(plan_text("cu@hong.example"), encoding="utf-8")
    monkeypatch.setenv("DONDOC_CONFIG", str(plan_file))
    old = parse_plan(plan_file.read_text(encoding="utf-8"), str(plan_file))
    ledger = Ledger(env["DONDOC_DB"])
    cal = BusinessCalendar(old.calendar)
    decide(old, ledger, cal, dt.date(2025, 11, 5), ("request",))
    rows = {r["unit_id"]: r for r in ledger.outbound("kh-test", "held")}
    assert set(rows) == {"som", "muon", "khong", "hong"}
    assert ledger.bounced(rows["hong"]["message_id"], "cu@hong.example", "5.1.1 cu@hong.example: không có")
    assert ledger.bounced(rows["som"]["message_id"], "vanthu@som.example", "5.1.1 vanthu@som.example: không có")
    with ledger.db.conn:   # as deliver leaves them: muon deferred run after run, khong sent with a refused Cc
        ledger.db.execute("update outbound set status = 'pending', attempts = 4, last_error = ? where key = ?",
                          ["451 4.7.1 thử lại sau", rows["muon"]["key"]])
        ledger.db.execute("update outbound set status = 'sent', last_error = ? where key = ?",
                          ["550 gd@khong.example: không có hộp thư", rows["khong"]["key"]])
    n = ledger.keep_inbound([{"id": f"m{i}", "message_id": f"<m{i}@x>", "sha256": str(i), "raw_path": "",
                              "received_at": "2025-11-10T02:00:00+00:00", "uid": i} for i in (1, 2)], "test", 1, 2)
    assert n == 2
    ledger.update_inbound("m1", status="ooo", kind="ooo", plan_id="kh-test", unit_id="muon", received_on="2025-11-10",
                          subject="Trả lời tự động: vắng mặt", summary="Tôi nghỉ phép đến hết ngày 20/11/2025.")
    ledger.update_inbound("m2", status="ooo", kind="ooo", plan_id="kh-test", unit_id="khong",
                          received_on="2025-11-10", subject="Out of office", summary="Tôi đi công tác đến 30/12.")
    ran(ledger, "e1", "escalate", at(8, 8, 30, 2), "completed")
    ran(ledger, "c1", "collect", at(10, 10, 0, 5), "completed")
    ran(ledger, "r1", "report", at(10, 9, 0, 3), "completed")
    ran(ledger, "d1", "dispatch", at(10, 8, 0, 4), "failed", "máy chủ SMTP 127.0.0.1:25 không trả lời")
    plan_file.write_text(plan_text("moi@hong.example"), encoding="utf-8")   # the clerk fixed hong's address
    return parse_plan(plan_file.read_text(encoding="utf-8"), str(plan_file)), ledger


def text_of(action) -> str:
    return json.loads(action.body)["text"]


def test_the_digest_says_what_is_still_wrong(season):
    plan, ledger = season
    cals = {"kh-test": BusinessCalendar(plan.calendar)}
    digest, *alerts = digest_actions([plan], ledger, cals, TODAY, at(10, 10, 30), attempts=4)
    text = text_of(digest)
    assert "cu@hong.example" not in text                                   # bounce fixed in the plan: dropped
    assert "Báo Sớm — kh-test/2025/bao-cao-nam/som/request: 5.1.1 vanthu@som.example" in text   # not fixed: kept
    assert "Đài Muộn (vắng" not in text                                    # back since 20/11: dropped
    assert "- UBND huyện Không (vắng đến 30/12/2025) — liên hệ: Chị Lan (văn thư), ĐT 0261 3544 123" in text
    assert "- UBND huyện Không — bao-cao-nam (2025, hạn 05/12/2025) — liên hệ: Chị Lan (văn thư), ĐT 0261 3544 123" \
        in text
    assert "- Đài Muộn — bao-cao-nam (2025, hạn 05/12/2025)\n" in text     # no contact in the plan: none shown
    assert "Thư đã thử gửi nhiều lần vẫn chưa được (1):\n- Đài Muộn — kh-test/2025/bao-cao-nam/muon/request" in text
    assert ("Thư đã gửi nhưng có người nhận bị từ chối (1):\n- UBND huyện Không — kh-test/2025/bao-cao-nam/khong/"
            "request: 550 gd@khong.example") in text
    assert ("- Lượt chạy tự động “dispatch” (gửi đề nghị, nhắc báo cáo) của kế hoạch kh-test lúc 08:00 10/12/2025 "
            "bị lỗi: máy chủ SMTP 127.0.0.1:25 không trả lời") in text
    assert ("“escalate” (đôn đốc, báo cáo lãnh đạo, tổng hợp hằng ngày) của kế hoạch kh-test không chạy theo lịch "
            "(30 8 * * 1-5) từ 08:30 09/12/2025, đã lỡ 2 lần") in text
    assert "“collect”" not in text and "“report”" not in text              # those ran on time
    assert [(a.key, a.to, json.loads(a.body)["subject"]) for a in alerts] == [
        ("kh-test/2025-12-09T0830.kh-test.escalate/-/-/digest", ("dondoc@stttt.example",),
         "Cảnh báo: lượt chạy “escalate” của kế hoạch kh-test không chạy theo lịch")]


def test_one_miss_is_no_email_yet(season):
    plan, ledger = season
    actions = digest_actions([plan], ledger, {"kh-test": BusinessCalendar(plan.calendar)}, dt.date(2025, 12, 9),
                             at(9, 9, 45))     # a day earlier: the runs recorded since do not count yet
    assert [a.key for a in actions] == ["kh-test/2025-12-09/-/-/digest"]
    text = text_of(actions[0])
    assert text.count("đã lỡ 1 lần") == 4 and "bị lỗi" not in text


def test_two_misses_mail_the_secretariat_once(season, env, smtp_server):
    plan, ledger = season
    cals = {"kh-test": BusinessCalendar(plan.calendar)}
    settings = Settings()
    for day, now in ((TODAY, at(10, 10, 30)), (TODAY, at(10, 11)), (dt.date(2025, 12, 11), at(11, 10))):
        ledger.record_actions(digest_actions([plan], ledger, cals, day, now), day, "stttt.example")
        asyncio.run(deliver(plan, ledger, cals["kh-test"], Templates(None), settings.smtp(), "dondoc@stttt.example",
                            Path(env["DONDOC_OUT"]), ("digest",), now, accept_new=True))
    subjects = [m["Subject"] for m in smtp_server.accepted]
    assert sorted(subjects[:2]) == [   # one run sends both, over parallel connections: in either order
        "Cảnh báo: lượt chạy “escalate” của kế hoạch kh-test không chạy theo lịch", "Tình hình báo cáo ngày 10/12/2025"]
    assert subjects[2:] == ["Tình hình báo cáo ngày 11/12/2025"]
    assert "đã lỡ 3 lần" in smtp_server.accepted[2].get_body(("plain",)).get_content()   # still in the digest


def test_status_shows_every_problem_on_a_line(season, env):
    plan, ledger = season
    lines = problems([plan], ledger, None, at(10, 10, 30), attempts=4)
    assert [line.split(":")[0] for line in lines] == [
        "Lượt chạy tự động “dispatch” (gửi đề nghị, nhắc báo cáo) của kế hoạch kh-test lúc 08",
        "Lượt chạy tự động “escalate” (đôn đốc, báo cáo lãnh đạo, tổng hợp hằng ngày) của kế hoạch kh-test không "
        "chạy theo lịch (30 8 * * 1-5) từ 08",
        "Thư bị trả lại", "Đã thử 4 lần vẫn chưa gửi được", "Đã gửi nhưng có người nhận bị từ chối",
        "Chờ ký quá 2 ngày làm việc"]
    out = subprocess.run([sys.executable, "-m", "dondoc.cli", "status", "--today", "10/12/2025", "--json"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "DONDOC_SMTP_ATTEMPTS": "4"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["problems"][2:] == lines[2:]
    shown = subprocess.run([sys.executable, "-m", "dondoc.cli", "status", "--today", "10/12/2025"], cwd=ROOT,
                           capture_output=True, text=True).stdout
    assert "! Chờ ký quá 2 ngày làm việc: dự thảo số 1 (kh-test)" in shown and "cu@hong.example" not in shown


def test_a_run_records_its_start_and_its_failure(season, env):
    from flows.common import recorded
    rt = open_runtime(TODAY)

    async def failing():
        async with recorded("dispatch", [rt]):
            raise RuntimeError("máy chủ SMTP không trả lời\nchi tiết kỹ thuật")

    with pytest.raises(RuntimeError):
        asyncio.run(failing())
    last = recorded_runs(rt.ledger)[-1]
    assert (last.flow, last.plans, last.started, last.state, last.error, last.live) == (
        "dispatch", ("kh-test",), rt.now, "failed", "máy chủ SMTP không trả lời", False)   # a replayed day


def test_each_secretariat_gets_the_digest_of_its_own_plans(season):
    plan, ledger = season
    cals = {"kh-test": BusinessCalendar(plan.calendar)}

    def other(secretariat: str):   # a plan with nothing to say, listed first (the default plan)
        p = plan.model_copy(update={"plan": plan.plan.model_copy(update={"id": "kh-khac"}),
                                    "issuer": plan.issuer.model_copy(update={"secretariat_email": secretariat})})
        cals["kh-khac"] = cals["kh-test"]
        return p

    apart = digest_actions([other("vanphong@skhcn.example"), plan], ledger, cals, TODAY, at(10, 10, 30))
    assert [(a.key, a.to) for a in apart if "T" not in a.period] == [
        ("kh-test/2025-12-10/-/-/digest", ("dondoc@stttt.example",))]   # not to the other Sở's office
    assert "KẾ HOẠCH kh-test" in text_of(apart[0])
    shared = digest_actions([other("dondoc@stttt.example"), plan], ledger, cals, TODAY, at(10, 10, 30))
    assert [(a.key, a.to) for a in shared if "T" not in a.period] == [
        ("kh-khac/2025-12-10/-/-/digest", ("dondoc@stttt.example",))]   # one office: one digest, both plans
