"""Collect against a real Dovecot IMAP server: every reply of the corpus ends where it
should, none is lost, reports are acknowledged once."""
from __future__ import annotations

import asyncio
import datetime as dt
import imaplib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted

from dondoc.ledger import Ledger, action_row
from dondoc.letters import context
from dondoc.outbox import decide
from dondoc.render import Templates
from dondoc.runtime import open_runtime
from flows.collect import collect
from models.rules import LedgerState, due_actions
from tests import corpus
from tests.conftest import ROOT, killed_while_held

D = dt.date
PLAN = "hoc-tap-suot-doi"
Y = corpus.YEAR


@pytest.fixture
def inbox(dovecot, env, monkeypatch):
    """A fresh IMAP folder for the test, and the settings that point the collector at it."""
    folder = f"t{uuid.uuid4().hex[:10]}"
    box = MailBoxUnencrypted(dovecot["host"], dovecot["port"]).login(dovecot["user"], dovecot["password"])
    box.folder.create(folder)
    for k, v in {"DONDOC_IMAP_HOST": dovecot["host"], "DONDOC_IMAP_PORT": str(dovecot["port"]),
                 "DONDOC_IMAP_USERNAME": dovecot["user"], "DONDOC_IMAP_PASSWORD": dovecot["password"],
                 "DONDOC_IMAP_SECURITY": "none", "DONDOC_IMAP_FOLDER": folder,
                 "DONDOC_DATA": str(Path(env["DONDOC_DB"]).parent / "data"), "DONDOC_MAX_ATTACHMENT_MB": "1"}.items():
        monkeypatch.setenv(k, v)
    yield box, folder
    box.logout()


def sent_letters(shipped):
    """Record the requests of 05/11 and the reminders of 20/11 (as dispatch would), so
    replies can refer to their Message-IDs."""
    rt = open_runtime(D(Y, 11, 5))
    decide(rt.plan, rt.ledger, rt.cal, D(Y, 11, 5), ("request",))
    for doc in rt.ledger.documents(PLAN, "drafted"):   # registered by the văn thư: the reminders follow
        rt.ledger.issue(doc["id"], "1/STTTT-TTBCXB", D(Y, 11, 5), "ban-ky.pdf", None, None, None)
    decide(rt.plan, rt.ledger, rt.cal, D(Y, 11, 21), ("reminder",))
    rows = {r["key"]: r for r in rt.ledger.outbound(PLAN)}

    def mid(task, unit, stage="request"):   # the Message-ID of the email that carried the letter
        row = rows[f"{PLAN}/{Y}/{task}/{unit}/{stage}"]
        return rows[row["mail_key"] or row["key"]]["message_id"]
    a = next(a for a in due_actions(rt.plan, LedgerState(), D(Y, 11, 5), rt.cal)
             if (a.task_id, a.unit_id) == ("so-nganh-dang-tai", "so-vhttdl"))
    form = Templates().docx("reply-form").render(context(rt.plan, action_row(a, D(Y, 11, 5), "<x@y>", None), rt.cal))
    return mid, form


def test_every_reply_of_the_corpus_ends_where_it_should(prefect_api, inbox, env, smtp_server, shipped):
    box, folder = inbox
    mid, form = sent_letters(shipped)
    items = corpus.build(mid, form)
    assert len(items) >= 40
    for _name, raw, arrival, _ in items:
        box.client.append(folder, "", imaplib.Time2Internaldate(arrival), raw)
    summary = asyncio.run(collect(today=D(Y, 12, 10)))
    led = Ledger(env["DONDOC_DB"])
    rows = led.inbound()
    # nothing lost: every distinct message is in the ledger, the duplicate once
    assert summary["fetched"] == len(items) and summary["kept"] == len(items) - 1 == len(rows)
    assert not [r for r in rows if r["status"] == "new"]
    by_sender = {}
    for r in rows:
        by_sender.setdefault(r["from_addr"], []).append(r)
    for name, raw, _arrival, (status, unit, task) in items:
        if status == "duplicate":
            continue
        sender = corpus_sender(raw)
        got = [r for r in by_sender[sender] if status == r["status"]]
        assert got, f"{name}: {[(r['status'], r['reason']) for r in by_sender[sender]]}"
        if unit:
            assert got[0]["unit_id"] == unit, name
        if task:
            assert got[0]["task_id"] == task, name
        assert got[0]["reason"], name
    reports = {(r["task_id"], r["unit_id"]): r for r in led.db["reports"].rows}
    assert len(reports) == len({(e[2], e[1]) for *_, e in items if e[0] == "matched"})   # one per cycle
    t = "truyen-thong-bao-chi"
    assert reports[(t, "bao-dak-nong")]["received_on"] == f"{Y}-12-01"
    assert reports[(t, "dai-ptth")]["received_on"] == f"{Y}-12-08"           # late: when it arrived
    saved = json.loads(reports[(t, "bao-dak-nong")]["files"])
    assert [Path(p).name for p in saved] == ["Báo cáo kết quả truyền thông năm 2026.docx"]
    s = "so-nganh-dang-tai"
    assert json.loads(reports[(s, "so-vhttdl")]["indicators"]) == {"van-ban": 12, "tin-bai": 1250, "an-pham": 7}
    # corrected figures sent again: the later report counts, the earlier one is kept
    gddt = reports[(s, "so-gddt")]
    assert json.loads(gddt["indicators"]) == {"van-ban": 5, "tin-bai": 60} and gddt["version"] == 2
    assert (gddt["received_on"], gddt["updated_on"]) == (f"{Y}-12-01", f"{Y}-12-03")
    assert json.loads(led.db["report_versions"].get((gddt["key"], 1))["indicators"]) == {"van-ban": 4, "tin-bai": 15}
    assert led.state(PLAN).updated[(s, "so-gddt", str(Y))] == D(Y, 12, 3)
    # a report in the body alone counts, its estimate flagged
    noivu = next(r for r in rows if r["unit_id"] == "so-noi-vu")
    assert noivu["status"] == "matched" and json.loads(noivu["indicators"])["_estimates"] == ["tin-bai"]
    # a cover note and a refused archive wait for a person, saying why
    reasons = {r["from_addr"]: r["reason"] for r in rows if r["status"] == "triage"}
    assert "lời gửi kèm" in reasons["tongbientap@baodaknong.example"]
    assert "baocao.rar" in reasons["giamdoc@ptth.daknong.example"]
    assert "dmarc" in reasons["vanthu@krongno.daknong.example"].lower()
    assert "không kèm mã thư" in reasons["postmaster@evil.example"]
    assert "không rõ địa chỉ" in reasons["postmaster@mail.syt.daknong.example"]
    trav = json.loads(reports[(s, "tinh-doan")]["files"])
    data = Path(env["DONDOC_DB"]).parent / "data" / "attachments"
    assert [Path(p).name for p in trav] == ["bao-cao.docx"] and Path(trav[0]).parent.is_relative_to(data)
    mttq = next(r for r in rows if r["unit_id"] == "mttq")
    assert {a["name"]: a.get("refused") for a in json.loads(mttq["attachments"])} == {
        "baocao.exe": "loại tệp .exe không được nhận", "baocao.pdf": None}
    big = json.loads(next(r for r in rows if r["unit_id"] == "hoi-khuyen-hoc")["attachments"])
    assert big[0]["refused"].startswith("tệp quá lớn") and "path" in big[1]
    bomb = next(r for r in rows if r["unit_id"] == "hoi-lhpn")
    assert json.loads(bomb["attachments"])[0]["refused"].startswith("tệp nén bất thường")
    assert "ai-do@thu-ca-nhan.example" in next(r for r in rows if r["unit_id"] == "ubnd-dak-song")["reason"]
    # the bounce marks the letter to that address, with the server's words
    bounced = led.outbound(PLAN, "bounced")
    assert [r["unit_id"] for r in bounced] == ["ubnd-dak-mil", "ubnd-dak-rlap"]   # a DSN, and qmail's words
    assert all("5.1.1" in r["last_error"] for r in bounced)
    # out of office: the next follow-up also goes to the unit's head
    assert led.state(PLAN).away == {"ubnd-cu-jut", "ubnd-dak-glong", "so-gddt"}   # not the forged one
    # decoded texts
    stp = next(r for r in rows if r["unit_id"] == "so-tu-phap")
    assert stp["summary"].startswith("Sở Tư pháp gửi báo cáo kết quả năm 2026.")
    khcn = next(r for r in rows if r["unit_id"] == "so-khcn")
    assert khcn["subject"].endswith("V/v báo cáo") and "Khoa học và Công nghệ" in khcn["summary"]
    # one acknowledgement per report, threaded to the unit's message, none to automatic mail
    acks = [m for m in smtp_server.accepted if "".join(str(m["X-Dondoc-Key"]).split()).split("/")[-1].startswith("ack")]
    assert len(acks) == len(reports) + 1 == summary["acks_sent"]            # + the update's
    update = next(m for m in acks if "".join(str(m["X-Dondoc-Key"]).split()).endswith("/so-gddt/ack-1"))
    assert "báo cáo cập nhật" in update.get_body(("plain",)).get_content()
    gm = next(m for m in acks if m["To"].addresses[0].addr_spec == "vanthu@baodaknong.example")
    assert gm["In-Reply-To"] == "<CAGmail-1@mail.gmail.example>" and gm["Auto-Submitted"] == "auto-replied"
    assert "đã nhận được báo cáo của đơn vị" in gm.get_body(("plain",)).get_content()
    assert f"ngày 01/12/{Y}" in gm.get_body(("plain",)).get_content()
    # everything kept is marked seen on the server; nothing was deleted
    box.folder.set(folder)
    assert all("\\Seen" in m.flags for m in box.fetch(mark_seen=False, headers_only=True)) and \
        len(list(box.fetch(mark_seen=False, headers_only=True))) == len(items)
    # a second run finds nothing new and sends nothing again
    smtp_server.accepted.clear()
    again = asyncio.run(collect(today=D(Y, 12, 11)))
    assert again["fetched"] == 0 and smtp_server.accepted == []


def corpus_sender(raw: bytes) -> str:
    from models.mailparse import parse_reply
    return parse_reply(raw).from_addr


def test_killed_between_keeping_and_marking_seen_records_each_reply_once(prefect_api, inbox, env, shipped,
                                                                          monkeypatch):
    box, folder = inbox
    mid, form = sent_letters(shipped)
    items = [i for i in corpus.build(mid, form) if i[3][0] == "matched"][:6]
    for _, raw, arrival, _ in items:
        box.client.append(folder, "", imaplib.Time2Internaldate(arrival), raw)
    from dondoc.inbox import ImapSource
    done = ImapSource.done

    def crash(self, uids):
        raise SystemExit("killed after the ledger committed, before marking seen")
    monkeypatch.setattr(ImapSource, "done", crash)
    with pytest.raises(SystemExit):
        asyncio.run(collect(today=D(Y, 12, 10)))
    led = Ledger(env["DONDOC_DB"])
    assert len(led.inbound("new")) == 6                   # kept, not yet read
    box.folder.set(folder)
    assert not any("\\Seen" in m.flags for m in box.fetch(mark_seen=False, headers_only=True))
    monkeypatch.setattr(ImapSource, "done", done)
    asyncio.run(collect(today=D(Y, 12, 10)))
    assert len(led.inbound()) == 6 and len(list(led.db["reports"].rows)) == 6
    assert {r["status"] for r in led.inbound()} == {"matched"}
    assert all("\\Seen" in m.flags for m in box.fetch(mark_seen=False, headers_only=True))   # marked now



def test_kept_mail_can_be_moved_instead_of_flagged(inbox, env, shipped, monkeypatch):
    box, folder = inbox
    box.folder.create(f"{folder}-kept")
    monkeypatch.setenv("DONDOC_IMAP_MOVE_TO", f"{folder}-kept")
    mid, form = sent_letters(shipped)
    for _, raw, arrival, _ in corpus.build(mid, form)[:3]:
        box.client.append(folder, "", imaplib.Time2Internaldate(arrival), raw)
    from dondoc.collector import CollectSummary, keep_new
    rt = open_runtime(D(Y, 12, 10))
    source = rt.settings.inbox_source()
    summary = CollectSummary()
    keep_new(source, rt.ledger, rt.settings.data, summary, rt.today)
    source.close()
    assert (summary.fetched, summary.kept) == (3, 2)           # the second is the same message again
    box.folder.set(folder)
    assert list(box.fetch(mark_seen=False, headers_only=True)) == []
    box.folder.set(f"{folder}-kept")
    assert len(list(box.fetch(mark_seen=False, headers_only=True))) == 3   # moved, none deleted


def test_killed_while_acknowledging_then_rerun_sends_every_acknowledgement_once(prefect_api, inbox, env,
                                                                                 smtp_server, shipped):
    """A real `kill -9` of `dondoc run collect` while the server holds its third
    acknowledgement: those accepted before are marked sent, the rerun sends every other one
    once and none twice."""
    box, folder = inbox
    mid, form = sent_letters(shipped)
    for _, raw, arrival, _ in [i for i in corpus.build(mid, form) if i[3][0] == "matched"][:6]:
        box.client.append(folder, "", imaplib.Time2Internaldate(arrival), raw)
    environ = {**os.environ, "PREFECT_API_URL": prefect_api, "DONDOC_SMTP_CONNECTIONS": "1"}
    cmd = [sys.executable, "-m", "dondoc.cli", "run", "collect", "--today", f"{Y}-12-10"]
    killed_while_held(cmd, environ, smtp_server, 3)   # the third acknowledgement

    def key(m) -> str:
        return "".join(str(m["X-Dondoc-Key"]).split())
    led = Ledger(env["DONDOC_DB"])
    acks = {r["key"]: r for r in led.outbound(PLAN) if r["stage"] == "ack"}
    assert len(smtp_server.accepted) == 2 and len(acks) >= 6          # every report's ack decided with it
    assert {k for k, r in acks.items() if r["status"] == "sent"} == {key(m) for m in smtp_server.accepted}
    smtp_server.hold_at = None
    subprocess.run(cmd, cwd=ROOT, env=environ, check=True, capture_output=True, timeout=300)
    keys = [key(m) for m in smtp_server.accepted]
    assert sorted(keys) == sorted(acks) and len(set(keys)) == len(keys)   # each once, none twice
    assert {r["status"] for r in led.outbound(PLAN) if r["stage"] == "ack"} == {"sent"}
    assert len(list(led.db["reports"].rows)) == 6


def many_reports(tmp_path: Path, n: int, environ: dict) -> dict:
    """A plan of `n` units and a Maildir holding each unit's report in its body: `environ`
    with the settings that point `dondoc run collect` at them."""
    from email.message import EmailMessage

    from tests.conftest import MINI
    head, _, rest = MINI.partition("units:\n")
    units = "".join(f"  - {{id: u{i:03d}, name: \"UBND xã Số {i}\", group: huyen, emails: [vt{i}@xa{i}.example]}}\n"
                    for i in range(n))
    (tmp_path / "units.yaml").write_text(head + "units:\n" + units + "tasks:\n" + rest.partition("tasks:\n")[2]
                                         .replace("exempt: [mien]", "exempt: []"), encoding="utf-8")
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    for i in range(n):
        m = EmailMessage()
        m["From"], m["To"], m["Message-ID"] = f"vt{i}@xa{i}.example", "dondoc@stttt.example", f"<r{i}@xa{i}.example>"
        m["Subject"] = f"Re: [kh-test/{Y}/bao-cao-nam/u{i:03d}] V/v báo cáo kết quả năm {Y}"
        m["Date"] = f"Tue, 01 Dec {Y} 09:00:00 +0700"
        m.set_content("Kính gửi Sở,\n\nUBND xã báo cáo: đã đăng 12 tin, bài; tổ chức 3 buổi sinh hoạt chuyên đề "
                      "tại nhà văn hóa thôn với 240 lượt người; treo 8 băng rôn.\nTin, bài: 12\n")
        (tmp_path / "Maildir" / "new" / f"{i:03d}.mail").write_bytes(bytes(m))
    return {**environ, "DONDOC_CONFIG": str(tmp_path / "units.yaml"), "DONDOC_INBOX": f"maildir:{tmp_path / 'Maildir'}",
            "DONDOC_DATA": str(tmp_path / "data")}


COLLECT = [sys.executable, "-m", "dondoc.cli", "run", "collect", "--today", f"{Y}-12-02"]


@pytest.mark.parametrize("ahead", ["500", "1"])
def test_a_mail_server_that_cannot_be_reached_stops_no_report_from_being_recorded(prefect_api, env, tmp_path, ahead):
    """The SMTP server is down: every reply is still read and recorded with its acknowledgement
    waiting, and the run fails with the server's error, in one line; so when the
    acknowledgements are sent during the reading (`ahead` 1: the sender gives back all it was
    handed)."""
    from tests.test_cli_errors import closed_port
    environ = many_reports(tmp_path, 30, {**os.environ, "PREFECT_API_URL": prefect_api, "DONDOC_ACK_AHEAD": ahead,
                                          "DONDOC_SMTP_PORT": str(closed_port()), "DONDOC_SMTP_ATTEMPTS": "1"})
    done = subprocess.run(COLLECT, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "không kết nối được máy chủ thư" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    led = Ledger(env["DONDOC_DB"])
    assert [r["status"] for r in led.inbound()] == ["matched"] * 30
    acks = [r for r in led.outbound("kh-test") if r["stage"] == "ack"]
    assert len(acks) == 30 and {r["status"] for r in acks} == {"pending"}   # sent by the next run


def test_a_connection_hands_over_a_message_only_once_its_last_one_is_marked_sent(env, tmp_path, monkeypatch):
    """Acknowledgements are marked `sent` together, a commit for what the connections had
    accepted meanwhile, but never later than the end of the next message on the same
    connection: whenever the server receives a message, every one it accepted before on that
    session is `sent` in the ledger (so a crash resends at most one a connection)."""
    import sqlite3

    from aiosmtpd.controller import Controller

    from dondoc.collector import CollectSummary, keep_new, process
    from dondoc.outbox import deliver
    from models.inbound import Limits
    from tests.servers import free_port
    for k, v in many_reports(tmp_path, 60, {}).items():
        monkeypatch.setenv(k, v)
    seen: list[tuple[int, list[str]]] = []   # (session, the Message-IDs it had accepted but the ledger had not marked)

    class Check:
        accepted: dict[int, list[str]] = {}

        async def handle_DATA(self, server, session, envelope):
            with sqlite3.connect(env["DONDOC_DB"]) as db:
                sent = {m for (m,) in db.execute("select message_id from outbound where status = 'sent'")}
            before = self.accepted.setdefault(id(session), [])
            seen.append((id(session), [m for m in before if m not in sent]))
            before.append(re.search(rb"^Message-ID: (<[^>]+>)", envelope.content, re.M)[1].decode())
            return "250 OK"
    ctl = Controller(Check(), hostname="127.0.0.1", port=free_port())
    ctl.start()
    monkeypatch.setenv("DONDOC_SMTP_PORT", str(ctl.port))
    try:
        rt = open_runtime(D(Y, 12, 2))
        summary = CollectSummary()
        keep_new(rt.settings.inbox_source(), rt.ledger, rt.settings.data, summary, rt.today)
        process({rt.plan.plan.id: rt.plan}, rt.ledger, {rt.plan.plan.id: rt.cal}, rt.settings.data, Limits(), summary)
        sent = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                   rt.settings.out, ("ack",), rt.now))
    finally:
        ctl.stop()
    assert sent.sent == 60 and len(seen) == 60 and len({s for s, _ in seen}) > 1   # several connections
    assert all(unmarked == [] for _, unmarked in seen), seen
    led = Ledger(env["DONDOC_DB"])
    assert {r["status"] for r in led.outbound("kh-test") if r["stage"] == "ack"} == {"sent"}
    assert len(led.events("sent")) == 60
