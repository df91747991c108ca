"""Beyond one machine: a Prefect server, a process work pool holding the plans' deployments
(dondoc.serve.to_pool, what `dondoc serve --pool` calls), and a worker in another process with
its own PREFECT_HOME: the scheduled dispatch it runs sends each unit's letter once. Then the
command itself registers the plan's deployments in the pool."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from email.utils import getaddresses

from dondoc.ledger import Ledger
from dondoc.serve import prefect_server, to_pool
from tests.conftest import ROOT, issue_drafts
from tests.servers import free_port

DAY = dt.date(2026, 11, 5)    # the mini plan's request day (due 05/12, first request 30 days before)
NEVER = '"0 0 1 1 *"'
SCHEDULES = f"schedules:\n  dispatch: \"* * * * *\"\n  collect: {NEVER}\n  escalate: {NEVER}\n  report: {NEVER}\n"


def _runs(url: str, deployment: str) -> list[dict]:
    body = json.dumps({"deployments": {"name": {"any_": [deployment]}}}).encode()
    req = urllib.request.Request(f"{url}/flow_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _serve_registers_the_pool(tmp_path, url: str, env: dict) -> None:
    """`dondoc serve --pool dondoc` (the command, on the operator's server): every deployment of
    the plan in that pool on its cron line, the web page's address printed, no run of its own."""
    log = tmp_path / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "dondoc.cli", "serve", "--pool", "dondoc", "--web-port",
                              str(free_port())], cwd=ROOT, env={**env, "PREFECT_HOME": str(tmp_path / "serve-home")},
                             stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "work pool dondoc" not in log.read_text() and time.monotonic() < deadline and serve.poll() is None:
            time.sleep(0.5)
        assert "Đã đăng ký 4 luồng vào work pool dondoc" in log.read_text(), log.read_text()[-2000:]
        req = urllib.request.Request(f"{url}/deployments/filter", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            deps = {d["name"]: d for d in json.loads(r.read())}
        assert {d["work_pool_name"] for d in deps.values()} == {"dondoc"}
        assert deps["kh-test-dispatch"]["schedules"][0]["schedule"]["cron"] == "* * * * *"
        assert deps["kh-test-dispatch"]["parameters"] == {"plans": ["kh-test"]}   # the real day, not the test's
        record = json.loads((tmp_path / "prefect-api.json").read_text())   # next to the ledger
        assert record["url"] == url and "run" not in record   # runs belong to the pool's workers: no hand-off
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(60)


def test_a_worker_runs_the_scheduled_dispatch_once(tmp_path, monkeypatch, smtp_server, env, mini_text):
    from prefect.logging import disable_run_logger
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from dondoc.plans import read_plan
    from flows.dispatch import dispatch
    plan_file = tmp_path / "units.yaml"
    plan_file.write_text(mini_text + SCHEDULES, encoding="utf-8")
    monkeypatch.setenv("DONDOC_CONFIG", str(plan_file))
    monkeypatch.chdir(ROOT)                       # deployments name their code relative to here
    with disable_run_logger():                    # the day's công văn drafted, then issued by the văn thư
        asyncio.run(dispatch.fn(today=DAY))
    assert issue_drafts(env | {"DONDOC_CONFIG": str(plan_file)}, DAY) == [1]
    smtp_server.accepted.clear()                  # the draft's email to the secretariat

    with prefect_server(tmp_path / "server") as url:
        with temporary_settings({PREFECT_API_URL: url}):
            names = to_pool([read_plan(plan_file)], "dondoc", today=DAY.isoformat())
        assert "kh-test-dispatch" in names
        worker_env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "worker-home"),
                      "PREFECT_WORKER_QUERY_SECONDS": "2", "DONDOC_CONFIG": str(plan_file)}
        log = tmp_path / "worker.log"
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "dondoc"],
                                  cwd=ROOT, env=worker_env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 240     # the next minute, the worker's start and the run's imports
            done: list[dict] = []
            while not done and time.monotonic() < deadline and worker.poll() is None:
                runs = _runs(url, "kh-test-dispatch")
                bad = [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]
                assert not bad, f"{bad[0]['state_name']}: {log.read_text()[-3000:]}"
                done = [r for r in runs if r["state_type"] == "COMPLETED"]
                time.sleep(1)
            assert done, f"no scheduled dispatch completed: {log.read_text()[-3000:]}"
            assert done[0]["parameters"] == {"plans": ["kh-test"], "today": DAY.isoformat()}
            assert done[0]["auto_scheduled"]      # run by its schedule, not by hand
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        _serve_registers_the_pool(tmp_path, url, worker_env)

    got = sorted(tuple(a for _, a in getaddresses([str(m["To"])])) for m in smtp_server.accepted)
    assert got == [("vanthu@khong.example",), ("vanthu@muon.example", "bientap@muon.example"),
                   ("vanthu@som.example",)], got   # one email per unit, once
    rows = [r for r in Ledger(env["DONDOC_DB"]).outbound("kh-test") if r["unit_id"]]
    assert sorted((r["unit_id"], r["status"]) for r in rows) == [("khong", "sent"), ("muon", "sent"), ("som", "sent")]
