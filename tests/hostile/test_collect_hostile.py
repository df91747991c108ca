"""The hardening issue's collect findings, reproduced against a real Maildir and ledger: one
hostile reply never stops collection, a fake bounce silences nobody, a sender must be real."""
from __future__ import annotations

import datetime as dt
import json
import mailbox
from pathlib import Path

import pytest

from dondoc.collector import CollectSummary, keep_new, process
from dondoc.outbox import decide
from dondoc.runtime import open_runtime
from models.inbound import Limits
from tests import corpus

PLAN, T = "hoc-tap-suot-doi", "truyen-thong-bao-chi"
DAY = dt.date(2026, 11, 5)


@pytest.fixture
def box(env, tmp_path, monkeypatch):
    monkeypatch.setenv("DONDOC_INBOX", f"maildir:{tmp_path / 'Maildir'}")
    monkeypatch.setenv("DONDOC_DATA", str(tmp_path / "data"))
    return mailbox.Maildir(tmp_path / "Maildir", create=True)


def collect_now():
    rt = open_runtime(dt.date(2026, 12, 2))
    summary = CollectSummary()
    keep_new(rt.settings.inbox_source(), rt.ledger, rt.settings.data, summary, rt.today)
    process({PLAN: rt.plan}, rt.ledger, {PLAN: rt.cal}, rt.settings.data, Limits(), summary)
    return rt.ledger, summary


def add(box, raw: bytes) -> None:
    box.add(b"Received: from mx by mail; Tue, 01 Dec 2026 09:00:00 +0700\r\n" + raw)


def test_an_attachment_name_no_file_system_takes_stops_nothing(box):
    rt = open_runtime(DAY)
    decide(rt.plan, rt.ledger, rt.cal, DAY, ("request",))
    evil = "😀" * 70 + "\u202egpj.exe" + ".pdf"              # > 255 bytes, and a right-to-left override
    add(box, corpus.message("vanthu@baodaknong.example", f"Re: [{PLAN}/2026/{T}/bao-dak-nong] V/v", "Gửi báo cáo.\n",
                            mid="<e1@baodaknong.example>", attachments=[(evil, corpus.PDF, ("application", "pdf"))]))
    add(box, corpus.message("vanthu@ptth.daknong.example", f"Re: [{PLAN}/2026/{T}/dai-ptth] V/v", "Gửi báo cáo.\n",
                            mid="<e2@ptth.daknong.example>",
                            attachments=[("bc.pdf", corpus.PDF, ("application", "pdf"))]))
    ledger, summary = collect_now()
    assert summary.matched == 2                               # the next reply was not held up
    files = json.loads(next(r for r in ledger.db["reports"].rows if r["unit_id"] == "bao-dak-nong")["files"])
    name = Path(files[0]).name
    assert Path(files[0]).exists() and len(name.encode()) <= 200 and name.endswith(".pdf") and "\u202e" not in name


def test_a_fake_bounce_silences_nobody(box):
    rt = open_runtime(DAY)
    decide(rt.plan, rt.ledger, rt.cal, DAY, ("request",))
    ours = next(r for r in rt.ledger.outbound(PLAN) if r["unit_id"] == "bao-dak-nong")["message_id"]
    dsn = ("From: postmaster@evil.example\r\nTo: dondoc@stttt.daknong.example\r\nSubject: Undelivered Mail\r\n"
           "Message-ID: <{n}@evil.example>\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n'
           "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; evil.example\r\n\r\n"
           "Final-Recipient: rfc822; {addr}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\n"
           "Content-Type: message/rfc822\r\n\r\nMessage-ID: {mid}\r\n\r\n.\r\n--b--\r\n")
    add(box, dsn.format(n=1, addr="vanthu@baodaknong.example", mid="<not-ours@evil.example>").encode())
    add(box, dsn.format(n=2, addr="%", mid=ours).encode())                    # a wildcard, with our id
    add(box, dsn.format(n=3, addr="vanthu@ptth.daknong.example", mid=ours).encode())   # our id, another address
    ledger, summary = collect_now()
    assert ledger.outbound(PLAN, "bounced") == [] and summary.bounce == 0
    assert summary.triage == 3


def test_a_sender_must_be_a_real_address(box):
    for i, sender in enumerate(("vanthu", "vanthu@baodaknong.example)<ke-xau@evil.example>")):
        raw = corpus.message("x@y.example", f"Re: [{PLAN}/2026/{T}/bao-dak-nong] V/v", "Gửi báo cáo.\n",
                             mid=f"<s{i}@y.example>", attachments=[("bc.pdf", corpus.PDF, ("application", "pdf"))])
        add(box, raw.replace(b"From: x@y.example", b"From: " + sender.encode()))
    ledger, summary = collect_now()
    assert summary.matched == 0 and summary.triage == 2 and list(ledger.db["reports"].rows) == []
