"""dondoc.archive.read_kept: kept messages parsed in order, a message that cannot be read
handed back as its error in its place."""
from __future__ import annotations

from dondoc.archive import read_kept
from models.mailparse import Reply


def test_messages_come_back_in_order_and_an_unreadable_one_as_its_error(tmp_path):
    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.eml"
        path.write_bytes(f"From: a{i}@x.example\r\nSubject: s{i}\r\nMessage-ID: <m{i}@x.example>\r\n\r\nbody {i}\r\n"
                         .encode())
        paths.append(str(path))
    paths[7] = str(tmp_path / "gone.eml")
    got = list(read_kept(paths, "stttt.example", frozenset({"<m3@x.example>"})))
    assert len(got) == len(paths) and isinstance(got[7], FileNotFoundError)
    replies = [r for r in got if isinstance(r, Reply)]
    assert [r.subject for r in replies] == [f"s{i}" for i in range(len(paths)) if i != 7]
    assert [r.own for r in got[:5]] == [False, False, False, True, False]   # ours: our own Message-IDs
