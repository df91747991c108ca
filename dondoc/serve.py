"""`dondoc serve`: every flow as a Prefect deployment on its schedule, served by one process
(or registered in a work pool, for workers elsewhere to run).

Side effects: may start a local Prefect server (`prefect server start`, SQLite under the data
folder) when no PREFECT_API_URL is set — schedules never fire on Prefect's ephemeral
server — and stops it on exit. While it runs, the API's address and serve's pid are recorded
in `var/prefect-api.json` (next to the ledger, readable by its owner only) with the address and
token of serve's hand-off port: `dondoc run` hands its run to this warm process (the flow
runs here, against this server, and answers in about a second) when both read the same
settings from the same folder, and otherwise uses this server rather than a temporary one.
Schedules are cron lines from the plan, in Asia/Ho_Chi_Minh
(a bare cron would be UTC). Each deployment allows one run at a time; the ledger's claims
keep two runs from sending the same letter even where that limit does not hold.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def _record(var: Path) -> dict:
    """What a `dondoc serve` still running recorded in `var`; {} when none (or its process is gone)."""
    try:
        record = json.loads((var / RECORD).read_text(encoding="utf-8"))
        os.kill(int(record["pid"]), 0)
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def running_api(var: Path, timeout: float = 5.0) -> str | None:
    """The API URL a running `dondoc serve` recorded in `var`, if its process is alive and the
    API answers /health within `timeout` seconds (a loaded machine's server can be slow to
    answer; a temporary server costs more than waiting); else None. Reads only."""
    url = str(_record(var).get("url") or "")
    return url if url.startswith(("http://", "https://")) and _answers(url, timeout) else None


@contextmanager
def recorded(var: Path, url: str, handoff: Runs | None = None):
    """`url`, this process's pid and the `handoff` port's address and token written to
    `var/prefect-api.json` (mode 0600: the token lets a local process run flows here) for as
    long as the block runs; removed after, unless another serve has written its own since."""
    path = var / RECORD
    var.mkdir(parents=True, exist_ok=True)
    record: dict = {"url": url, "pid": os.getpid()}
    if handoff is not None:
        record |= {"run": f"http://127.0.0.1:{handoff.server_port}/run", "token": handoff.token}
    mine = json.dumps(record)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(mine)
    try:
        yield path
    finally:
        try:
            if path.read_text(encoding="utf-8") == mine:
                path.unlink()
        except OSError:
            pass


def _fingerprint() -> str:
    """What makes a run here the same run as in the caller's process: the working folder and
    every DONDOC_* setting. Hashed, so no password travels."""
    same = [str(Path.cwd()), sorted((k, v) for k, v in os.environ.items() if k.startswith("DONDOC_"))]
    return hashlib.sha256(json.dumps(same).encode()).hexdigest()


def run_flow(stage: str, today: dt.date | None, extra: dict) -> tuple[int, str]:
    """Run the flow `stage` once in this process, as a Prefect flow run against PREFECT_API_URL.
    Returns (0, its summary as JSON), or (1, the line that says why it stopped) when the mail
    server refused or a report does not exist; anything else is raised."""
    import asyncio
    import importlib

    from dondoc.smtp import DeliveryError
    from flows.report import NoSuchReport
    flow = getattr(importlib.import_module(f"flows.{stage}"), stage)
    try:
        summary = asyncio.run(flow(today=today, **extra))
    except (DeliveryError, NoSuchReport) as e:
        return 1, f"{stage}: {e}"   # the error says what to do
    return 0, json.dumps(summary, ensure_ascii=False)


class _Warnings(logging.Handler):
    """The warnings dondoc's own code logs during a run (not Prefect's account of the failure,
    which the answer's line says better), kept to hand back to the caller."""
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        if f"{os.sep}prefect{os.sep}" not in record.pathname:
            self.lines.append(f"{record.levelname}: {record.getMessage()}")


class _Handoff(BaseHTTPRequestHandler):
    """POST /run {stage, today, extra, fingerprint} with the token: the flow runs in this
    process, one run at a time; the answer is {code, text, warnings}."""
    one_at_a_time = threading.Lock()

    def do_POST(self):
        runs = self.server
        assert isinstance(runs, Runs)
        size = int(self.headers.get("Content-Length") or 0)
        token = self.headers.get("Authorization", "")
        if self.path != "/run" or not hmac.compare_digest(token, f"Bearer {runs.token}"):
            return self._answer(403, {"text": "sai mã"})
        if not 0 < size <= 65536:
            return self._answer(413, {"text": "yêu cầu quá lớn"})
        ask = json.loads(self.rfile.read(size))
        if ask.get("fingerprint") != runs.fingerprint:
            return self._answer(409, {"text": "dondoc serve chạy với thiết lập hoặc thư mục khác"})
        today = dt.date.fromisoformat(ask["today"]) if ask.get("today") else None
        kept = _Warnings()
        loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs", "dondoc")]
        with self.one_at_a_time:
            for log in loggers:
                log.addHandler(kept)
            try:
                from prefect.context import SyncClientContext
                from prefect.settings import PREFECT_API_URL, temporary_settings
                # serve's server, not an ephemeral one of this thread's; one client for all the run's tasks
                with temporary_settings({PREFECT_API_URL: runs.api_url}), SyncClientContext.get_or_create():
                    code, text = run_flow(ask["stage"], today, ask.get("extra") or {})
            except Exception as e:
                from dondoc.cli import explain
                from dondoc.settings import Settings
                code, text = 1, f"dondoc run: {explain(e, Settings())}"
            finally:
                for log in loggers:
                    log.removeHandler(kept)
        self._answer(200, {"code": code, "text": text, "warnings": kept.lines})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Runs(ThreadingHTTPServer):
    """serve's hand-off port on 127.0.0.1 (any free port), with a fresh token and the settings
    it was started with; its runs go to the Prefect API at `api_url`. Not yet serving."""
    def __init__(self, api_url: str):
        super().__init__(("127.0.0.1", 0), _Handoff)
        self.api_url, self.token, self.fingerprint = api_url, secrets.token_urlsafe(32), _fingerprint()


def hand_off(var: Path, stage: str, today: dt.date | None, extra: dict) -> tuple[int, str, list[str]] | None:
    """Ask the `dondoc serve` recorded in `var` to run the flow: (exit code, the summary or the
    error line, the run's warnings). None when no serve is recorded or alive, it reads other
    settings or another folder, or it cannot be reached: the caller runs the flow itself.
    A serve that stops mid-run answers with exit code 1 and what to do."""
    record = _record(var)
    try:
        host, port = record["run"].removeprefix("http://").removesuffix("/run").rsplit(":", 1)
        token = str(record["token"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if os.environ.get("PREFECT_API_URL", record.get("url")) != record.get("url"):
        return None   # the operator named another Prefect server
    body = json.dumps({"stage": stage, "today": today.isoformat() if today else None, "extra": extra,
                       "fingerprint": _fingerprint()})
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.connect()
    except OSError:
        return None
    conn.sock.settimeout(None)   # a run takes as long as it takes
    try:
        conn.request("POST", "/run", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError) as e:
        return 1, (f"dondoc serve ngừng khi đang chạy {stage} ({e}): chạy lại `dondoc run {stage}`; "
                   "thư đã gửi không bị gửi lại"), []
    finally:
        conn.close()
    if response.status != 200:
        return None
    return int(answer["code"]), str(answer["text"]), [str(w) for w in answer.get("warnings", [])]


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
        runs = None if pool else Runs(url)   # with a pool, runs belong to its workers
        if runs is not None:
            threading.Thread(target=runs.serve_forever, name="dondoc-run", daemon=True).start()
        with recorded(var or home.parent, url, runs):
            if pool:
                names = to_pool(plans, pool)
                print(f"Đã đăng ký {len(names)} luồng vào work pool {pool}; máy chạy: "
                      f"prefect worker start --pool {pool}", flush=True)
                threading.Event().wait()
            else:
                prefect_serve(*deployments(plans))
