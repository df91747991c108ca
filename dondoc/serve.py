"""`dondoc serve`: every flow as a Prefect deployment on its schedule, served by one process
(or registered in a work pool, for workers elsewhere to run).

Side effects: may start a local Prefect server (`prefect server start`, SQLite under the data
folder) when no PREFECT_API_URL is set — schedules never fire on Prefect's ephemeral
server — and stops it on exit. While it runs, the API's address and serve's pid are recorded
in `var/prefect-api.json` (next to the ledger), so that `dondoc run` uses that server instead
of starting a temporary one. Schedules are cron lines from the plan, in Asia/Ho_Chi_Minh
(a bare cron would be UTC). Each deployment allows one run at a time; the ledger's claims
keep two runs from sending the same letter even where that limit does not hold.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from models.plan import Plan

RECORD = "prefect-api.json"


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


def to_pool(plans: list[Plan], pool: str, **parameters) -> list[str]:
    """Register every deployment of `plans` (see `deployments`) in the work pool `pool` of the
    server PREFECT_API_URL names, creating it as a process pool when missing; `parameters`
    (e.g. `today` for a replayed day) are added to each. The pool's workers run them
    (`prefect worker start --pool NAME`, with the same DONDOC_* settings): each run starts in
    this process's working folder, whose `flows/` it imports, so a worker's machine needs this
    checkout at the same path. Returns the deployments' names."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(
                name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:
            pass
    names = []
    for d in deployments(plans):
        d.parameters = {**d.parameters, **parameters}
        d.job_variables = {**d.job_variables, "working_dir": str(Path.cwd())}   # the entrypoint is relative to it
        d.apply(work_pool_name=pool)
        names.append(d.name)
    return names


def _answers(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def running_api(var: Path, timeout: float = 5.0) -> str | None:
    """The API URL a running `dondoc serve` recorded in `var`, if its process is alive and the
    API answers /health within `timeout` seconds (a loaded machine's server can be slow to
    answer; a temporary server costs more than waiting); else None. Reads only."""
    try:
        record = json.loads((var / RECORD).read_text(encoding="utf-8"))
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    url = str(record.get("url") or "")
    return url if url.startswith(("http://", "https://")) and _answers(url, timeout) else None


@contextmanager
def recorded(var: Path, url: str):
    """`url` and this process's pid written to `var/prefect-api.json` for as long as the block
    runs; removed after, unless another serve has written its own since."""
    path = var / RECORD
    var.mkdir(parents=True, exist_ok=True)
    mine = json.dumps({"url": url, "pid": os.getpid()})
    path.write_text(mine, encoding="utf-8")
    try:
        yield path
    finally:
        try:
            if path.read_text(encoding="utf-8") == mine:
                path.unlink()
        except OSError:
            pass


@contextmanager
def prefect_server(home: Path, timeout: float = 120):
    """A local Prefect API server for as long as the block runs; yields its URL. Its UI talks
    to the same address (PREFECT_UI_API_URL), not to Prefect's default port 4200."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home.resolve()), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port), "PREFECT_UI_API_URL": url}
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
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


@contextmanager
def _api(home: Path):
    """PREFECT_API_URL when the operator set it, else a server started here (and stopped after);
    yields the URL, set in this process's settings and environment (the flow runs serve
    starts are subprocesses)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings
    if url := os.environ.get("PREFECT_API_URL"):
        yield url
        return
    with prefect_server(home) as url:
        os.environ["PREFECT_API_URL"] = url
        with temporary_settings({PREFECT_API_URL: url}):   # prefect read its settings on import
            yield url


def serve(plans: list[Plan], home: Path, web=None, var: Path | None = None, pool: str | None = None) -> None:
    """Serve every deployment until interrupted (SIGTERM or Ctrl-C), against PREFECT_API_URL or
    a server started here, its address recorded in `var` for `dondoc run`; with `pool`, register
    them in that work pool instead and leave their runs to its workers. `web` (a uvicorn server of
    the clerk's desk) runs beside it in a thread. Each address is printed on a line of its own."""
    import threading

    from prefect import serve as prefect_serve
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # finally blocks stop the server
    if web is not None:
        from dondoc.web import address
        threading.Thread(target=web.run, name="dondoc-web", daemon=True).start()
        print("Trang web cho văn phòng:", flush=True)
        print(address(web), flush=True)
    with _api(home) as url:
        print("Giao diện Prefect:", flush=True)
        print(url.removesuffix("/api").rstrip("/") + "/", flush=True)
        with recorded(var or home.parent, url):
            if pool:
                names = to_pool(plans, pool)
                print(f"Đã đăng ký {len(names)} luồng vào work pool {pool}; máy chạy: "
                      f"prefect worker start --pool {pool}", flush=True)
                threading.Event().wait()
            else:
                prefect_serve(*deployments(plans))
