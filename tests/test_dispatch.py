"""Dispatch against a real SMTP server (aiosmtpd) and a real Prefect API (test harness)."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import subprocess
import sys
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from docx import Document

from dondoc.ledger import Ledger
from dondoc.ndformat import check
from dondoc.outbox import deliver
from dondoc.smtp import DeliveryError, RunIncomplete
from flows.dispatch import dispatch
from tests.conftest import ROOT, free_port, issue_drafts, killed_while_held

D = dt.date
PLAN_ID = "hoc-tap-suot-doi"
DAY1, REMIND = D(2026, 11, 5), D(2026, 11, 20)


def key(msg) -> str:
    return "".join(str(msg["X-Dondoc-Key"]).split())


def docx_of(msg, n=0):
    parts = [p for p in msg.iter_attachments() if p.get_filename().endswith(".docx")]
    return Document(io.BytesIO(parts[n].get_content())), parts[n].get_filename()


def text_of(doc) -> str:
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def outbound(env):
    """The ledger's letters to units (not the drafts to the secretariat), by key."""
    return {r["key"]: r for r in Ledger(env["DONDOC_DB"]).outbound(PLAN_ID) if r["unit_id"]}


SECRETARIAT = "ttbcxb@stttt.daknong.example"


def units_got(smtp_server) -> list:
    return [m for m in smtp_server.accepted if SECRETARIAT not in str(m["To"])]


def issued_day(env) -> None:
    """The first dispatch of DAY1 drafted the one request; the văn thư issues it."""
    assert issue_drafts(env, DAY1) == [1]


def drafted_and_issued(env, smtp_server) -> None:
    """DAY1's draft made, mailed to the secretariat and issued: the next dispatch sends to units."""
    assert asyncio.run(dispatch.fn(today=DAY1))["sent"] == 1
    issued_day(env)
    smtp_server.accepted.clear()
    smtp_server.raw.clear()
    smtp_server.data_seen = 0


def test_a_dispatch_day_of_the_seed_plan(prefect_api, env, smtp_server, tmp_path, shipped):
    summary = asyncio.run(dispatch(today=DAY1))
    # one công văn for the 25 units: its draft goes to the secretariat, nothing to any unit yet
    assert summary["decided"] == 25 and summary["sent"] == 1 and summary["failed"] == 0
    assert units_got(smtp_server) == [] and len(smtp_server.to(SECRETARIAT)) == 1
    assert {r["status"] for r in outbound(env).values()} == {"held"}
    draft = tmp_path / "out" / PLAN_ID / DAY1.isoformat() / "request-1" / "du-thao-request-1.docx"
    text = text_of(Document(draft))
    for must in ("Kính gửi:", "trước ngày 05/12/2026", "Hoàng Mạnh Thắng", "KT. GIÁM ĐỐC", "tháng 11 năm 2026",
                 "Số:", "/STTTT-TTBCXB", "Kế hoạch số 169/KH-UBND"):
        assert must in text, must
    assert check(draft) == []

    issued_day(env)
    summary = asyncio.run(dispatch(today=DAY1))
    assert (summary["decided"], summary["sent"], summary["failed"]) == (0, 25, 0)
    rows = outbound(env)
    assert {r["status"] for r in rows.values()} == {"sent"}
    # every (unit, task) got exactly one message; nothing else was sent
    keys = [key(m) for m in units_got(smtp_server)]
    assert sorted(keys) == sorted(rows) and len(set(keys)) == 25
    msg = next(m for m in smtp_server.accepted
               if key(m) == f"{PLAN_ID}/2026/truyen-thong-bao-chi/bao-dak-nong/request")
    row = rows[msg["X-Dondoc-Key"]]
    assert msg["Message-ID"] == row["message_id"]
    assert msg["Reply-To"].addresses[0].addr_spec == "dondoc@stttt.daknong.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["vanthu@baodaknong.example"]
    assert msg["To"].addresses[0].display_name == "Báo Đắk Nông"
    assert msg["Subject"] == (f"[{PLAN_ID}/2026/truyen-thong-bao-chi/bao-dak-nong] V/v báo cáo kết quả "
                              "truyền thông về học tập suốt đời năm 2026")
    raw = smtp_server.raw[smtp_server.accepted.index(msg)]
    raw_subject = next(line for line in raw.split(b"\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in raw_subject.lower()                       # RFC 2047
    assert b"filename*=utf-8''" in raw.lower()                       # RFC 2231
    assert "In-Reply-To" not in msg
    pdf = next(p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf")
    assert pdf.get_filename() == "Công văn 1-STTTT-TTBCXB đề nghị báo cáo.pdf"
    doc = Ledger(env["DONDOC_DB"]).document(1)
    assert pdf.get_content() == Path(doc["pdf_path"]).read_bytes()   # the issued file, byte for byte
    body = msg.get_body(("plain",)).get_content()
    assert "Văn bản số 1/STTTT-TTBCXB" in body and "trước ngày 05/12/2026" in body
    form, form_name = docx_of(msg)
    assert form_name == "Phiếu số liệu - truyen-thong-bao-chi - Báo Đắk Nông.docx"
    assert "Tin, bài, ảnh đã đăng, phát [tin-bai]" in text_of(form)

    # the reminders of 20/11 (notice mode: a plain email, no công văn) thread to the first request
    smtp_server.accepted.clear()
    summary = asyncio.run(dispatch(today=REMIND))
    assert summary["sent"] == 25 and smtp_server.to(SECRETARIAT) == []
    reminder = next(m for m in smtp_server.accepted
                    if key(m) == f"{PLAN_ID}/2026/truyen-thong-bao-chi/bao-dak-nong/reminder-1")
    assert reminder["In-Reply-To"] == reminder["References"] == row["message_id"]
    assert reminder["Subject"].endswith("V/v nhắc báo cáo kết quả truyền thông về học tập suốt đời năm 2026")
    assert list(reminder.iter_attachments()) == []
    rtext = reminder.get_body(("plain",)).get_content()
    assert "Văn bản số 1/STTTT-TTBCXB ngày 05/11/2026" in rtext and "còn 10 ngày làm việc" in rtext
    per_unit = {}
    for m in smtp_server.accepted:
        per_unit.setdefault(key(m).rsplit("/", 1)[0], []).append(m)
    assert all(len(v) == 1 for v in per_unit.values()) and len(per_unit) == 25
    assert asyncio.run(dispatch(today=REMIND))["sent"] == 0     # a rerun sends nothing


def test_a_451_is_retried_and_sent_once(prefect_api, env, smtp_server):
    drafted_and_issued(env, smtp_server)
    smtp_server.busy_once = {"vanthu@baodaknong.example"}
    summary = asyncio.run(dispatch(today=DAY1))
    assert summary["sent"] == 25 and summary["failed"] == 0
    assert len(smtp_server.to("vanthu@baodaknong.example")) == 1     # its one letter, once
    assert smtp_server.busy_once == set()                            # the 451 was really given


def test_a_550_fails_that_message_only_and_shows_in_status(prefect_api, env, smtp_server):
    drafted_and_issued(env, smtp_server)
    smtp_server.refuse = {"vanthu@ptth.daknong.example": "550 5.1.1 <vanthu@ptth.daknong.example>: no such user"}
    with pytest.raises(RunIncomplete, match="resend --failed") as run:    # the run fails, visibly
        asyncio.run(dispatch(today=DAY1))
    summary = run.value.summary
    assert (summary["sent"], summary["failed"]) == (24, 1)          # Đài PT-TH's one letter that day
    rows = outbound(env)
    failed = {k: r for k, r in rows.items() if r["status"] == "failed"}
    assert {r["unit_id"] for r in failed.values()} == {"dai-ptth"}
    assert all("550 5.1.1" in r["last_error"] and "no such user" in r["last_error"] for r in failed.values())
    st = subprocess.run([sys.executable, "-m", "dondoc.cli", "status", "--json", "--today", "2026-11-05"],
                        capture_output=True, text=True, check=True, cwd=ROOT)
    shown = json.loads(st.stdout)["failed"]
    assert {f["key"] for f in shown} == set(failed) and "no such user" in shown[0]["error"]
    assert asyncio.run(dispatch(today=DAY1))["sent"] == 0            # failed is not retried blindly


def test_server_down_fails_cleanly_and_the_next_run_sends_everything(prefect_api, env, smtp_server, monkeypatch):
    drafted_and_issued(env, smtp_server)
    monkeypatch.setenv("DONDOC_SMTP_PORT", str(free_port()))        # nothing listens there
    with pytest.raises(DeliveryError, match="không kết nối được máy chủ thư"):
        asyncio.run(dispatch(today=DAY1))
    rows = outbound(env)
    assert len(rows) == 25 and {r["status"] for r in rows.values()} == {"pending"}
    monkeypatch.setenv("DONDOC_SMTP_PORT", str(smtp_server.port))
    summary = asyncio.run(dispatch(today=DAY1))
    assert (summary["decided"], summary["sent"]) == (0, 25)
    assert len({m["Message-ID"] for m in smtp_server.accepted}) == 25
    assert {m["Message-ID"] for m in smtp_server.accepted} == {r["message_id"] for r in rows.values()}


def test_killed_mid_run_then_rerun_sends_no_second_copy(prefect_api, env, smtp_server):
    drafted_and_issued(env, smtp_server)
    environ = {**os.environ, **env, "PREFECT_API_URL": prefect_api, "DONDOC_SMTP_CONNECTIONS": "1"}
    cmd = [sys.executable, "-m", "dondoc.cli", "run", "dispatch", "--today", "2026-11-05"]
    killed_while_held(cmd, environ, smtp_server, 7)   # the 7th message waits at DATA: kill the sender there
    assert len(smtp_server.accepted) == 6
    rows = list(outbound(env).values())
    statuses = [r["status"] for r in rows]
    # letters are claimed a batch at a time (outbox.deliver): the one in flight and those claimed
    # after it are `sending`, never tried; every accepted letter, and only those, is marked sent
    assert statuses.count("sent") == 6 and statuses.count("sending") >= 1 and set(statuses) <= {"sent", "sending"}
    assert {r["message_id"] for r in rows if r["status"] == "sent"} == {m["Message-ID"] for m in smtp_server.accepted}
    smtp_server.hold_at = None
    subprocess.run(cmd, cwd=ROOT, env=environ, check=True, capture_output=True, timeout=300)
    keys = [key(m) for m in smtp_server.accepted]
    assert len(keys) == 25 and len(set(keys)) == 25                   # everyone once, no one twice
    assert {r["status"] for r in outbound(env).values()} == {"sent"}


def requests_issued(env):
    """The runtime of DAY1 with its first requests decided, drafted (the draft recorded for the
    secretariat, not sent) and issued: ready for `deliver(("request",))`."""
    from dondoc.issuing import prepare_drafts
    from dondoc.outbox import decide, mail_domain
    from dondoc.runtime import open_runtime
    rt = open_runtime(DAY1)
    decide(rt.plan, rt.ledger, rt.cal, rt.today, ("request",))
    prepare_drafts(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.out, mail_domain(rt.plan))
    assert issue_drafts(env, DAY1) == [1]
    return rt


def test_markup_in_names_and_tasks_is_shown_literally(env, smtp_server, tmp_path, monkeypatch, mini_text):
    plan_file = tmp_path / "units.yaml"
    plan_file.write_text(mini_text.replace("name: Báo Sớm", 'name: "Báo <Sớm> & \\"Bạn\\" đọc"')
                         .replace("name: Cơ quan báo chí}", 'name: "Cơ quan <báo> & \\"chí\\""}')
                         .replace("text: Tuyên truyền về học tập suốt đời.",
                                  "text: \"Đăng <w:p>tin</w:p> & bài 'hay' {{ 7*7 }}\""), encoding="utf-8")
    monkeypatch.setenv("DONDOC_CONFIG", str(plan_file))
    rt = requests_issued(env)
    summary = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                  rt.settings.out, ("request",), rt.now))
    assert summary.sent == 3
    msg = smtp_server.to("vanthu@som.example")[0]
    text = text_of(Document(rt.ledger.document(1)["docx_path"]))
    assert "- Cơ quan <báo> & \"chí\";" in text
    assert "Đăng <w:p>tin</w:p> & bài 'hay' {{ 7*7 }}" in text
    assert msg["To"].addresses[0].display_name == 'Báo <Sớm> & "Bạn" đọc'
    body = msg.get_body(("plain",)).get_content()   # names the tasks; their text is in the công văn
    assert 'Kính gửi: Báo <Sớm> & "Bạn" đọc.' in body
    html = msg.get_body(("html",)).get_content()
    assert "Báo &lt;Sớm&gt; &amp; &#34;Bạn&#34; đọc" in html
    assert str(make_header(decode_header(msg["Subject"]))).startswith("[kh-test/2026/bao-cao-nam/som]")


def test_a_template_folder_named_in_the_plan_overrides_the_shipped_ones(env, smtp_server, tmp_path, monkeypatch,
                                                                         mini_text):
    (tmp_path / "mine" / "mail").mkdir(parents=True)
    (tmp_path / "mine" / "mail" / "request.txt.j2").write_text(
        '{% extends "base.txt.j2" %}{% block body %}Mẫu riêng của {{ issuer.short_name }}.{% endblock %}',
        encoding="utf-8")
    plan_file = tmp_path / "units.yaml"
    plan_file.write_text(mini_text + "templates: mine\n", encoding="utf-8")
    monkeypatch.setenv("DONDOC_CONFIG", str(plan_file))
    rt = requests_issued(env)
    asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                        rt.settings.out, ("request",), rt.now))
    msg = smtp_server.to("vanthu@som.example")[0]
    assert "Mẫu riêng của Sở Thông tin và Truyền thông." in msg.get_body(("plain",)).get_content()
    assert "- Cơ quan báo chí;" in text_of(Document(rt.ledger.document(1)["docx_path"]))   # the shipped .docx template


def test_preview_writes_the_draft_and_one_email_per_unit_and_sends_nothing(env, smtp_server, tmp_path):
    out = tmp_path / "preview"
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", "preview", "--today", "2026-11-05", "--out", str(out)],
                       capture_output=True, text=True, check=True, cwd=ROOT)
    assert "25 thư (.eml) và 1 văn bản" in r.stdout
    emails, docs = list(out.rglob("*.eml")), list(out.rglob("*.docx"))
    assert len(emails) == 25 and [d.name for d in docs] == ["du-thao-request.docx"]   # one công văn for all
    assert "Kính gửi:\n- Cổng Thông tin điện tử, các cơ quan báo chí, truyền thông;" in text_of(Document(docs[0]))
    one = (out / PLAN_ID / "2026-11-05" / "request" / "bao-dak-nong.eml").read_text(encoding="utf-8")
    assert "X-Dondoc-Key: hoc-tap-suot-doi/2026/truyen-thong-bao-chi/bao-dak-nong/request" in one
    assert smtp_server.accepted == [] and outbound(env) == {} and not (tmp_path / "out").exists()
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", "check-format", *map(str, docs)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.count(": OK") == 1


def test_two_runs_at_once_send_each_letter_once(prefect_api, env, smtp_server):
    drafted_and_issued(env, smtp_server)
    environ = {**os.environ, **env, "PREFECT_API_URL": prefect_api, "DONDOC_SMTP_CONNECTIONS": "2"}
    cmd = [sys.executable, "-m", "dondoc.cli", "run", "dispatch", "--today", "2026-11-05"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(2)]
    summaries = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    keys = [key(m) for m in smtp_server.accepted]
    assert len(keys) == len(set(keys)) == 25
    assert sum(s["sent"] for s in summaries) == 25
