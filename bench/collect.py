"""Benchmark: replies ingested per second from a real Dovecot, beside the raw fetch and the
raw parse of the same messages; and the peak memory of the borderline .docx.

    .venv/bin/python bench/collect.py [--sizes 1000 10000]

For each size a fresh IMAP folder is filled (not timed) with replies from N units, each with a
small PDF attached, a tenth with a one-page .docx report too (its text is read), then, in the
same run:
  raw fetch  one bulk UID FETCH of every message (BODY.PEEK[]): the mailbox's limit
  raw parse  email.message_from_bytes of every message: the parser's floor
  dondoc     keep (raw file + ledger + mark seen), process (parse, match, attachments and their
             text, record the report and its acknowledgement) and send every acknowledgement to a
             local aiosmtpd sink: what the collect flow does, without Prefect's overhead
Last, one reply carrying a 2.2 MB .docx built to expand (under every size limit) is read in a
child process and its peak memory printed.
Targets: 10,000 replies (dondoc) in ≤ 20 s; the borderline .docx under 300 MB.
"""
from __future__ import annotations

import argparse
import datetime as dt
import imaplib
import os
import resource
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dispatch import plan_yaml  # noqa: E402


def reply(i: int) -> bytes:
    from tests.corpus import DOCX_CT
    m = EmailMessage()
    m["From"] = f"Văn thư xã {i} <vanthu{i}@xa{i}.example>"
    m["To"] = "dondoc@stttt.example"
    m["Subject"] = f"Re: [kh-test/2026/bao-cao-nam/u{i:05d}] V/v báo cáo kết quả năm 2026"
    m["Message-ID"] = f"<r{i}@xa{i}.example>"
    m["Date"] = "Tue, 01 Dec 2026 09:00:00 +0700"
    m.set_content("Kính gửi Sở,\n\nUBND xã gửi báo cáo kết quả.\nTin, bài: 12\n\nTrân trọng,\nVăn thư\n")
    m.add_attachment(b"%PDF-1.4\n" + b"x" * 1500 + b"\n%%EOF\n", "application", "pdf", filename="Báo cáo.pdf")
    if i % 10 == 0:
        m.add_attachment(DOCX, *DOCX_CT, filename="Báo cáo kết quả.docx")
    return bytes(m)


def _docx() -> bytes:
    from tests.corpus import report_docx
    return report_docx("UBND xã báo cáo kết quả tuyên truyền về học tập suốt đời: đã đăng 12 tin, bài; tổ chức "
                       "3 buổi sinh hoạt chuyên đề tại nhà văn hóa thôn; treo 8 băng rôn, khẩu hiệu. " * 8)


DOCX = b""


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
    import subprocess
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


def main() -> None:
    global DOCX
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = ap.parse_args()
    import asyncio
    import email

    from aiosmtpd.controller import Controller
    from imap_tools import MailBoxUnencrypted

    from tests.servers import free_port, run_dovecot
    DOCX = _docx()

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"
    print(f"{'replies':>8} {'what':<10} {'seconds':>8} {'replies/s':>10} {'peak MB':>8} {'vs raw parse':>12}")
    with run_dovecot() as srv:
        for n in args.sizes:
            box = MailBoxUnencrypted(srv["host"], srv["port"]).login(srv["user"], srv["password"])
            folder = f"bench{n}"
            box.folder.create(folder)
            stamp = imaplib.Time2Internaldate(dt.datetime(2025, 12, 1, 9, tzinfo=dt.UTC))
            for i in range(n):
                box.client.append(folder, "", stamp, reply(i))
            box.folder.set(folder)
            start = time.perf_counter()
            typ, data = box.client.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
            raw_secs = time.perf_counter() - start
            raws = [x[1] for x in data if isinstance(x, tuple)]
            assert len(raws) == n
            box.logout()
            print(f"{n:>8} {'raw fetch':<10} {raw_secs:>8.2f} {n / raw_secs:>10.0f}", flush=True)
            start = time.perf_counter()
            for raw in raws:
                email.message_from_bytes(raw)
            parse_secs = time.perf_counter() - start
            print(f"{n:>8} {'raw parse':<10} {parse_secs:>8.2f} {n / parse_secs:>10.0f}", flush=True)

            work = Path(tempfile.mkdtemp(prefix="dondoc-bench-"))
            (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
            port = free_port()
            sink = Controller(Sink(), hostname="127.0.0.1", port=port)
            sink.start()
            os.environ.update(DONDOC_CONFIG=str(work / "units.yaml"), DONDOC_DB=str(work / "l.db"),
                              DONDOC_DATA=str(work / "data"), DONDOC_OUT=str(work / "out"),
                              DONDOC_IMAP_HOST=srv["host"], DONDOC_IMAP_PORT=str(srv["port"]),
                              DONDOC_IMAP_USERNAME=srv["user"], DONDOC_IMAP_PASSWORD=srv["password"],
                              DONDOC_IMAP_SECURITY="none", DONDOC_IMAP_FOLDER=folder, DONDOC_SMTP_HOST="127.0.0.1",
                              DONDOC_SMTP_PORT=str(port),
                              DONDOC_SMTP_SECURITY="none")
            from dondoc.collector import CollectSummary, keep_new, process
            from dondoc.outbox import deliver
            from dondoc.runtime import open_runtime
            from models.inbound import Limits
            rt = open_runtime(dt.date(2026, 12, 2))
            summary = CollectSummary()
            start = time.perf_counter()
            source = rt.settings.inbox_source()
            keep_new(source, rt.ledger, rt.settings.data, summary)
            source.close()
            process({rt.plan.plan.id: rt.plan}, rt.ledger, {rt.plan.plan.id: rt.cal}, rt.settings.data, Limits(),
                    summary)
            sent = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                       rt.settings.out, ("ack",), rt.now))
            secs = time.perf_counter() - start
            sink.stop()
            assert summary.matched == n and sent.sent == n, (summary.as_dict(), sent.as_dict())
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{n:>8} {'dondoc':<10} {secs:>8.2f} {n / secs:>10.0f} {peak:>8.0f} {secs / parse_secs:>11.1f}x",
                  flush=True)
    print("borderline:", borderline(Path(tempfile.mkdtemp(prefix="dondoc-bench-"))))
    print("targets: 10,000 replies (dondoc, acknowledgements sent) in ≤ 20 s; the borderline .docx under 300 MB")


if __name__ == "__main__":
    main()
