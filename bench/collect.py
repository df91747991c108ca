"""Benchmark: replies collected per second from a Maildir and from a real Dovecot, beside the raw
parse of the same messages; and the peak memory of the borderline .docx.

    .venv/bin/python bench/collect.py [--sizes 1000 10000] [--sources maildir imap] [--docx-share 1.0 0.1]

For each source, size and docx share, N replies from N units are put in a fresh Maildir or IMAP
folder (not timed): a `--docx-share` of them with a one-page .docx report attached (issue 15: 1.0),
the others a report written in the body (issue 10: 0.1). Then, in the same run:
  raw fetch  (imap) bulk UID FETCHes of every message (BODY.PEEK[], 1,000 a command): the mailbox's limit
  raw read   (maildir) every file of new/ read: the disk's limit
  raw parse  email.message_from_bytes of every message: the parser's floor, the baseline
  sink limit N pre-built messages of an acknowledgement's size sent to the same aiosmtpd sink over 4
             connections by a process that does nothing else: the floor of sending the acknowledgements
On a shared machine wall time swings with the load: the CPU seconds of the same process are
printed beside it (dondoc's include its worker processes', exclude Dovecot's and the SMTP
sink's work), with the load average before and after each run. The sink is a thread of this
bench's process, which does nothing else meanwhile: its CPU is printed at the end of the
`sink limit` and `dondoc` lines (on 2 cores, 10 s of wall holds 20 CPU seconds for everything).
  dondoc     in its own process (so its peak memory is its own): keep (raw file + ledger + mark
             seen), process (parse, match, the .docx's text and tables, record the report and its
             acknowledgement, while the second process of dondoc.acker sends the acknowledgements
             to a local aiosmtpd sink), then dondoc.outbox.deliver of any left: what the collect
             flow does, without Prefect's overhead
Last, one reply's 2.2 MB .docx built to expand (under every size limit) is read in a child process
and its peak memory printed.
Targets: issue 15, 10,000 replies each with a .docx (dondoc, acknowledgements sent) in ≤ 10 s
from each source; issue 10, 10,000 replies, a tenth with a .docx, in ≤ 20 s; the borderline .docx
under 300 MB.
"""
from __future__ import annotations

import argparse
import datetime as dt
import email
import imaplib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dispatch import plan_yaml  # noqa: E402

DAY = dt.date(2026, 12, 2)
PAGE = ("UBND xã báo cáo kết quả tuyên truyền về học tập suốt đời: đã đăng 12 tin, bài; tổ chức 3 buổi sinh hoạt "
        "chuyên đề tại nhà văn hóa thôn; treo 8 băng rôn, khẩu hiệu. ") * 12   # about one page


BODY_REPORT = ("Kính gửi Sở,\n\nUBND xã báo cáo kết quả tuyên truyền về học tập suốt đời năm 2026: đã đăng 12 tin, "
               "bài trên trang thông tin điện tử; tổ chức 3 buổi sinh hoạt chuyên đề tại nhà văn hóa thôn với 240 "
               "lượt người tham dự; treo 8 băng rôn, khẩu hiệu.\nTin, bài: 12\n\nTrân trọng,\nVăn thư\n")


def with_docx(i: int, share: float) -> bool:
    """Whether reply i carries the .docx: `share` of them, spread evenly."""
    return int((i + 1) * share) > int(i * share)


def reply(i: int, docx: bytes | None) -> bytes:
    """Unit i's reply to its request: a one-page .docx report attached, or (docx None) the
    report written in the body."""
    from tests.corpus import DOCX_CT
    m = EmailMessage()
    m["From"] = f"Văn thư xã {i} <vanthu{i}@xa{i}.example>"
    m["To"] = "dondoc@stttt.example"
    m["Subject"] = f"Re: [kh-test/2026/bao-cao-nam/u{i:05d}] V/v báo cáo kết quả năm 2026"
    m["Message-ID"] = f"<r{i}@xa{i}.example>"
    m["Date"] = "Tue, 01 Dec 2026 09:00:00 +0700"
    m["Received"] = "from mx.xa.example by mail.stttt.example; Tue, 01 Dec 2026 09:00:05 +0700"
    if docx is None:
        m.set_content(BODY_REPORT)
        return bytes(m)
    m.set_content("Kính gửi Sở,\n\nUBND xã gửi báo cáo kết quả (tệp đính kèm).\nTin, bài: 12\n\nTrân trọng,\nVăn thư\n")
    m.add_attachment(docx, *DOCX_CT, filename="Báo cáo kết quả.docx")
    return bytes(m)


def cpu() -> float:
    """CPU seconds of this process and of its children that have ended (a worker pool's)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def own_cpu() -> float:
    """CPU seconds of this process alone: while a child runs, its SMTP sink's thread is all
    that works here."""
    t = os.times()
    return t.user + t.system


def run_dondoc(work: Path) -> dict:
    """The collector's whole path in this process, timed: keep, process, acknowledge."""
    import asyncio

    from dondoc.acker import beside
    from dondoc.collector import CollectSummary, keep_new, process
    from dondoc.outbox import deliver
    from dondoc.runtime import open_runtime
    from models.inbound import Limits
    rt = open_runtime(DAY)
    summary = CollectSummary()
    phases: dict[str, tuple[float, float]] = {}    # wall, CPU
    start, cpu0 = time.perf_counter(), cpu()

    def phase(name: str, t: float, c: float) -> None:
        phases[name] = (time.perf_counter() - t, cpu() - c)
    t, c = time.perf_counter(), cpu()
    source = rt.settings.inbox_source()
    keep_new(source, rt.ledger, rt.settings.data, summary, rt.today)
    getattr(source, "close", lambda: None)()
    phase("keep", t, c)
    t, c = time.perf_counter(), cpu()
    with beside([rt], rt.ledger.count_inbound("new")) as ahead:   # as the collect flow's read step
        process({rt.plan.plan.id: rt.plan}, rt.ledger, {rt.plan.plan.id: rt.cal}, rt.settings.data, Limits(), summary,
                ahead=ahead)
    phase("process", t, c)
    t, c = time.perf_counter(), cpu()
    sent = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                               rt.settings.out, ("ack",), rt.now))
    phase("acks", t, c)
    return {"secs": time.perf_counter() - start, "cpu": cpu() - cpu0, "phases": phases,
            "summary": summary.as_dict(), "sent": sent.sent + (ahead.sent if ahead else 0),
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def sink_limit(port: int, n: int, connections: int = 4) -> dict:
    """The SMTP sink's own limit: `n` pre-built messages of an acknowledgement's size sent over
    `connections` reused aiosmtplib connections, nothing else (run in a process of its own)."""
    import asyncio

    import aiosmtplib
    body = (b"QWNrbm93bGVkZ2VtZW50IG9mIHJlY2VpcHQ=" * 2 + b"\r\n") * 7   # a plain-text acknowledgement's shape
    msg = (b"Subject: =?utf-8?b?W2toLXRlc3QvMjAyNi9iYW8tY2FvLW5hbS91MDAwMDFdIFYvdiDEkcOjIG5o?=\r\n"
           b" =?utf-8?b?4bqtbiBiw6FvIGPDoW8gbsSDbSAyMDI2?=\r\nFrom: dondoc@stttt.example\r\n"
           b"To: vanthu1@xa1.example\r\nReply-To: dondoc@stttt.example\r\nDate: Wed, 02 Dec 2026 09:00:00 +0700\r\n"
           b"Message-ID: <0123456789abcdef0123456789abcdef.ack@stttt.example>\r\n"
           b"X-Dondoc-Key: kh-test/2026/bao-cao-nam/u00001/ack\r\nAuto-Submitted: auto-replied\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + body)
    left = [n]

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
        await client.connect()
        while left[0] > 0:
            left[0] -= 1
            await client.sendmail("dondoc@stttt.example", ["vanthu1@xa1.example"], msg)
        await client.quit()

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(connections)))
    start, c = time.perf_counter(), cpu()
    asyncio.run(main())
    return {"secs": time.perf_counter() - start, "cpu": cpu() - c, "bytes": len(msg)}


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


def fill_imap(srv: dict, folder: str, raws: Iterator[bytes]) -> None:
    """Put `raws` in a new IMAP folder (not timed)."""
    from imap_tools import MailBoxUnencrypted
    box = MailBoxUnencrypted(srv["host"], srv["port"]).login(srv["user"], srv["password"])
    box.folder.create(folder)
    stamp = imaplib.Time2Internaldate(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))
    for raw in raws:
        box.client.append(folder, "", stamp, raw)
    box.logout()


def read_imap(srv: dict, folder: str, chunk: int = 1000) -> Iterator[tuple[float, list[bytes]]]:
    """Every message of the folder, `chunk` a bulk UID FETCH: (seconds the fetch took, the messages)."""
    from imap_tools import MailBoxUnencrypted
    box = MailBoxUnencrypted(srv["host"], srv["port"]).login(srv["user"], srv["password"])
    box.folder.set(folder)
    uids = box.client.uid("SEARCH", None, "ALL")[1][0].split()
    for i in range(0, len(uids), chunk):
        start = time.perf_counter()
        typ, data = box.client.uid("FETCH", b",".join(uids[i:i + chunk]).decode(), "(UID BODY.PEEK[])")
        yield time.perf_counter() - start, [x[1] for x in data if isinstance(x, tuple)]
    box.logout()


def fill_maildir(path: Path, raws: Iterator[bytes]) -> None:
    """Write `raws` into path/new as a delivery agent would (not timed)."""
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(raws):
        (path / "new" / f"1764550800.M{i}P1.mail").write_bytes(raw)


def read_maildir(path: Path, chunk: int = 1000) -> Iterator[tuple[float, list[bytes]]]:
    """Every file of path/new, read `chunk` at a time: (seconds the reads took, the messages)."""
    files = [e.path for e in os.scandir(path / "new")]
    for i in range(0, len(files), chunk):
        start = time.perf_counter()
        data = [Path(p).read_bytes() for p in files[i:i + chunk]]
        yield time.perf_counter() - start, data


def baseline(chunks: Iterator[tuple[float, list[bytes]]]) -> tuple[int, float, float, float]:
    """(messages, read seconds, parse seconds, parse CPU seconds): email.message_from_bytes of each."""
    n, read, parse, parse_cpu = 0, 0.0, 0.0, 0.0
    for secs, raws in chunks:
        start, c = time.perf_counter(), time.process_time()
        for raw in raws:
            email.message_from_bytes(raw)
        parse, parse_cpu = parse + time.perf_counter() - start, parse_cpu + time.process_time() - c
        n, read = n + len(raws), read + secs
    return n, read, parse, parse_cpu


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--sources", nargs="+", default=["maildir", "imap"], choices=["maildir", "imap"])
    ap.add_argument("--docx-share", type=float, nargs="+", default=[1.0],
                    help="fraction of replies with a .docx attached (the others report in the body)")
    ap.add_argument("--child", metavar="WORK")
    ap.add_argument("--child-sink", nargs=2, type=int, metavar=("PORT", "N"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_dondoc(Path(args.child))))
        return
    if args.child_sink:
        print(json.dumps(sink_limit(*args.child_sink)))
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
    print(f"one reply: {len(reply(0, docx)) // 1024} KB with its .docx ({len(docx) // 1024} KB), "
          f"{len(reply(0, None)):,} bytes without", flush=True)
    print(f"{'source':<8} {'replies':>8} {'docx':>5} {'what':<10} {'seconds':>8} {'CPU s':>8} {'replies/s':>10} "
          f"{'peak MB':>8} {'x raw parse':>11}  load 1/5/15 min; phases (wall/CPU s)", flush=True)
    works: list[Path] = []   # removed at the end: this machine's ext4 frees deleted blocks in the background
    with run_dovecot() as srv:   # (discard), which made the next line's file writes 3-4 times slower
        for source in args.sources:
            for share in args.docx_share:
                for n in args.sizes:
                    works.append(run(srv, source, n, share, docx, port))
    sink.stop()
    for work in works:
        shutil.rmtree(work, ignore_errors=True)
    print("borderline:", borderline(Path(tempfile.mkdtemp(prefix="dondoc-bench-"))))
    print("targets: issue 15: 10,000 replies, each with a .docx, acknowledgements sent, in ≤ 10 s from each source; "
          "issue 10: 10,000 replies, a tenth with a .docx, in ≤ 20 s; the borderline .docx under 300 MB")


def run(srv: dict, source: str, n: int, share: float, docx: bytes, port: int) -> Path:
    """One line of the table: fill the mailbox, time the baseline, then dondoc in its own process.
    Returns the line's working folder."""
    raws = (reply(i, docx if with_docx(i, share) else None) for i in range(n))
    work = Path(tempfile.mkdtemp(prefix="dondoc-bench-"))
    head = f"{source:<8} {n:>8} {share:>5.2g}"
    if source == "imap":
        folder = f"bench{n}x{int(share * 100)}"
        fill_imap(srv, folder, raws)
        got, read_secs, parse_secs, parse_cpu = baseline(read_imap(srv, folder))
        inbox = {"DONDOC_IMAP_HOST": srv["host"], "DONDOC_IMAP_PORT": str(srv["port"]),
                 "DONDOC_IMAP_USERNAME": srv["user"], "DONDOC_IMAP_PASSWORD": srv["password"],
                 "DONDOC_IMAP_SECURITY": "none", "DONDOC_IMAP_FOLDER": folder}
    else:
        fill_maildir(work / "Maildir", raws)
        got, read_secs, parse_secs, parse_cpu = baseline(read_maildir(work / "Maildir"))
        inbox = {"DONDOC_INBOX": f"maildir:{work / 'Maildir'}"}
    assert got == n, (got, n)
    print(f"{head} {'raw fetch' if source == 'imap' else 'raw read':<10} {read_secs:>8.2f} {'':>8} "
          f"{n / read_secs:>10.0f}", flush=True)
    print(f"{head} {'raw parse':<10} {parse_secs:>8.2f} {parse_cpu:>8.2f} {n / parse_secs:>10.0f}", flush=True)
    sink_cpu = own_cpu()
    out = subprocess.run([sys.executable, __file__, "--child-sink", str(port), str(n)], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    sink_cpu = own_cpu() - sink_cpu
    lim = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{head} {'sink limit':<10} {lim['secs']:>8.2f} {lim['cpu']:>8.2f} {n / lim['secs']:>10.0f}  "
          f"({n:,} pre-built {lim['bytes']:,}-byte messages, 4 connections: the acknowledgements' floor; "
          f"the sink's own CPU {sink_cpu:.2f} s)", flush=True)
    (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
    env = {**os.environ, **inbox, "DONDOC_CONFIG": str(work / "units.yaml"),
           "DONDOC_DB": str(work / "l.db"), "DONDOC_DATA": str(work / "data"),
           "DONDOC_OUT": str(work / "out"),
           "DONDOC_SMTP_HOST": "127.0.0.1", "DONDOC_SMTP_PORT": str(port), "DONDOC_SMTP_SECURITY": "none"}
    before, sink_cpu = load(), own_cpu()
    out = subprocess.run([sys.executable, __file__, "--child", str(work)], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    sink_cpu = own_cpu() - sink_cpu
    if out.returncode:
        sys.exit(out.stderr)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["summary"]["matched"] == n and r["sent"] == n, r
    phases = ", ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in r["phases"].items())
    print(f"{head} {'dondoc':<10} {r['secs']:>8.2f} {r['cpu']:>8.2f} {n / r['secs']:>10.0f} "
          f"{r['peak']:>8.0f} {r['secs'] / parse_secs:>5.1f}/{r['cpu'] / parse_cpu:.1f}x  "
          f"load {before} -> {load()}; {phases}; the sink's CPU {sink_cpu:.2f} s", flush=True)
    return work


if __name__ == "__main__":
    main()
