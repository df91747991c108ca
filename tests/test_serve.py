"""Schedules: deployments carry the plan's cron lines in Vietnam's time zone, and a flow
served against a real local Prefect server runs on its schedule."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from dondoc.serve import deployments
from tests.conftest import ROOT
from tests.servers import free_port


def test_deployments_follow_the_plan(shipped):
    from dondoc.plans import read_plan
    second = read_plan(ROOT / "config" / "plans" / "binh-dan-hoc-vu-so.yaml")
    deps = {d.name: d for d in deployments([shipped, second])}
    # per plan its own schedules; one collect for all (the mailbox is read once)
    assert set(deps) == {f"hoc-tap-suot-doi-{n}" for n in ("dispatch", "collect", "escalate", "report")} | {
        f"binh-dan-hoc-vu-so-{n}" for n in ("dispatch", "escalate", "report")}
    assert deps["binh-dan-hoc-vu-so-dispatch"].parameters == {"plans": ["binh-dan-hoc-vu-so"]}
    for name, cron in (("dispatch", "0 8 * * 1-5"), ("collect", "*/15 7-16 * * 1-5"),
                       ("escalate", "30 8 * * 1-5"), ("report", "0 9 * * 1-5")):
        d = deps[f"hoc-tap-suot-doi-{name}"]
        (schedule,) = d.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (cron, "Asia/Ho_Chi_Minh")
        assert d.concurrency_limit == 1
    assert deps["hoc-tap-suot-doi-report"].parameters == {"plans": ["hoc-tap-suot-doi"], "when_due": True}


def _completed(url: str) -> list[dict]:
    body = json.dumps({"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}).encode()
    req = urllib.request.Request(f"{url}/flow_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_serve_starts_a_prefect_server_and_a_scheduled_run_completes(tmp_path, mini_text):
    plan = tmp_path / "units.yaml"
    plan.write_text(mini_text + 'schedules:\n  collect: "* * * * *"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "DONDOC_"))}
    env |= {"DONDOC_CONFIG": str(plan), "DONDOC_DB": str(tmp_path / "l.db"), "DONDOC_DATA": str(tmp_path / "data"),
            "DONDOC_INBOX": f"maildir:{tmp_path / 'Maildir'}", "PREFECT_HOME": str(tmp_path / "prefect")}
    log = tmp_path / "serve.log"
    web_port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dondoc.cli", "serve", "--web-port", str(web_port)],
                            cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 240
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            line = next((x for x in log.read_text().splitlines() if x.startswith("Prefect server: ")), None)
            url = line.split()[2] + "/api" if line else None
            time.sleep(0.5)
        assert url, f"serve did not start a Prefect server: {log.read_text()[-2000:]}"
        while time.monotonic() < deadline:
            runs = [r for r in _completed(url) if r["name"] and r.get("deployment_id")]
            if runs:
                break
            time.sleep(2)
        assert runs, "no scheduled run completed"
        assert (tmp_path / "l.db").exists()   # the collect flow really ran, in its own process
        assert f"http://127.0.0.1:{web_port}/" in log.read_text().splitlines()   # the desk's address, on its own line
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=30) as page:
            assert "Tình hình báo cáo" in page.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)   # serve stops, and stops the server it started
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
