"""Dispatch when the machine itself misbehaves (finding 5 of the hardening issue), and bounces
that must prove themselves by the letter's own signed bounce address (finding 2): a ledger
another process holds locked, a disk that refuses to grow, a bounce with a forged token and
a real one. Real aiosmtpd, a real ledger file, real `dondoc` processes."""
from __future__ import annotations

import asyncio
import datetime as dt
import mailbox
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dondoc.collector import CollectSummary, keep_new, process
from dondoc.ledger import Ledger
from dondoc.outbox import deliver
from dondoc.runtime import open_runtime
from flows.dispatch import dispatch
from models.inbound import Limits
from tests.conftest import ROOT, Mailbox, smtp_sink
from tests.test_dispatch import DAY1, PLAN_ID, drafted_and_issued, key, outbound, requests_issued

UNIT = "vanthu@baodaknong.example"


class Sink(Mailbox):
    """The test SMTP server, remembering each accepted message's envelope sender (MAIL FROM)."""

    def __init__(self):
        super().__init__()
        self.senders: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            self.senders.append(envelope.mail_from)
        return answer


@pytest.fixture
def smtp_server():
    with smtp_sink(Sink()) as box:
        yield box


def dispatch_cli(prefect_api, preexec=None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dondoc.cli", "run", "dispatch", "--today", DAY1.isoformat()],
                          cwd=ROOT, env={**os.environ, "PREFECT_API_URL": prefect_api, **extra}, capture_output=True,
                          text=True, timeout=300, check=False, preexec_fn=preexec)


def assert_each_sent_once(env, smtp_server) -> None:
    rows = outbound(env)
    keys = [key(m) for m in smtp_server.accepted]
    assert len(keys) == len(set(keys)) == len(rows) == 25                # everyone once, no one twice
    assert {r["status"] for r in rows.values()} == {"sent"}


def test_a_locked_ledger_stops_the_run_with_one_line_and_the_rerun_sends_each_letter_once(prefect_api, env,
                                                                                          smtp_server):
    drafted_and_issued(env, smtp_server)
    holder = subprocess.Popen(   # another process holds a write transaction on the ledger
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); sys.stdin.read()", env["DONDOC_DB"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = dispatch_cli(prefect_api)
    finally:
        holder.communicate("", timeout=30)                              # the lock goes
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "đang bị một tiến trình khác giữ" in last and env["DONDOC_DB"] in last, r.stderr
    assert smtp_server.accepted == []
    assert {row["status"] for row in outbound(env).values()} == {"pending"}
    r = dispatch_cli(prefect_api)
    assert r.returncode == 0, r.stderr
    assert_each_sent_once(env, smtp_server)


def test_a_full_disk_stops_the_run_with_one_line_and_the_rerun_sends_no_letter_twice(prefect_api, env,
                                                                                        smtp_server):
    drafted_and_issued(env, smtp_server)
    db = Path(env["DONDOC_DB"])
    limit = db.stat().st_size   # the ledger may not grow: its write-ahead log hits the limit

    def full_disk():   # in the dispatch process: write() past `limit` bytes fails (EFBIG), as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = dispatch_cli(prefect_api, full_disk, DONDOC_SMTP_CONNECTIONS="1")   # one connection: one order of writes
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "đầy" in last and "giải phóng chỗ trống" in last, r.stderr
    first = [key(m) for m in smtp_server.accepted]
    rows = outbound(env)
    assert len(first) < 25
    assert {k for k, row in rows.items() if row["status"] == "sent"} <= set(first)
    assert [row["status"] for row in rows.values()].count("sending") <= 1   # at most the letter in flight
    r = dispatch_cli(prefect_api)
    assert r.returncode == 0, r.stderr
    assert_each_sent_once(env, smtp_server)


def dsn(to: str, failed: str, n: int, returned: str = "") -> bytes:
    """A delivery status notification as the unit's server sends it back to the envelope sender
    (Delivered-To written by our server at delivery), with the original's headers or without."""
    original = (f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {returned}\r\n\r\n" if returned else "")
    return (f"Received: from mx by mail; Fri, 06 Nov 2026 09:00:00 +0700\r\nDelivered-To: {to}\r\n"
            f"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.baodaknong.example\r\nTo: {to}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn{n}@mx.baodaknong.example>\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.baodaknong.example\r\n\r\n"
            f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: no such user\r\n\r\n{original}--b--\r\n").encode()


def test_a_bounce_proves_its_letter_by_its_signed_bounce_address(env, smtp_server, tmp_path, monkeypatch):
    drafted_and_issued(env, smtp_server)
    assert asyncio.run(dispatch.fn(today=DAY1))["sent"] == 25
    ledger = Ledger(env["DONDOC_DB"])
    secret = next(ledger.db.query("select value from meta where name = 'bounce_secret'"))["value"]
    sent = zip(smtp_server.accepted, smtp_server.senders[-25:], strict=True)   # the draft went out before
    letters = {m["Message-ID"]: (key(m), sender) for m, sender in sent}
    assert len({s for _, s in letters.values()}) == 25                   # one bounce address per letter
    assert all(s.startswith("dondoc+b-") and s.endswith("@stttt.daknong.example") for _, s in letters.values())
    assert {str(m["From"]) for m in smtp_server.accepted} == {str(smtp_server.accepted[0]["From"])}   # unchanged
    assert secret not in "".join(map(str, ledger.events())) and all(secret not in s for _, s in letters.values())
    unit = next(m for m in smtp_server.accepted if UNIT in str(m["To"]))
    mine, envelope = letters[unit["Message-ID"]]
    other = next(s for k, s in letters.values() if k != mine)
    local, _, domain = envelope.partition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain     # one character of the MAC changed
    shifted = f"dondoc+b-{'1' + local.split('-')[1]}-{local.split('-')[2]}@{domain}"   # another letter's number

    monkeypatch.setenv("DONDOC_INBOX", f"maildir:{tmp_path / 'Maildir'}")
    monkeypatch.setenv("DONDOC_DATA", str(tmp_path / "data"))
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(dsn(forged, UNIT, 1))
    box.add(dsn(shifted, UNIT, 2, returned=unit["Message-ID"]))        # even with our real Message-ID returned
    box.add(dsn(other, UNIT, 3, returned=unit["Message-ID"]))          # another letter's address, this one's id
    rt = open_runtime(dt.date(2026, 11, 6))
    summary = CollectSummary()
    keep_new(rt.settings.inbox_source(), rt.ledger, rt.settings.data, summary, rt.today)
    process({PLAN_ID: rt.plan}, rt.ledger, {PLAN_ID: rt.cal}, rt.settings.data, Limits(), summary)
    assert (summary.bounce, summary.triage) == (0, 3) and rt.ledger.outbound(PLAN_ID, "bounced") == []
    reasons = sorted(r["reason"] for r in rt.ledger.inbound("triage"))
    assert sum("chữ ký không đúng" in r for r in reasons) == 2 and sum("mã của thư khác" in r for r in reasons) == 1

    forward = "ca-nhan@gmail.example"   # the unit forwards its mail; the forward fails; no headers come back
    box.add(dsn(envelope, forward, 4))
    summary = CollectSummary()
    keep_new(rt.settings.inbox_source(), rt.ledger, rt.settings.data, summary, rt.today)
    process({PLAN_ID: rt.plan}, rt.ledger, {PLAN_ID: rt.cal}, rt.settings.data, Limits(), summary)
    assert (summary.bounce, summary.triage) == (1, 0)
    bounced = rt.ledger.outbound(PLAN_ID, "bounced")
    assert {r["key"] for r in bounced if r["key"] == r["mail_key"] or not r["mail_key"]} == {mine}   # that letter only
    assert all(r["mail_key"] == mine for r in bounced if r["key"] != mine)
    assert forward in bounced[0]["last_error"]


def test_verp_off_keeps_the_plain_envelope_sender(env, smtp_server):
    rt = requests_issued(env)
    plan = rt.plan.model_copy(update={"issuer": rt.plan.issuer.model_copy(update={"verp": False})})
    summary = asyncio.run(deliver(plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                  rt.settings.out, ("request",), rt.now))
    assert summary.sent == 25
    assert len(smtp_server.senders) == 25 and set(smtp_server.senders) == {rt.mail_from}
    assert next(rt.ledger.db.query("select count(*) as n from meta where name = 'bounce_secret'"))["n"] == 0
