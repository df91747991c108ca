"""A local Maildir as the inbox; what waits in triage is resolved by a person; a paper
report is recorded by hand."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import mailbox
import subprocess
import sys
from email.message import EmailMessage

import pytest

from dondoc.ledger import Ledger
from dondoc.outbox import decide
from dondoc.runtime import open_runtime
from flows.collect import collect
from tests.conftest import ROOT

D = dt.date
PLAN = "hoc-tap-suot-doi"


def dondoc(*args, check=True):
    return subprocess.run([sys.executable, "-m", "dondoc.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, check=check)


@pytest.fixture
def maildir(tmp_path, env, monkeypatch):
    path = tmp_path / "Maildir"
    monkeypatch.setenv("DONDOC_INBOX", f"maildir:{path}")
    monkeypatch.setenv("DONDOC_DATA", str(tmp_path / "data"))
    return mailbox.Maildir(path, create=True)


def deliver(box, sender, subject, body, attachment=None, date="Tue, 01 Dec 2026 09:00:00 +0700"):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Date"] = sender, "dondoc@stttt.daknong.example", subject, date
    m["Message-ID"] = f"<{abs(hash((sender, subject)))}@mail.example>"
    m["Received"] = f"from mx.example by mail.stttt.daknong.example; {date}"
    m.set_content(body)
    if attachment:
        m.add_attachment(b"%PDF-1.4\n%%EOF\n", "application", "pdf", filename=attachment)
    box.add(m)


def test_triage_assign_dismiss_and_a_paper_report(prefect_api, maildir, env, smtp_server):
    rt = open_runtime(D(2026, 11, 5))
    decide(rt.plan, rt.ledger, rt.cal, D(2026, 11, 5), ("request",))
    deliver(maildir, "ai-do@thu-ca-nhan.example", f"Re: [{PLAN}/2026/truyen-thong-bao-chi/bao-dak-nong] V/v báo cáo",
            "Tôi gửi hộ Báo Đắk Nông.", "bao-cao.pdf")
    deliver(maildir, "quang-cao@spam.example", "Khuyến mãi", "Mua ngay.")
    deliver(maildir, "vanthu@ptth.daknong.example", f"Re: [{PLAN}/2026/truyen-thong-bao-chi/dai-ptth] V/v",
            "Đài gửi báo cáo.", "bc-dai.pdf")
    before = {k: maildir.get_bytes(k) for k in maildir.keys()}
    summary = asyncio.run(collect(today=D(2026, 12, 2)))
    assert (summary["kept"], summary["matched"], summary["triage"]) == (3, 1, 2)
    assert len(maildir) == 3 and all(maildir.get_message(k).get_subdir() == "cur" for k in maildir.keys())
    assert {k: maildir.get_bytes(k) for k in maildir.keys()} == before       # marked read by a rename only
    listing = dondoc("triage").stdout
    assert "ai-do@thu-ca-nhan.example" in listing and "Khuyến mãi" in listing
    led = Ledger(env["DONDOC_DB"])
    waiting = {r["from_addr"]: r["rowid"] for r in led.inbound("triage")}
    n = waiting["ai-do@thu-ca-nhan.example"]
    shown = dondoc("triage", "show", str(n)).stdout   # the original is in the day's file: where, and how to get it
    assert "ai-do@thu-ca-nhan.example" in shown and "Tôi gửi hộ Báo Đắk Nông." in shown
    assert "2026-12-02.raw, từ byte" in shown and f"triage show {n} --eml" in shown
    eml = env["DONDOC_DB"].replace("dondoc.db", "thu.eml")
    assert f"Thư gốc: {eml}" in dondoc("triage", "show", str(n), "--eml", eml).stdout
    assert open(eml, "rb").read() in before.values()   # the message as it came, byte for byte
    r = dondoc("triage", "assign", str(n), "--unit", "bao-dak-nong", "--task", "truyen-thong-bao-chi",
               "--reason", "đã gọi điện xác nhận với Báo")
    assert "Báo Đắk Nông" in r.stdout
    r = dondoc("triage", "dismiss", str(waiting["quang-cao@spam.example"]), "--reason", "thư quảng cáo")
    assert "đã bỏ qua" in r.stdout
    assert dondoc("triage").stdout.strip() == "Không có thư nào chờ phân loại."
    assert [e["kind"] for e in led.events() if e["kind"].startswith("triage")] == ["triage-assign", "triage-dismiss"]
    assert "đã gọi điện" in led.events("triage-assign")[0]["detail"]
    report = led.db["reports"].get(f"{PLAN}/2026/truyen-thong-bao-chi/bao-dak-nong")
    assert report["received_on"] == "2026-12-01" and json.loads(report["files"])[0].endswith("bao-cao.pdf")
    # a report on paper, with its scan
    scan = env["DONDOC_DB"].replace("dondoc.db", "scan.pdf")
    open(scan, "wb").write(b"%PDF-1.4\n%%EOF\n")
    r = dondoc("record", "--unit", "cong-ttdt", "--task", "truyen-thong-bao-chi", "--date", "2026-12-04",
               "--file", scan, "--note", "Công văn số 12/CTTĐT")
    assert "Cổng Thông tin điện tử tỉnh Đắk Nông" in r.stdout
    assert dondoc("record", "--unit", "cong-ttdt", "--task", "truyen-thong-bao-chi", "--date", "2026-12-05",
                  check=False).returncode == 1   # a second one is not counted
    assert dondoc("record", "--unit", "khong-co", "--task", "truyen-thong-bao-chi", check=False).returncode != 0
    st = json.loads(dondoc("status", "--json", "--today", "2026-12-10").stdout)
    rows = {(x["task"], x["unit"]): x["status_text"] for x in st["rows"] if x["period"] == "2026"}
    assert rows[("truyen-thong-bao-chi", "bao-dak-nong")] == "đã báo cáo đúng hạn"
    assert rows[("truyen-thong-bao-chi", "cong-ttdt")] == "đã báo cáo đúng hạn"
    assert rows[("truyen-thong-bao-chi", "dai-ptth")] == "đã báo cáo đúng hạn"
