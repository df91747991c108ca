"""Dispatch against a real SMTP server (aiosmtpd) that misbehaves on purpose: wrong password,
login required, sender refused, one recipient refused for good or for now, a slow DATA, an
address no server takes, every message deferred. Each failure must stop or mark exactly what
it concerns, be visible in the exit, and a rerun after the fix must send each letter once."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dondoc.ledger import Ledger
from dondoc.smtp import RunIncomplete
from flows.dispatch import dispatch
from tests.conftest import ROOT, Mailbox, free_port
from tests.test_dispatch import DAY1, PLAN_ID, drafted_and_issued, key, outbound

USER, PASSWORD = "vanthu", "dung-mat-khau"
SLOW = "vanthu@baodaknong.example"          # two letters (two tasks) go to this address
REFUSED = "vanthu@ptth.daknong.example"     # its one letter on 05/11


class FaultyServer(Mailbox):
    """The test server, plus: `mail_answer` given to every MAIL FROM and `rcpt_answer` to every
    RCPT when set, `slow`
    seconds the server takes over the DATA of a message to SLOW, and a login that only
    USER/PASSWORD passes (required when `login_required`)."""

    def __init__(self):
        super().__init__()
        self.mail_answer: str | None = None
        self.rcpt_answer: str | None = None
        self.slow = 0.0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_answer:
            return self.mail_answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.slow and SLOW in envelope.rcpt_tos:
            await asyncio.sleep(self.slow)      # the server is slow to answer the end of DATA
        return await super().handle_DATA(server, session, envelope)

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(), PASSWORD.encode())
        return AuthResult(success=ok, handled=False)   # aiosmtpd answers 535 5.7.8 when not ok


@pytest.fixture
def smtp_server():
    """Overrides the plain test server: this one asks for a login (530 on MAIL without it)."""
    box = FaultyServer()
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")   # loopback only
    ctl = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=box.authenticate,
                     auth_required=True, auth_require_tls=False)
    ctl.start()
    box.port = ctl.port
    yield box
    box.release.set()
    ctl.stop()


@pytest.fixture
def login(env, monkeypatch):
    monkeypatch.setenv("DONDOC_SMTP_USERNAME", USER)
    monkeypatch.setenv("DONDOC_SMTP_PASSWORD", PASSWORD)
    return env


def run_cli(prefect_api, *args) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PREFECT_API_URL": prefect_api}
    return subprocess.run([sys.executable, "-m", "dondoc.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def dispatch_cli(prefect_api) -> subprocess.CompletedProcess:
    return run_cli(prefect_api, "run", "dispatch", "--today", DAY1.isoformat())


def assert_each_sent_once(env, smtp_server) -> None:
    rows = outbound(env)
    keys = [key(m) for m in smtp_server.accepted]
    assert sorted(keys) == sorted(rows) and len(rows) == 25            # everyone once, no one twice
    assert {m["Message-ID"] for m in smtp_server.accepted} == {r["message_id"] for r in rows.values()}
    assert {r["status"] for r in rows.values()} == {"sent"}


@pytest.mark.parametrize("fault,line", [
    ("535", "535 5.7.8"),     # wrong password
    ("530", "530 5.7.0"),     # the server wants a login, none is configured
    ("550", "550 5.7.1"),     # the server refuses the sender address
])
def test_a_refused_session_stops_the_run_with_one_line_and_loses_nothing(prefect_api, login, smtp_server,
                                                                          monkeypatch, fault, line):
    drafted_and_issued(login, smtp_server)     # the draft went out; the unit letters meet the fault
    if fault == "535":
        monkeypatch.setenv("DONDOC_SMTP_PASSWORD", "sai-mat-khau")
    elif fault == "530":
        monkeypatch.delenv("DONDOC_SMTP_USERNAME")
    else:
        smtp_server.mail_answer = "550 5.7.1 <dondoc@stttt.daknong.example>: sender not allowed"
    r = dispatch_cli(prefect_api)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("dispatch: máy chủ thư 127.0.0.1") and line in last and "thư chưa gửi vẫn chờ" in last
    if fault != "550":
        assert "DONDOC_SMTP_USERNAME" in last
    rows = outbound(login)
    assert len(rows) == 25 and {r["status"] for r in rows.values()} == {"pending"}
    assert {r["attempts"] for r in rows.values()} == {0}                 # not the letters' fault
    assert smtp_server.accepted == []

    monkeypatch.setenv("DONDOC_SMTP_USERNAME", USER)                     # the fix
    monkeypatch.setenv("DONDOC_SMTP_PASSWORD", PASSWORD)
    smtp_server.mail_answer = None
    r = dispatch_cli(prefect_api)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["sent"] == 25
    assert_each_sent_once(login, smtp_server)


def test_a_550_on_one_recipient_fails_that_letter_and_resend_sends_it_once(prefect_api, login, smtp_server):
    drafted_and_issued(login, smtp_server)
    smtp_server.refuse = {REFUSED: f"550 5.1.1 <{REFUSED}>: no such user"}
    r = dispatch_cli(prefect_api)
    assert r.returncode == 1
    assert "1 thư bị máy chủ từ chối hẳn" in r.stderr.splitlines()[-1] and "resend --failed" in r.stderr
    rows = outbound(login)
    failed = {k for k, row in rows.items() if row["status"] == "failed"}
    assert {rows[k]["unit_id"] for k in failed} == {"dai-ptth"} and len(failed) == 1
    assert len(smtp_server.accepted) == 24 and not smtp_server.to(REFUSED)

    smtp_server.refuse = {}                                              # the unit fixed its mailbox
    r = run_cli(prefect_api, "resend", "--failed", "--unit", "dai-ptth")
    assert r.returncode == 0 and "Đã đưa 1 thư" in r.stdout
    events = Ledger(login["DONDOC_DB"]).events("resend")
    assert {e["key"] for e in events} == failed
    assert all("no such user" in json.loads(e["detail"])["previous_error"] for e in events)
    r = dispatch_cli(prefect_api)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["sent"] == 1
    assert_each_sent_once(login, smtp_server)
    assert "Không có thư bị từ chối nào" in run_cli(prefect_api, "resend", "--failed").stdout


def test_a_450_on_one_recipient_leaves_that_letter_for_later_and_reports_it_when_stuck(login, smtp_server,
                                                                                          monkeypatch):
    drafted_and_issued(login, smtp_server)
    monkeypatch.setenv("DONDOC_SMTP_ATTEMPTS", "2")
    smtp_server.refuse = {REFUSED: "450 4.2.0 greylisted, try again later"}
    with pytest.raises(RunIncomplete, match="1 thư bị tạm từ chối") as run:
        asyncio.run(dispatch(today=DAY1))
    assert (run.value.summary["sent"], run.value.summary["retry"], run.value.summary["stuck"]) == (24, 1, [])
    rows = outbound(login)
    waiting = {k: r for k, r in rows.items() if r["status"] == "pending"}
    assert len(waiting) == 1 and all(r["attempts"] == 1 and "450 4.2.0" in r["last_error"] for r in waiting.values())

    with pytest.raises(RunIncomplete, match="đã thử nhiều lần") as run:  # the 2nd run: 2 attempts, reported
        asyncio.run(dispatch(today=DAY1))
    assert sorted(run.value.summary["stuck"]) == sorted(waiting)
    assert {r["status"] for k, r in outbound(login).items() if k in waiting} == {"pending"}   # still pending

    smtp_server.refuse = {}
    assert asyncio.run(dispatch(today=DAY1))["sent"] == 1
    assert_each_sent_once(login, smtp_server)


@pytest.mark.parametrize("timeout,sent", [(1, 24), (5, 25)])
def test_a_slow_server_is_waited_for_as_long_as_configured(login, smtp_server, monkeypatch, timeout, sent):
    drafted_and_issued(login, smtp_server)
    smtp_server.slow = 2.0
    monkeypatch.setenv("DONDOC_SMTP_TIMEOUT", str(timeout))
    if sent == 25:
        assert asyncio.run(dispatch(today=DAY1))["sent"] == 25
        assert_each_sent_once(login, smtp_server)
        return
    with pytest.raises(RunIncomplete, match="1 thư bị tạm từ chối"):
        asyncio.run(dispatch(today=DAY1))
    rows = outbound(login)
    late = [r for r in rows.values() if r["status"] != "sent"]
    assert len(late) == 1 and {r["status"] for r in late} == {"pending"}
    assert all("DONDOC_SMTP_TIMEOUT" in r["last_error"] and r["attempts"] == 1 for r in late)   # tried once


def test_the_default_timeout_is_the_ten_minutes_rfc_5321_allows(monkeypatch):
    monkeypatch.delenv("DONDOC_SMTP_TIMEOUT", raising=False)
    from dondoc.settings import Settings
    assert Settings(_env_file=None).smtp().timeout == 600


def test_an_address_with_diacritics_fails_that_letter_only(login, smtp_server):
    drafted_and_issued(login, smtp_server)
    ledger = Ledger(login["DONDOC_DB"])
    # The plan check refuses such addresses now; a ledger recorded before it must not stop a run.
    bad = f"{PLAN_ID}/2026/truyen-thong-bao-chi/bao-dak-nong/request"
    ledger.db.execute("update outbound set to_addrs = ? where key = ?", ['["vănthư@ubnd.example"]', bad])
    ledger.db.conn.commit()
    with pytest.raises(RunIncomplete, match="1 thư bị máy chủ từ chối hẳn") as run:
        asyncio.run(dispatch(today=DAY1))
    assert run.value.summary["sent"] == 24
    rows = outbound(login)
    assert rows[bad]["status"] == "failed"
    assert "vănthư@ubnd.example có chữ có dấu" in rows[bad]["last_error"]
    assert {r["status"] for k, r in rows.items() if k != bad} == {"sent"}
    assert len(smtp_server.accepted) == 24


def test_a_run_where_every_message_is_deferred_exits_non_zero(prefect_api, login, smtp_server):
    drafted_and_issued(login, smtp_server)
    smtp_server.rcpt_answer = "451 4.3.0 queue full, try later"
    r = dispatch_cli(prefect_api)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == "dispatch: 25 thư bị tạm từ chối, còn chờ: lần chạy sau sẽ gửi lại"
    assert {row["status"] for row in outbound(login).values()} == {"pending"} and smtp_server.accepted == []
    smtp_server.rcpt_answer = None
    assert dispatch_cli(prefect_api).returncode == 0
    assert_each_sent_once(login, smtp_server)
