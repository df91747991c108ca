"""Files kept under the data folder: raw messages (one file a day) and attachments.

Side effect: the file system. A raw message is appended to its day's file once (the
collector asks the ledger first: keeping the same message twice writes nothing new); an
attachment never leaves its folder and never overwrites another.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

from models.inbound import safe_filename


class Spool:
    """Raw messages as they came, appended to one file per day: `DATA/mail/YYYY-MM-DD.raw`. Each
    record is a line `dondoc-raw sha256=<hex> bytes=<n>`, the message's bytes, and a line end
    (so the file can be split without the ledger); the ledger keeps each message's file,
    offset and length. An append is one `writev` on a file opened with O_APPEND: two runs at
    once never write over each other, and it costs a write where a file per message cost a
    file creation (0.1–0.9 ms on this machine's ext4, bench/README.md). A run killed
    mid-append leaves a part record that no ledger row points at."""

    def __init__(self, data_dir: Path | str, day: dt.date):
        folder = os.path.join(data_dir, "mail")
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"{day.isoformat()}.raw")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def add(self, raw: bytes, digest: str) -> int:
        """Append `raw` (its SHA-256 `digest`); returns the offset of its first byte."""
        head = b"dondoc-raw sha256=%s bytes=%d\n" % (digest.encode("ascii"), len(raw))
        size = len(head) + len(raw) + 1
        if os.writev(self.fd, [head, raw, b"\n"]) != size:
            raise OSError(f"{self.path}: không ghi hết thư gốc (đĩa đầy?)")
        return os.lseek(self.fd, 0, os.SEEK_CUR) - len(raw) - 1   # our own end: O_APPEND moved it there

    def close(self) -> None:
        os.close(self.fd)


def read_raw(row: dict, files: dict[str, int] | None = None) -> bytes:
    """The raw message of an inbound row: `raw_length` bytes at `raw_offset` of its day's file,
    or its whole file (a message kept, one file each, before the day files). `files`: open
    descriptors by path, reused across calls (the caller closes them)."""
    path, offset = row["raw_path"], row.get("raw_offset")
    if offset is None:
        with open(path, "rb") as f:
            return f.read()
    if files is None:
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), row["raw_length"], offset)
    else:
        if path not in files:
            files[path] = os.open(path, os.O_RDONLY)
        data = os.pread(files[path], row["raw_length"], offset)
    if len(data) != row["raw_length"]:
        raise OSError(f"{path}: thư gốc ở byte {offset} ngắn hơn sổ cái ghi ({len(data)} < {row['raw_length']})")
    return data


def read_kept(rows: list[dict], own_domain: str, ours: frozenset[str]) -> Iterator:
    """Each kept raw message of the inbound `rows` parsed (`models.mailparse.parse_reply(raw,
    own_domain, ours)`), in order: a Reply, or the exception raised reading it (the caller
    quarantines that message alone). Each day file is opened once. Parsing in worker processes
    was measured and did not pay on 2 shared cores (bench/README.md, collect)."""
    from models.mailparse import parse_reply
    files: dict[str, int] = {}
    try:
        for row in rows:
            try:
                yield parse_reply(read_raw(row, files), own_domain, ours=ours)
            except Exception as e:   # noqa: BLE001 — handed back in its place
                yield e
    finally:
        for fd in files.values():
            os.close(fd)


def save_attachment(folder: Path | str, filename: str, data: bytes) -> Path:
    """Write under a safe name in `folder` (made when missing); a name already taken gets
    ` (2)`, ` (3)`, …, never overwritten (O_EXCL). Plain `os` calls: with pathlib and a buffered
    file object each file cost 46 µs more (bench/README.md, run of 27/11 15:17)."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    name = safe_filename(filename)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 1
    while True:
        path = os.path.join(folder, name if n == 1 else f"{stem} ({n}){dot}{ext}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            n += 1
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return Path(path)
