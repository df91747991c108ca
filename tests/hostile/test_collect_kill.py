"""`kill -9` of a collector process at random moments, then reruns: every report is counted
once, every acknowledgement is sent once (the replies issue, point 7)."""
from __future__ import annotations

import datetime as dt
import mailbox
import os
import random
import signal
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
    """A report from every unit asked on 05/11, and a corrected one from every third: returns the
    versions expected per unit."""
    plan = parse_plan(SHIPPED.read_text(encoding="utf-8"))
    expected = {}
    for i, task in enumerate(t for t in plan.tasks if t.due.days == ((5, 12),) and not t.event):
        for j, unit in enumerate(plan.units_of(task)):
            tag = f"[{plan.plan.id}/2026/{task.id}/{unit.id}]"
            for version in (1, 2) if j % 3 == 0 else (1,):
                when = dt.datetime(2026, 11, 20 + version, 9, j % 50, tzinfo=TZ)
                raw = corpus.message(unit.emails[0], f"Re: {tag} V/v báo cáo",
                                     f"{unit.name} báo cáo (lần {version}).\n"
                                     f"Tin, bài, ảnh đã đăng, phát: {10 * version + j}\n",
                                     mid=f"<k{i}-{j}-{version}@{unit.emails[0].split('@')[1]}>", date=when)
                box.add(f"Received: from mx by mail; {when.strftime('%a, %d %b %Y %H:%M:%S +0700')}\r\n".encode() + raw)
            expected[unit.id + "/" + task.id] = 2 if j % 3 == 0 else 1
    return expected


def test_kill_9_at_random_moments_counts_each_report_once_and_acknowledges_once(prefect_api, env, smtp_server,
                                                                               tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    expected = replies(box)
    environ = {**os.environ, **env, "PREFECT_API_URL": prefect_api, "DONDOC_INBOX": f"maildir:{tmp_path / 'Maildir'}",
               "DONDOC_DATA": str(tmp_path / "data"), "DONDOC_SMTP_CONNECTIONS": "1"}
    cmd = [sys.executable, "-m", "dondoc.cli", "run", "collect", "--today", "2026-11-25"]
    rnd = random.Random(20261126)
    kills = []
    for _ in range(4):                          # killed at a random moment, four times over
        proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rnd.uniform(1.0, 6.0)
        time.sleep(delay)                       # not waiting for time to pass: choosing when to kill
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills.append(round(delay, 2))
        proc.wait(30)
    done = subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert kills, "no run was killed: the collector finished before every kill moment"
    led = Ledger(env["DONDOC_DB"])
    reports = {f"{r['unit_id']}/{r['task_id']}": r["version"] for r in led.db["reports"].rows}
    assert reports == expected                                        # each counted once, the latest version
    acks = Counter("".join(str(m["X-Dondoc-Key"]).split()) for m in smtp_server.accepted)
    assert len(acks) == sum(expected.values()) and set(acks.values()) == {1}, kills   # each ack once
    assert {r["status"] for r in led.outbound("hoc-tap-suot-doi") if r["stage"] == "ack"} == {"sent"}
