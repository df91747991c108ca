"""Acknowledgements sent by a second process while the replies are read (`dondoc.acker`): they
go out during the reading, each once, marked sent in the ledger in the end; a kill of the
sender mid-delivery sends nothing twice; what a dead sender journaled is folded in."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
from collections import Counter
from pathlib import Path

from dondoc import acker
from dondoc.collector import CollectSummary, keep_new, process
from dondoc.ledger import Journal, Ledger
from dondoc.outbox import deliver
from dondoc.runtime import open_runtime
from models.inbound import Limits
from tests.conftest import ROOT
from tests.test_collect import COLLECT, Y, many_reports


def key_of(m) -> str:
    return "".join(str(m["X-Dondoc-Key"]).split())


def test_acknowledgements_go_out_while_the_replies_are_still_read(env, smtp_server, tmp_path, monkeypatch):
    """With the sender beside the reading, the first acknowledgement reaches the server while
    replies are still unread; every one goes out once, none is left to the step after, and
    the ledger has each `sent`, with its journal folded in and removed."""
    for k, v in many_reports(tmp_path, 60, {"DONDOC_ACK_AHEAD": "1"}).items():
        monkeypatch.setenv(k, v)
    unread_at_first: list[int] = []
    handed = acker.Acker.hand

    def hand(self) -> None:   # after the first batch is handed over, read on only once its first ack arrived
        handed(self)
        if not unread_at_first:
            for _ in range(600):
                if smtp_server.accepted or self.proc.poll() is not None:
                    break
                threading.Event().wait(0.05)   # polling for the other process, not waiting for time
            with sqlite3.connect(env["DONDOC_DB"]) as db:
                unread_at_first.append(db.execute("select count(*) from inbound where status = 'new'").fetchone()[0])
    monkeypatch.setattr(acker.Acker, "hand", hand)
    rt = open_runtime(dt.date(Y, 12, 2))
    summary = CollectSummary()
    keep_new(rt.settings.inbox_source(), rt.ledger, rt.settings.data, summary, rt.today)
    with acker.beside([rt], rt.ledger.count_inbound("new")) as ahead:
        assert ahead is not None
        process({rt.plan.plan.id: rt.plan}, rt.ledger, {rt.plan.plan.id: rt.cal}, rt.settings.data, Limits(), summary,
                batch=10, ahead=ahead)
    assert unread_at_first and unread_at_first[0] >= 40, unread_at_first   # sent during the reading
    assert ahead.sent == 60 and ahead.proc.returncode == 0
    left = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                               rt.settings.out, ("ack",), rt.now))
    assert left.sent == 0
    keys = Counter(key_of(m) for m in smtp_server.accepted)
    assert len(keys) == 60 and set(keys.values()) == {1}
    acks = [r for r in rt.ledger.outbound("kh-test") if r["stage"] == "ack"]
    assert {r["status"] for r in acks} == {"sent"} and all(r["sent_at"] for r in acks)
    assert len(rt.ledger.events("sent")) == 60
    assert list(Path(env["DONDOC_DB"]).parent.glob("*.sent.*")) == []


def descendants(pid: int) -> list[int]:
    """The processes started by `pid`, and theirs."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def test_a_sender_killed_mid_delivery_leaves_each_acknowledgement_to_be_sent_once(prefect_api, env, smtp_server,
                                                                                 tmp_path):
    """A real `kill -9` of the sender beside the reading while the server holds its third
    acknowledgement: the run goes on, sends every other one itself, once, and marks all `sent`."""
    environ = many_reports(tmp_path, 40, {**os.environ, "PREFECT_API_URL": prefect_api, "DONDOC_ACK_AHEAD": "1",
                                          "DONDOC_SMTP_CONNECTIONS": "1"})
    smtp_server.hold_at = 3
    run = subprocess.Popen(COLLECT, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert smtp_server.holding.wait(120), "the sender never reached its third message"
        senders = [p for p in descendants(run.pid) if b"dondoc.acker" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(senders) == 1
        os.kill(senders[0], signal.SIGKILL)
    finally:
        smtp_server.release.set()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-2000:]
    keys = Counter(key_of(m) for m in smtp_server.accepted)
    assert len(keys) == 40 and set(keys.values()) == {1}, keys        # the held one was refused, then sent
    led = Ledger(env["DONDOC_DB"])
    assert {r["status"] for r in led.outbound("kh-test") if r["stage"] == "ack"} == {"sent"}
    assert list(Path(env["DONDOC_DB"]).parent.glob("*.sent.*")) == []


def test_a_journal_left_by_a_dead_sender_is_folded_in_before_anything_is_sent(env, smtp_server, tmp_path,
                                                                             monkeypatch):
    """The sender's journal is what it would have written to the ledger: the next run that
    sends folds a dead sender's journal first (what it sent is not sent again, what it gave
    back or never tried is sent) and removes it; a living sender's journal is left to it, and
    a line still being written is left for later."""
    for k, v in many_reports(tmp_path, 3, {}).items():
        monkeypatch.setenv(k, v)
    rt = open_runtime(dt.date(Y, 12, 2))
    summary = CollectSummary()
    keep_new(rt.settings.inbox_source(), rt.ledger, rt.settings.data, summary, rt.today)
    process({rt.plan.plan.id: rt.plan}, rt.ledger, {rt.plan.plan.id: rt.cal}, rt.settings.data, Limits(), summary)
    rows = [r for r in rt.ledger.outbound("kh-test") if r["stage"] == "ack"]
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert rt.ledger.claim_many(rows, rt.now, f"{socket.gethostname()}:{dead.pid}") == [r["key"] for r in rows]
    journal = Journal(rt.ledger.path)   # written as the dead sender's would have been, then given its name
    journal.finish(rows[0]["key"], "sent")
    journal.release(rows[1]["key"], "")
    journal.close()
    gone = journal.path.rename(journal.path.with_name(f"{rt.ledger.path.name}.sent.{dead.pid}"))
    live = Journal(rt.ledger.path)      # this process's own, still being written
    live.finish("kh-test/none", "sent")
    whole = live.path.stat().st_size
    os.write(live.fd, json.dumps(["kh-test/half", "sent"]).encode())
    assert rt.ledger.fold(live.path) == (whole, 1)
    sent = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                               rt.settings.out, ("ack",), rt.now))
    assert not gone.exists() and live.path.exists()
    assert sent.sent == 2 and sorted(key_of(m) for m in smtp_server.accepted) == [rows[1]["key"], rows[2]["key"]]
    assert {r["status"] for r in rt.ledger.outbound("kh-test") if r["stage"] == "ack"} == {"sent"}
    live.close()
