"""Benchmark: how long `dondoc run` takes, beside a running `dondoc serve`, with Prefect's
temporary server, and for the same work called directly.

    .venv/bin/python bench/run.py

The shipped plan (config/), a local aiosmtpd sink, a temporary data folder per way of running
(each its own ledger). "serve" is a real `dondoc serve` started in that folder (its schedules
fire on the real clock, at most once a quarter hour, and only on working days' office hours:
a bench run by night sees none); `dondoc run` finds it next to the ledger and hands it the run.
Measured, wall clock of the command:
  dispatch, request day   `dondoc run dispatch --today 05/11/2026`: 25 requests recorded, the
                          công văn drafted and its draft emailed to the secretariat
  dispatch, issued        the draft registered (`dondoc issue`), then the same dispatch: the
                          letters to every unit sent
  collect, nothing new    `dondoc run collect` on an empty mailbox
for three ways: serve (the run handed to the warm serve process), a temporary server (no serve), and
direct (the flow's body, `flow.fn`, in a fresh interpreter: imports included, no Prefect API).
Targets: dispatch and collect-nothing-new under 2 s against serve.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DAY = "2026-11-05"
TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
DIRECT = """
import asyncio, datetime as dt, importlib, sys
from prefect.logging import disable_run_logger
stage = sys.argv[1]
flow = getattr(importlib.import_module("flows." + stage), stage)
with disable_run_logger():
    print(asyncio.run(flow.fn(today=dt.date.fromisoformat(sys.argv[2]))))
"""


class Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def folder(base: Path, name: str, smtp_port: int) -> dict:
    """A data folder of its own (ledger, output, empty Maildir, Prefect home); its environment."""
    work = base / name
    for sub in ("cur", "new", "tmp"):
        (work / "Maildir" / sub).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DONDOC_", "PREFECT_API_URL"))}
    return env | {"DONDOC_DB": str(work / "l.db"), "DONDOC_OUT": str(work / "out"), "DONDOC_DATA": str(work / "data"),
                  "DONDOC_INBOX": f"maildir:{work / 'Maildir'}", "DONDOC_SMTP_HOST": "127.0.0.1",
                  "DONDOC_SMTP_PORT": str(smtp_port), "DONDOC_SMTP_SECURITY": "none",
                  "PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}


def timed(env: dict, *args: str) -> float:
    """Wall seconds of one command (run from the repository); raises if it fails."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{p.stdout[-1500:]}\n{p.stderr[-3000:]}")
    return took


def issue_draft(env: dict) -> None:
    """Register the day's draft as issued (a stand-in signed PDF when LibreOffice made none)."""
    db = sqlite3.connect(env["DONDOC_DB"])
    (doc_id, pdf), = db.execute("select id, pdf_path from documents where state = 'drafted'").fetchall()
    db.close()
    signed = Path(pdf) if pdf and Path(pdf).exists() else Path(env["DONDOC_OUT"]) / "ky-so.pdf"
    if not signed.exists():
        signed.write_bytes(TINY_PDF * 400)
    timed(env, "-m", "dondoc.cli", "issue", str(doc_id), "--number", "1/STTTT-TTBCXB", "--date", "05/11/2026",
          "--signed", str(signed), "--today", DAY)


def measure(env: dict, way: str, sink: Sink) -> dict:
    """The three measures for one way of running, in a fresh ledger."""
    def run(stage: str) -> float:
        if way == "direct":
            return timed(env, "-c", DIRECT, stage, DAY)
        return timed(env, "-m", "dondoc.cli", "run", stage, "--today", DAY)
    out = {"dispatch, request day": run("dispatch")}
    issue_draft(env)
    before = sink.count
    out["dispatch, issued"] = run("dispatch")
    out["letters sent"] = sink.count - before
    out["collect, nothing new"] = run("collect")
    return out


def main() -> None:
    from aiosmtpd.controller import Controller

    from dondoc.serve import running_api
    from tests.servers import free_port
    base = Path(tempfile.mkdtemp(prefix="dondoc-bench-run-"))
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    results = {}
    try:
        env = folder(base, "serve", port)
        t = time.perf_counter()
        serve = subprocess.Popen([sys.executable, "-m", "dondoc.cli", "serve", "--web-port", str(free_port())],
                                 cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while running_api(base / "serve") is None:
                if serve.poll() is not None or time.perf_counter() - t > 300:
                    raise SystemExit("dondoc serve did not start")
                time.sleep(0.5)
            started = time.perf_counter() - t
            results["serve"] = measure(env, "serve", sink)
        finally:
            serve.terminate()
            serve.wait(60)
        results["temporary server"] = measure(folder(base, "temporary", port), "temporary", sink)
        results["direct (flow.fn)"] = measure(folder(base, "direct", port), "direct", sink)
    finally:
        controller.stop()
    load = os.getloadavg()[0]
    print(f"\nshipped plan, --today {DAY}; dondoc serve start-up (once): {started:.1f} s; "
          f"load average {load:.1f} on {os.cpu_count()} cores\n")
    rows = [("dispatch, request day", "< 2 s"), ("dispatch, issued", "< 2 s"), ("collect, nothing new", "< 2 s")]
    head = ("measure", "ours (serve)", "baseline (temporary server)", "direct (flow.fn)", "target")
    print(f"{head[0]:<24}{head[1]:>14}{head[2]:>30}{head[3]:>18}{head[4]:>9}")
    for name, target in rows:
        print(f"{name:<24}" + "".join(f"{results[w][name]:>{n}.2f} s" for w, n in (
            ("serve", 12), ("temporary server", 28), ("direct (flow.fn)", 16))) + f"{target:>9}")
    print("letters sent by 'dispatch, issued': " + ", ".join(f"{w} {r['letters sent']}" for w, r in results.items()))


if __name__ == "__main__":
    main()
