"""Benchmark: one stage-day to N units (default 10,000), against a local aiosmtpd sink.

    .venv/bin/python bench/dispatch.py [--units 10000] [--connections 4]

In one run, against the same sink server, each in its own process (so peak memory is its own):
  raw      N pre-built messages (the size of one unit's email, the issued PDF attached) sent
           with dondoc's SMTP sender and nothing else: the server's and the transport's limit
  dondoc   the real path: decide + record the day's requests, render the ONE document (its
           draft .docx, and its PDF when LibreOffice is there) and record its email to the
           secretariat, issue it (a stand-in for the signed PDF, the same bytes the raw run
           attaches, so both send messages of one size), then send: N emails built from the
           ledger (each unit's reply form rendered), claimed a batch at a time, marked one by one
Printed: each phase, both sending rates (raw measured before and after dondoc, averaged), the
sender's CPU time an email in each (steadier than rates on a shared machine), and
their ratio (target: dondoc's sending phase at
least 0.7 of raw; also 10,000 units in under 60 s overall, peak memory under 500 MB).
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DAY = dt.date(2026, 11, 5)
TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SIGNED = TINY_PDF * 650   # 50 KB: the size LibreOffice prints the day's one-page công văn (49 KB), fonts embedded


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


def _runtime(n: int, port: int, connections: int):
    work = Path(tempfile.mkdtemp(prefix="dondoc-bench-"))
    atexit.register(shutil.rmtree, work, True)
    (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
    os.environ.update(DONDOC_CONFIG=str(work / "units.yaml"), DONDOC_DB=str(work / "l.db"),
                      DONDOC_OUT=str(work / "out"), DONDOC_SMTP_HOST="127.0.0.1", DONDOC_SMTP_PORT=str(port),
                      DONDOC_SMTP_SECURITY="none", DONDOC_SMTP_CONNECTIONS=str(connections))
    from dondoc.runtime import open_runtime
    return open_runtime(DAY)


def one_email(rt) -> bytes:
    """One unit's email of the day as dondoc builds it (the issued PDF attached), without a ledger."""
    from dondoc.ledger import action_row
    from dondoc.letters import unit_mail
    from models.rules import LedgerState, due_actions
    a = due_actions(rt.plan, LedgerState(), DAY, rt.cal)[0]
    doc = {"number": "1/STTTT-TTBCXB", "issued_on": DAY.isoformat()}
    return unit_mail(rt.plan, [action_row(a, DAY, "<x@y>", None)], rt.templates, rt.cal, rt.mail_from, rt.now,
                     doc, SIGNED).data


def run_raw(n: int, port: int, connections: int) -> dict:
    from dondoc.smtp import Outgoing, send_all
    rt = _runtime(1, port, connections)
    data = one_email(rt)
    items = [Outgoing(str(i), rt.mail_from, (f"u{i}@x.example",), data) for i in range(n)]   # pre-built
    start, cpu = time.perf_counter(), time.process_time()
    asyncio.run(send_all(items, rt.settings.smtp(), lambda item: True, lambda *a: None))
    return {"phases": {"send": time.perf_counter() - start}, "cpu": time.process_time() - cpu, "bytes": len(data)}


def run_dondoc(n: int, port: int, connections: int) -> dict:
    from dondoc.issuing import issue, prepare_drafts
    from dondoc.outbox import decide, deliver, mail_domain
    rt = _runtime(n, port, connections)
    phases = {}
    t = time.perf_counter()
    decide(rt.plan, rt.ledger, rt.cal, rt.today, ("request",))
    phases["record"] = time.perf_counter() - t
    t = time.perf_counter()
    ids = prepare_drafts(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.out, mail_domain(rt.plan))
    assert len(ids) == 1, ids   # one document for every unit
    draft = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                rt.settings.out, ("draft",), rt.now))
    assert draft.sent == 1, draft
    phases["draft"] = time.perf_counter() - t
    t = time.perf_counter()
    doc = rt.ledger.document(ids[0])
    signed = rt.settings.out / "ky-so.pdf"   # the signed PDF from the document system: the raw run's bytes
    signed.write_bytes(SIGNED)
    issue(rt.ledger, {rt.plan.plan.id: rt.plan}, lambda p: rt.templates, rt.settings.out, ids[0],
          "1/STTTT-TTBCXB", DAY, signed)
    phases["issue"] = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    s = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                            rt.settings.out, ("request",), rt.now))
    phases["send"] = time.perf_counter() - t
    assert s.sent == n, s
    return {"phases": phases, "cpu": time.process_time() - cpu, "printed": bool(doc and doc["pdf_path"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--one", nargs=2, metavar=("KIND", "PORT"))
    args = ap.parse_args()
    if args.one:
        kind, port = args.one[0], int(args.one[1])
        r = (run_raw if kind == "raw" else run_dondoc)(args.units, port, args.connections)
        r["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(r))
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = mp.Event()
    server = mp.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    results = {}
    try:
        for kind in ("raw", "dondoc", "raw"):   # raw before and after: a busy machine shows in their spread
            out = subprocess.run([sys.executable, __file__, "--one", kind, str(port), "--units", str(args.units),
                                  "--connections", str(args.connections)],
                                 capture_output=True, text=True, check=True, cwd=ROOT).stdout
            r = json.loads(out.strip().splitlines()[-1])
            results.setdefault(kind, []).append(r)
            phases = ", ".join(f"{k} {v:.2f} s" for k, v in r["phases"].items())
            print(f"{kind:<7} {args.units} emails: {phases}; send {args.units / r['phases']['send']:.0f} emails/s, "
                  f"{r['cpu'] / args.units * 1000:.2f} ms CPU an email; peak {r['rss_mb']:.0f} MB", flush=True)
    finally:
        server.terminate()
    raw = sum(args.units / r["phases"]["send"] for r in results["raw"]) / len(results["raw"])
    dondoc = results["dondoc"][0]
    ours = args.units / dondoc["phases"]["send"]
    total = sum(dondoc["phases"].values())
    print(f"ratio dondoc/raw sending: {ours / raw:.2f} (target >= 0.70); dondoc overall {total:.1f} s "
          f"(target < 60 s); the document printed to PDF: {'yes' if dondoc['printed'] else 'no'}")


if __name__ == "__main__":
    main()
