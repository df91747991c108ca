"""The HTML status page, opened in a real headless browser (Debian's chromium): it loads,
and its numbers are those of `dondoc status --json`."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys

from dondoc.ledger import Ledger
from models.rules import due_actions
from tests.conftest import ROOT

CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_the_status_page_in_a_browser(tmp_path, env, shipped):
    led = Ledger(env["DONDOC_DB"])
    led.record_actions(due_actions(shipped, led.state(shipped.plan.id), dt.date(2026, 11, 5)),
                       dt.date(2026, 11, 5), "stttt.daknong.example")
    pid = shipped.plan.id
    led.record_report(pid, "2026", "truyen-thong-bao-chi", "bao-dak-nong", dt.date(2026, 12, 1), source="email")
    led.record_report(pid, "2026", "truyen-thong-bao-chi", "dai-ptth", dt.date(2026, 12, 8), source="paper")
    led.record_report(pid, "2026", "so-nganh-dang-tai", "so-gddt", dt.date(2026, 11, 20), source="email")
    page = tmp_path / "status.html"
    run = [sys.executable, "-m", "dondoc.cli", "status", "--today", "2026-12-10"]
    subprocess.run(run + ["--html", str(page)], check=True, cwd=ROOT, capture_output=True)
    expected = json.loads(subprocess.run(run + ["--json"], check=True, cwd=ROOT, capture_output=True,
                                         text=True).stdout)
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run `make test` (it installs Debian's chromium)"
    base = [chromium, *CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert "<title>Tình hình báo cáo — 10/12/2026</title>" in dom
    counts_table = dom[dom.index('id="counts"'):dom.index("</table>", dom.index('id="counts"'))]
    shown = {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', counts_table)}
    assert shown == expected["counts"] and shown["on_time"] == 2 and shown["late"] == 1
    per_task = re.search(r'data-task="truyen-thong-bao-chi" data-period="2026">(.*?)</tr>', dom, re.S)[1]
    assert {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', per_task)} == {
        "not_due": 0, "on_time": 1, "late": 1, "overdue": 2, "exempt": 0, "early": 0}
    assert dom.count('data-status="') == len(expected["rows"])
    shot = tmp_path / "status.png"
    subprocess.run(base + [f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()], capture_output=True,
                   timeout=120, check=True)
    assert shot.stat().st_size > 10_000   # a drawn page, not a blank one
