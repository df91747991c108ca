"""Benchmark: replies ingested per second from a real Dovecot, beside a raw bulk IMAP fetch.

    .venv/bin/python bench/collect.py [--sizes 1000 10000]

For each size a fresh IMAP folder is filled (not timed) with replies from N units, each
with a small PDF attached, then, in the same run:
  raw fetch  one bulk UID FETCH of every message (BODY.PEEK[]): the mailbox's limit
  dondoc     keep (raw file + ledger + mark seen) and process (parse, match, attachments,
             record the report): what the collect flow does, without Prefect's overhead
Target: 10,000 replies in under 30 s.
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
    m = EmailMessage()
    m["From"] = f"Văn thư xã {i} <vanthu{i}@xa{i}.example>"
    m["To"] = "dondoc@stttt.example"
    m["Subject"] = f"Re: [kh-test/2026/bao-cao-nam/u{i:05d}] V/v báo cáo kết quả năm 2026"
    m["Message-ID"] = f"<r{i}@xa{i}.example>"
    m["Date"] = "Tue, 01 Dec 2026 09:00:00 +0700"
    m.set_content("Kính gửi Sở,\n\nUBND xã gửi báo cáo kết quả.\nTin, bài: 12\n\nTrân trọng,\nVăn thư\n")
    m.add_attachment(b"%PDF-1.4\n" + b"x" * 1500 + b"\n%%EOF\n", "application", "pdf", filename="Báo cáo.pdf")
    return bytes(m)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = ap.parse_args()
    from imap_tools import MailBoxUnencrypted

    from tests.servers import run_dovecot
    print(f"{'replies':>8} {'what':<10} {'seconds':>8} {'replies/s':>10} {'peak MB':>8}")
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
            assert sum(isinstance(x, tuple) for x in data) == n
            box.logout()
            print(f"{n:>8} {'raw fetch':<10} {raw_secs:>8.2f} {n / raw_secs:>10.0f}", flush=True)

            work = Path(tempfile.mkdtemp(prefix="dondoc-bench-"))
            (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
            os.environ.update(DONDOC_CONFIG=str(work / "units.yaml"), DONDOC_DB=str(work / "l.db"),
                              DONDOC_DATA=str(work / "data"), DONDOC_IMAP_HOST=srv["host"],
                              DONDOC_IMAP_PORT=str(srv["port"]), DONDOC_IMAP_USERNAME=srv["user"],
                              DONDOC_IMAP_PASSWORD=srv["password"], DONDOC_IMAP_SECURITY="none",
                              DONDOC_IMAP_FOLDER=folder)
            from dondoc.collector import CollectSummary, keep_new, process
            from dondoc.runtime import open_runtime
            from models.inbound import Limits
            rt = open_runtime(dt.date(2026, 12, 2))
            summary = CollectSummary()
            start = time.perf_counter()
            source = rt.settings.inbox_source()
            keep_new(source, rt.ledger, rt.settings.data, summary)
            source.close()
            process(rt.plan, rt.ledger, rt.cal, rt.settings.data, Limits(), summary)
            secs = time.perf_counter() - start
            assert summary.matched == n, summary.as_dict()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{n:>8} {'dondoc':<10} {secs:>8.2f} {n / secs:>10.0f} {peak:>8.0f}", flush=True)
    print("target: 10,000 replies (dondoc) in under 30 s")


if __name__ == "__main__":
    main()
