"""`dondoc serve`: every flow as a Prefect deployment on its schedule, served by one process.

Side effects: may start a local Prefect server (`prefect server start`, SQLite under the data
folder) when no PREFECT_API_URL is set — schedules never fire on Prefect's ephemeral
server — and stops it on exit. Schedules are cron lines from the plan, in Asia/Ho_Chi_Minh
(a bare cron would be UTC). Each deployment allows one run at a time; the ledger's claims
keep two runs from sending the same letter even where that limit does not hold.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from models.plan import Plan


def deployments(plans: list[Plan]):
    """Per plan: dispatch, escalate and report on its own schedules; one collect for every
    plan (the mailbox is read once), on the default plan's schedule."""
    from prefect import Flow
    from prefect.schedules import Cron

    from flows.collect import collect
    from flows.dispatch import dispatch
    from flows.escalate import escalate
    from flows.report import report
    out = []
    for i, plan in enumerate(plans):
        tz, s, pid = plan.calendar.timezone, plan.schedules, plan.plan.id
        runs: list[tuple[str, Flow, str, dict]] = [("dispatch", dispatch, s.dispatch, {"plans": [pid]}),
                ("escalate", escalate, s.escalate, {"plans": [pid]}),
                ("report", report, s.report, {"plans": [pid], "when_due": True})]
        if i == 0:
            runs.append(("collect", collect, s.collect, {}))
        out += [flow.to_deployment(name=f"{pid}-{name}", schedules=[Cron(cron, timezone=tz)], concurrency_limit=1,
                                   parameters=params, tags=[pid]) for name, flow, cron, params in runs]
    return out


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def prefect_server(home: Path, timeout: float = 120):
    """A local Prefect API server for as long as the block runs; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home.resolve()), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def serve(plans: list[Plan], home: Path) -> None:
    """Serve every deployment until interrupted, against PREFECT_API_URL or a server started here."""
    from prefect import serve as prefect_serve
    if os.environ.get("PREFECT_API_URL"):
        prefect_serve(*deployments(plans))
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with prefect_server(home) as url:
        os.environ["PREFECT_API_URL"] = url   # for the flow runs serve starts as subprocesses
        print(f"Prefect server: {url.removesuffix('/api')} (UI); stopped when dondoc serve stops", flush=True)
        with temporary_settings({PREFECT_API_URL: url}):   # prefect read its settings on import
            prefect_serve(*deployments(plans))
