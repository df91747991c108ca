"""Benchmark: letters built and sent per second, against a local aiosmtpd server.

    .venv/bin/python bench/dispatch.py [--sizes 100 1000 10000]

For each size, in separate processes (so peak memory is each one's own):
  dondoc     decide + record + build (.docx and reply form) + keep + send, the real outbox
  naive      docxtpl's own DocxTemplate(...).render() + save() per letter: the usual way
             (measured on at most 300 letters; its rate does not depend on the size)
  bytes      one pre-built message sent N times: the server's and the transport's limit
Target: 10,000 letters in under 60 s, peak memory under 500 MB.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import multiprocessing as mp
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DAY = dt.date(2026, 11, 5)


def plan_yaml(n: int) -> str:
    from tests.conftest import MINI
    head, _, _ = MINI.partition("units:\n")
    _, _, tail = MINI.partition("tasks:\n")
    units = "".join(f"  - {{id: u{i:05d}, name: \"UBND xã Số {i} huyện Đắk Mil\", group: huyen, "
                    f"emails: [vanthu{i}@xa{i}.example]}}\n" for i in range(n))
    return head + "units:\n" + units + "tasks:\n" + tail.replace("exempt: [mien]", "exempt: []")


def serve(port: int, ready) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"
    Controller(Sink(), hostname="127.0.0.1", port=port).start()
    ready.set()
    while True:
        time.sleep(3600)


def one(kind: str, n: int, port: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="dondoc-bench-"))
    (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
    os.environ.update(DONDOC_CONFIG=str(work / "units.yaml"), DONDOC_DB=str(work / "l.db"),
                      DONDOC_OUT=str(work / "out"), DONDOC_SMTP_HOST="127.0.0.1", DONDOC_SMTP_PORT=str(port),
                      DONDOC_SMTP_SECURITY="none", DONDOC_SMTP_CONNECTIONS="4")
    from dondoc.outbox import decide, deliver
    from dondoc.runtime import open_runtime
    from dondoc.smtp import Outgoing, send_all
    rt = open_runtime(DAY)
    count = n
    start = time.perf_counter()
    if kind == "dondoc":
        decide(rt.plan, rt.ledger, rt.cal, rt.today, ("request",))
        s = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                rt.settings.out, ("request",), rt.now))
        assert s.sent == n, s
    elif kind == "naive":
        from docxtpl import DocxTemplate
        from jinja2 import Environment

        from dondoc.ledger import action_row
        from dondoc.letters import context
        from models.rules import LedgerState, due_actions
        env = Environment(autoescape=True)
        count = min(n, 300)
        for a in due_actions(rt.plan, LedgerState(), DAY, rt.cal)[:count]:
            ctx = context(rt.plan, action_row(a, DAY, "<x@y>", None), rt.cal)
            for name in ("request", "reply-form"):
                tpl = DocxTemplate(str(ROOT / "templates" / "docx" / f"{name}.docx"))
                tpl.render(ctx, env)
                tpl.save(io.BytesIO())
    else:
        from dondoc.ledger import action_row
        from dondoc.letters import build_letter
        from models.rules import LedgerState, due_actions
        a = due_actions(rt.plan, LedgerState(), DAY, rt.cal)[0]
        data = build_letter(rt.plan, action_row(a, DAY, "<x@y>", None), rt.templates, rt.cal, rt.mail_from,
                            rt.now).data
        start = time.perf_counter()
        items = [Outgoing(str(i), rt.mail_from, (f"u{i}@x.example",), data) for i in range(n)]
        asyncio.run(send_all(items, rt.settings.smtp(), lambda item: True, lambda *a: None))
    secs = time.perf_counter() - start
    return {"kind": kind, "n": n, "count": count, "seconds": secs,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--one", nargs=3, metavar=("KIND", "N", "PORT"))
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), int(args.one[2]))))
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = mp.Event()
    server = mp.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    print(f"{'units':>6} {'what':<8} {'letters':>8} {'seconds':>8} {'letters/s':>10} {'peak MB':>8}")
    try:
        for n in args.sizes:
            for kind in ("naive", "bytes", "dondoc"):
                out = subprocess.run([sys.executable, __file__, "--one", kind, str(n), str(port)],
                                     capture_output=True, text=True, check=True, cwd=ROOT).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{n:>6} {kind:<8} {r['count']:>8} {r['seconds']:>8.2f} {r['count'] / r['seconds']:>10.0f} "
                      f"{r['rss_mb']:>8.0f}", flush=True)
    finally:
        server.terminate()
    print("target: 10,000 letters (dondoc) in under 60 s, peak memory under 500 MB")


if __name__ == "__main__":
    main()
