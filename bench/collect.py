"""Benchmark: replies collected per second from a Maildir and from a real Dovecot, beside the raw
parse of the same messages; and the peak memory of the borderline .docx.

    .venv/bin/python bench/collect.py [--sizes 1000 10000] [--sources maildir imap]

For each source and size, N replies from N units, each with a one-page .docx report attached, are
put in a fresh Maildir or IMAP folder (not timed), then, in the same run:
  raw fetch  (imap) one bulk UID FETCH of every message (BODY.PEEK[]): the mailbox's limit
  raw read   (maildir) every file of new/ read: the disk's limit
  raw parse  email.message_from_bytes of every message: the parser's floor, the baseline
On a shared machine wall time swings with the load: the CPU seconds of the same process are
printed beside it (dondoc's exclude Dovecot's and the SMTP sink's work).
  dondoc     in its own process (so its peak memory is its own): keep (raw file + ledger + mark
             seen), process (parse, match, the .docx's text and tables, record the report and its
             acknowledgement) and send every acknowledgement to a local aiosmtpd sink through
             dondoc.outbox.deliver: what the collect flow does, without Prefect's overhead
Last, one reply's 2.2 MB .docx built to expand (under every size limit) is read in a child process
and its peak memory printed.
Targets: 10,000 replies (dondoc, acknowledgements sent) in ≤ 10 s from each source; the
borderline .docx under 300 MB.
"""
from __future__ import annotations

import argparse
import datetime as dt
import email
import imaplib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dispatch import plan_yaml  # noqa: E402

DAY = dt.date(2026, 12, 2)
PAGE = ("UBND xã báo cáo kết quả tuyên truyền về học tập suốt đời: đã đăng 12 tin, bài; tổ chức 3 buổi sinh hoạt "
        "chuyên đề tại nhà văn hóa thôn; treo 8 băng rôn, khẩu hiệu. ") * 12   # about one page


def reply(i: int, docx: bytes) -> bytes:
    """Unit i's reply to its request, a one-page .docx report attached."""
    from tests.corpus import DOCX_CT
    m = EmailMessage()
    m["From"] = f"Văn thư xã {i} <vanthu{i}@xa{i}.example>"
    m["To"] = "dondoc@stttt.example"
    m["Subject"] = f"Re: [kh-test/2026/bao-cao-nam/u{i:05d}] V/v báo cáo kết quả năm 2026"
    m["Message-ID"] = f"<r{i}@xa{i}.example>"
    m["Date"] = "Tue, 01 Dec 2026 09:00:00 +0700"
    m["Received"] = "from mx.xa.example by mail.stttt.example; Tue, 01 Dec 2026 09:00:05 +0700"
    m.set_content("Kính gửi Sở,\n\nUBND xã gửi báo cáo kết quả (tệp đính kèm).\nTin, bài: 12\n\nTrân trọng,\nVăn thư\n")
    m.add_attachment(docx, *DOCX_CT, filename="Báo cáo kết quả.docx")
    return bytes(m)


def run_dondoc(work: Path) -> dict:
    """The collector's whole path in this process, timed: keep, process, acknowledge."""
    import asyncio

    from dondoc.collector import CollectSummary, keep_new, process
    from dondoc.outbox import deliver
    from dondoc.runtime import open_runtime
    from models.inbound import Limits
    rt = open_runtime(DAY)
    summary = CollectSummary()
    phases: dict[str, tuple[float, float]] = {}    # wall, CPU
    start, cpu = time.perf_counter(), time.process_time()

    def phase(name: str, t: float, c: float) -> None:
        phases[name] = (time.perf_counter() - t, time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    source = rt.settings.inbox_source()
    keep_new(source, rt.ledger, rt.settings.data, summary)
    getattr(source, "close", lambda: None)()
    phase("keep", t, c)
    t, c = time.perf_counter(), time.process_time()
    process({rt.plan.plan.id: rt.plan}, rt.ledger, {rt.plan.plan.id: rt.cal}, rt.settings.data, Limits(), summary)
    phase("process", t, c)
    t, c = time.perf_counter(), time.process_time()
    sent = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                               rt.settings.out, ("ack",), rt.now))
    phase("acks", t, c)
    return {"secs": time.perf_counter() - start, "cpu": time.process_time() - cpu, "phases": phases,
            "summary": summary.as_dict(), "sent": sent.sent,
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


BORDERLINE = """
import re, sys
from dondoc.extract import attachment_text
data = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")
r = attachment_text("bc.docx", data)
print(int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) // 1024, len(data) // 1024, r.error)
"""


def borderline(work: Path) -> str:
    """A .docx of about 2.2 MB whose document.xml expands to millions of runs; its peak memory."""
    import io
    import random
    import zipfile
    rnd = random.Random(7)
    letters = "abcdeghiklmnopqrstuvxy"
    body = "<w:p>" + "".join(f"<w:r><w:t>{''.join(rnd.choices(letters, k=5))}</w:t></w:r>"
                             for _ in range(480_000)) + "</w:p>"    # ~13 MB of XML, 2.2 MB packed: under every limit
    xml = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
           f'wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", xml)
    (work / "borderline.docx").write_bytes(buf.getvalue())
    out = subprocess.run([sys.executable, "-c", BORDERLINE, str(work / "borderline.docx")], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout.split(maxsplit=2)
    return f"{out[1]} KB .docx: peak {out[0]} MB" + (f" ({out[2].strip()})" if len(out) > 2 else "")


def fill_imap(srv: dict, folder: str, raws: list[bytes]) -> tuple[float, list[bytes]]:
    """Put `raws` in a new IMAP folder (not timed); then one bulk fetch of them all, timed."""
    from imap_tools import MailBoxUnencrypted
    box = MailBoxUnencrypted(srv["host"], srv["port"]).login(srv["user"], srv["password"])
    box.folder.create(folder)
    stamp = imaplib.Time2Internaldate(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))
    for raw in raws:
        box.client.append(folder, "", stamp, raw)
    box.folder.set(folder)
    start = time.perf_counter()
    typ, data = box.client.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    secs = time.perf_counter() - start
    fetched = [x[1] for x in data if isinstance(x, tuple)]
    box.logout()
    assert len(fetched) == len(raws)
    return secs, fetched


def fill_maildir(path: Path, raws: list[bytes]) -> tuple[float, list[bytes]]:
    """Write `raws` into path/new as a delivery agent would (not timed); then read them all, timed."""
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(raws):
        (path / "new" / f"1764550800.M{i}P1.mail").write_bytes(raw)
    start = time.perf_counter()
    read = [e.path for e in os.scandir(path / "new")]
    data = [Path(p).read_bytes() for p in read]
    return time.perf_counter() - start, data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--sources", nargs="+", default=["maildir", "imap"], choices=["maildir", "imap"])
    ap.add_argument("--child", metavar="WORK")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_dondoc(Path(args.child))))
        return
    from aiosmtpd.controller import Controller

    from tests.corpus import report_docx
    from tests.servers import free_port, run_dovecot
    docx = report_docx(PAGE)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"
    port = free_port()
    sink = Controller(Sink(), hostname="127.0.0.1", port=port)
    sink.start()
    print(f"one reply: {len(reply(0, docx)) // 1024} KB, its .docx {len(docx) // 1024} KB", flush=True)
    print(f"{'source':<8} {'replies':>8} {'what':<10} {'seconds':>8} {'CPU s':>8} {'replies/s':>10} {'peak MB':>8} "
          f"{'x raw parse':>11}  phases (wall/CPU s)", flush=True)
    with run_dovecot() as srv:
        for source in args.sources:
            for n in args.sizes:
                raws = [reply(i, docx) for i in range(n)]
                work = Path(tempfile.mkdtemp(prefix="dondoc-bench-"))
                if source == "imap":
                    read_secs, raws = fill_imap(srv, f"bench{n}", raws)
                    inbox = {"DONDOC_IMAP_HOST": srv["host"], "DONDOC_IMAP_PORT": str(srv["port"]),
                             "DONDOC_IMAP_USERNAME": srv["user"], "DONDOC_IMAP_PASSWORD": srv["password"],
                             "DONDOC_IMAP_SECURITY": "none", "DONDOC_IMAP_FOLDER": f"bench{n}"}
                else:
                    read_secs, raws = fill_maildir(work / "Maildir", raws)
                    inbox = {"DONDOC_INBOX": f"maildir:{work / 'Maildir'}"}
                print(f"{source:<8} {n:>8} {'raw fetch' if source == 'imap' else 'raw read':<10} {read_secs:>8.2f} "
                      f"{'':>8} {n / read_secs:>10.0f}", flush=True)
                start, cpu = time.perf_counter(), time.process_time()
                for raw in raws:
                    email.message_from_bytes(raw)
                parse_secs, parse_cpu = time.perf_counter() - start, time.process_time() - cpu
                del raws
                print(f"{source:<8} {n:>8} {'raw parse':<10} {parse_secs:>8.2f} {parse_cpu:>8.2f} "
                      f"{n / parse_secs:>10.0f}", flush=True)
                (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
                env = {**os.environ, **inbox, "DONDOC_CONFIG": str(work / "units.yaml"),
                       "DONDOC_DB": str(work / "l.db"), "DONDOC_DATA": str(work / "data"),
                       "DONDOC_OUT": str(work / "out"),
                       "DONDOC_SMTP_HOST": "127.0.0.1", "DONDOC_SMTP_PORT": str(port), "DONDOC_SMTP_SECURITY": "none"}
                out = subprocess.run([sys.executable, __file__, "--child", str(work)], env=env, cwd=ROOT,
                                     capture_output=True, text=True)
                if out.returncode:
                    sys.exit(out.stderr)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                assert r["summary"]["matched"] == n and r["sent"] == n, r
                phases = ", ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in r["phases"].items())
                print(f"{source:<8} {n:>8} {'dondoc':<10} {r['secs']:>8.2f} {r['cpu']:>8.2f} {n / r['secs']:>10.0f} "
                      f"{r['peak']:>8.0f} {r['secs'] / parse_secs:>10.1f}x  {phases}", flush=True)
    sink.stop()
    print("borderline:", borderline(Path(tempfile.mkdtemp(prefix="dondoc-bench-"))))
    print("targets: 10,000 replies (dondoc, acknowledgements sent) in ≤ 10 s from each source; "
          "the borderline .docx under 300 MB")


if __name__ == "__main__":
    main()
