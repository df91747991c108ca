"""`kill -9` of a collector process at random moments, then reruns: every report is counted
once, every acknowledgement is recorded with its report and sent (the replies issue, point 7);
a copy only of the one in flight at a kill. The acknowledgements are sent by the second process
beside the reading (`DONDOC_ACK_AHEAD=1`), which the kills leave running: the sequential path
is killed mid-delivery in tests/test_collect.py."""
from __future__ import annotations

import datetime as dt
import mailbox
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from dondoc.ledger import Ledger
from models.loader import parse_plan
from tests import corpus
from tests.conftest import ROOT, SHIPPED

TZ = dt.timezone(dt.timedelta(hours=7))


def replies(box: mailbox.Maildir) -> dict[str, int]:
    """A report from every unit asked on 05/11 and a corrected one, a third of them corrected twice:
    returns the versions expected per unit."""
    plan = parse_plan(SHIPPED.read_text(encoding="utf-8"))
    expected = {}
    for i, task in enumerate(t for t in plan.tasks if t.due.days == ((5, 12),) and not t.event):
        for j, unit in enumerate(plan.units_of(task)):
            tag = f"[{plan.plan.id}/2026/{task.id}/{unit.id}]"
            for version in (1, 2, 3) if j % 3 == 0 else (1, 2):
                when = dt.datetime(2026, 11, 20 + version, 9, j % 50, tzinfo=TZ)
                raw = corpus.message(unit.emails[0], f"Re: {tag} V/v báo cáo",
                                     f"{unit.name} báo cáo (lần {version}).\n"
                                     f"Tin, bài, ảnh đã đăng, phát: {10 * version + j}\n",
                                     mid=f"<k{i}-{j}-{version}@{unit.emails[0].split('@')[1]}>", date=when)
                box.add(f"Received: from mx by mail; {when.strftime('%a, %d %b %Y %H:%M:%S +0700')}\r\n".encode() + raw)
            expected[unit.id + "/" + task.id] = 3 if j % 3 == 0 else 2
    return expected


def test_kill_9_at_random_moments_counts_each_report_once_and_acknowledges_once(prefect_api, env, smtp_server,
                                                                               tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    expected = replies(box)
    environ = {**os.environ, **env, "PREFECT_API_URL": prefect_api, "DONDOC_INBOX": f"maildir:{tmp_path / 'Maildir'}",
               "DONDOC_DATA": str(tmp_path / "data"), "DONDOC_SMTP_CONNECTIONS": "1",
               "DONDOC_ACK_AHEAD": "1"}
    cmd = [sys.executable, "-m", "dondoc.cli", "run", "collect", "--today", "2026-11-25"]
    rnd = random.Random(20261126)
    db = env["DONDOC_DB"]

    def progress() -> int:
        """Replies read plus acknowledgements accepted so far: the collector is at work."""
        if not os.path.exists(db):
            return 0
        with sqlite3.connect(db) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master")}
            read = conn.execute("select count(*) from inbound where status != 'new'").fetchone()[0] \
                if "inbound" in tables else 0
        return read + len(smtp_server.accepted)

    kills = []
    for _ in range(4):                          # killed at a random moment of its work, four times over
        before = progress()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and progress() <= before and time.monotonic() < deadline:
            time.sleep(0.01)                    # polling for the collector's first step, not waiting for time
        time.sleep(rnd.uniform(0.0, 0.4))       # then a random moment within its work
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills.append(progress())
        proc.wait(30)
    done = subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert kills, "no run was killed: each collector finished before any work was seen"
    led = Ledger(env["DONDOC_DB"])
    reports = {f"{r['unit_id']}/{r['task_id']}": r["version"] for r in led.db["reports"].rows}
    assert reports == expected                                        # each counted once, the latest version
    acks = Counter("".join(str(m["X-Dondoc-Key"]).split()) for m in smtp_server.accepted)
    assert len(acks) == sum(expected.values()), kills                  # every acknowledgement went out
    # A copy can only be the one in flight when a run was killed (SMTP's 250 and our mark are two
    # events: README "Sending exactly once"), at most one per kill on one connection, and it carries
    # the same Message-ID, so the unit's mail client folds the two.
    twice = {k: n for k, n in acks.items() if n > 1}
    assert sum(n - 1 for n in twice.values()) <= len(kills), (twice, kills)
    for k in twice:
        assert len({m["Message-ID"] for m in smtp_server.accepted
                    if "".join(str(m["X-Dondoc-Key"]).split()) == k}) == 1
    assert {r["status"] for r in led.outbound("hoc-tap-suot-doi") if r["stage"] == "ack"} == {"sent"}
