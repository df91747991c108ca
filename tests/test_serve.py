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
from itertools import pairwise
from pathlib import Path

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
        ui = None
        deadline = time.monotonic() + 240
        while ui is None and time.monotonic() < deadline and proc.poll() is None:
            lines = log.read_text().splitlines()
            ui = next((b for a, b in pairwise(lines) if a == "Giao diện Prefect:"), None)   # own line
            time.sleep(0.5)
        assert ui, f"serve did not start a Prefect server: {log.read_text()[-2000:]}"
        url = ui.rstrip("/") + "/api"
        with urllib.request.urlopen(f"{ui}ui-settings", timeout=10) as r:   # the UI asks this server, not :4200
            assert json.loads(r.read())["api_url"] == url
        record_file = tmp_path / "prefect-api.json"   # next to the ledger, the owner's alone (it holds a token)
        record = json.loads(record_file.read_text())
        assert (record["url"], record["pid"]) == (url, proc.pid) and record["run"].startswith("http://127.0.0.1:")
        assert len(record["token"]) >= 40 and record_file.stat().st_mode & 0o077 == 0
        # a run beside serve is handed to serve: it runs there, on serve's server, and the
        # command prints its summary and nothing of Prefect's (no temporary server, no note)
        run = subprocess.run([sys.executable, "-m", "dondoc.cli", "run", "collect"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        assert json.loads(run.stdout)["fetched"] == 0
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        commands = [Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ") for c in children]
        assert not [c for c in commands if b"uvicorn" in c], commands   # no ephemeral server of its own
        assert [r for r in _completed(url) if r["flow_id"] and not r.get("deployment_id")], "the run is not on serve"
        # a failure there is the same one line here, and exit code 1
        run = subprocess.run([sys.executable, "-m", "dondoc.cli", "run", "report", "--period", "2019"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 1 and run.stdout == "", run.stdout
        (line,) = run.stderr.strip().splitlines()
        assert line.startswith("report: ") and "kỳ 2019 chưa được theo dõi" in line
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
    assert not (tmp_path / "prefect-api.json").exists()   # serve stopped: dondoc run no longer looks there


def test_run_uses_the_recorded_server_only_while_it_answers(tmp_path, monkeypatch, capsys):
    import http.server
    import threading

    from dondoc.cli import _reach_prefect
    from dondoc.serve import recorded, running_api
    from dondoc.settings import Settings

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{api.server_address[1]}/api"
    settings = Settings(db=tmp_path / "l.db")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    try:
        assert running_api(tmp_path) is None                      # no serve
        with recorded(tmp_path, url):
            assert running_api(tmp_path) == url
            _reach_prefect(settings)
            assert os.environ["PREFECT_API_URL"] == url and capsys.readouterr().err == ""
            monkeypatch.delenv("PREFECT_API_URL")
            api.shutdown()
            api.server_close()
            assert running_api(tmp_path) is None                  # recorded, but no longer answering
        (tmp_path / "prefect-api.json").write_text(json.dumps({"url": url, "pid": 2**22 + 12345}))
        assert running_api(tmp_path) is None                      # a dead serve's record
        _reach_prefect(settings)
        assert "PREFECT_API_URL" not in os.environ
        assert "khoảng 10 giây" in capsys.readouterr().err        # said once, in Vietnamese
    finally:
        monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_a_run_is_handed_to_serve_only_with_its_token_and_its_settings(tmp_path, monkeypatch):
    """serve's hand-off port runs nothing for a caller without the recorded token, nor for one
    whose settings or folder differ (the caller then runs the flow itself); a serve that drops
    the connection mid-run is one line that says what to do."""
    import datetime as dt
    import http.client
    import socket
    import threading

    from dondoc.serve import Runs, hand_off, recorded
    runs = Runs("http://127.0.0.1:9/api")
    threading.Thread(target=runs.serve_forever, daemon=True).start()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    try:
        with recorded(tmp_path, "http://127.0.0.1:9/api", runs):
            conn = http.client.HTTPConnection("127.0.0.1", runs.server_port, timeout=10)
            conn.request("POST", "/run", json.dumps({"stage": "dispatch"}), {"Authorization": "Bearer guess"})
            assert conn.getresponse().status == 403
            with monkeypatch.context() as m:   # the caller reads other settings than serve
                m.setenv("DONDOC_SMTP_HOST", "other.example")
                assert hand_off(tmp_path, "collect", dt.date(2026, 11, 5), {}) is None
            monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")   # the operator named a server
            assert hand_off(tmp_path, "collect", None, {}) is None
    finally:
        runs.shutdown()
        runs.server_close()
    # a serve that accepts the run and dies before answering
    monkeypatch.delenv("PREFECT_API_URL")
    with socket.socket() as dying:
        dying.bind(("127.0.0.1", 0))
        dying.listen()
        (tmp_path / "prefect-api.json").write_text(json.dumps({"url": "http://127.0.0.1:9/api", "pid": os.getpid(),
            "run": f"http://127.0.0.1:{dying.getsockname()[1]}/run", "token": "t"}))
        threading.Thread(target=lambda: dying.accept()[0].close(), daemon=True).start()
        code, line, warnings = hand_off(tmp_path, "dispatch", None, {"plans": None})
    assert code == 1 and "chạy lại `dondoc run dispatch`" in line and "không bị gửi lại" in line
    (tmp_path / "prefect-api.json").write_text(json.dumps({"url": "http://127.0.0.1:9/api", "pid": os.getpid(),
        "run": f"http://127.0.0.1:{free_port()}/run", "token": "t"}))
    assert hand_off(tmp_path, "dispatch", None, {}) is None   # nobody listens: run here
