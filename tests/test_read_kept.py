"""dondoc.archive: raw messages appended to the day's file (Spool) and read back (read_raw,
read_kept): in order, a message that cannot be read handed back as its error in its place; an
attachment written in its folder, never over another file (save_attachment)."""
from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from dondoc.archive import Spool, read_kept, read_raw, save_attachment
from models.mailparse import Reply


def raw(i: int) -> bytes:
    return (f"From: a{i}@x.example\r\nSubject: s{i}\r\nMessage-ID: <m{i}@x.example>\r\n\r\nbody {i}\r\n"
            .encode() + b"line\r\n" * (i * 37))


def spooled(tmp_path, n: int, day=dt.date(2026, 12, 2)) -> list[dict]:
    spool = Spool(tmp_path, day)
    rows = []
    for i in range(n):
        data = raw(i)
        rows.append({"raw_path": spool.path, "raw_offset": spool.add(data, hashlib.sha256(data).hexdigest()),
                     "raw_length": len(data)})
    spool.close()
    return rows


def test_messages_come_back_in_order_and_an_unreadable_one_as_its_error(tmp_path):
    rows = spooled(tmp_path, 12)
    old = tmp_path / "old.eml"   # kept in a file of its own, by a version before the day files
    old.write_bytes(raw(12))
    rows += [{"raw_path": str(old), "raw_offset": None, "raw_length": None}]
    rows[7] = {"raw_path": str(tmp_path / "gone.raw"), "raw_offset": 0, "raw_length": 10}
    rows[9] = dict(rows[9], raw_offset=rows[11]["raw_offset"] + rows[11]["raw_length"] - 5)   # past the end
    got = list(read_kept(rows, "stttt.example", frozenset({"<m3@x.example>"})))
    assert len(got) == len(rows) and isinstance(got[7], FileNotFoundError)
    assert isinstance(got[9], OSError) and "ngắn hơn sổ cái" in str(got[9])
    replies = [r for r in got if isinstance(r, Reply)]
    assert [r.subject for r in replies] == [f"s{i}" for i in range(13) if i not in (7, 9)]
    assert [r.own for r in got[:5]] == [False, False, False, True, False]   # ours: our own Message-IDs


def test_the_day_file_holds_each_message_after_its_own_line_and_two_writers_never_overlap(tmp_path):
    day = dt.date(2026, 12, 2)
    a, b = Spool(tmp_path, day), Spool(tmp_path, day)   # two runs at once append to the same file
    assert a.path == str(tmp_path / "mail" / "2026-12-02.raw")
    rows = []
    for i in range(40):
        spool, data = (a, b)[i % 2], raw(i)
        rows.append({"raw_path": spool.path, "raw_offset": spool.add(data, hashlib.sha256(data).hexdigest()),
                     "raw_length": len(data)})
    a.close()
    b.close()
    assert [read_raw(r) for r in rows] == [raw(i) for i in range(40)]
    content = (tmp_path / "mail" / "2026-12-02.raw").read_bytes()
    heads = list(re.finditer(rb"dondoc-raw sha256=([0-9a-f]{64}) bytes=(\d+)\n", content))
    assert len(heads) == 40   # the file splits without the ledger
    for head, row in zip(heads, rows, strict=True):
        assert head.end() == row["raw_offset"] and int(head[2]) == row["raw_length"]
        assert head[1].decode() == hashlib.sha256(content[head.end():head.end() + int(head[2])]).hexdigest()
    assert len(content) == heads[-1].end() + rows[-1]["raw_length"] + 1


def test_a_short_write_is_an_error_not_a_record(tmp_path, monkeypatch):
    spool = Spool(tmp_path, dt.date(2026, 12, 2))
    monkeypatch.setattr("os.writev", lambda fd, parts: 10)   # the disk took only part of it
    with pytest.raises(OSError, match="không ghi hết"):
        spool.add(b"x" * 100, "0" * 64)
    spool.close()


def test_an_attachment_is_written_in_its_folder_and_never_over_another(tmp_path):
    folder = tmp_path / "attachments" / "kh" / "2026" / "bao-cao" / "xa-1"   # made on the first write
    first = save_attachment(folder, "../Báo cáo.docx", b"one")
    (folder / "Báo cáo (2).docx").write_bytes(b"kept by someone")            # taken already: skipped
    again = [save_attachment(folder, "Báo cáo.docx", data) for data in (b"two", b"three")]
    bare = [save_attachment(str(folder), "..", b"four"), save_attachment(folder, "", b"five")]
    saved = [first, *again, *bare]
    assert [p.name for p in saved] == ["Báo cáo.docx", "Báo cáo (3).docx", "Báo cáo (4).docx", "tep-dinh-kem",
                                       "tep-dinh-kem (2)"]
    assert all(p.parent == folder for p in saved)
    assert [p.read_bytes() for p in saved] == [b"one", b"two", b"three", b"four", b"five"]
    assert (folder / "Báo cáo (2).docx").read_bytes() == b"kept by someone"
    big = bytes(range(256)) * 40_000                                           # more than one write may take
    assert save_attachment(folder, "lớn.docx", big).read_bytes() == big
