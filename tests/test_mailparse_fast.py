"""models.mailparse.message_from_bytes cuts multipart mail at its boundaries itself (for speed):
it must give the very tree the email package gives, for every message of the reply corpus and for
the odd shapes it hands back to the email package."""
from __future__ import annotations

import email

import pytest

from models import mailparse
from tests import corpus


def tree(msg) -> tuple[list, list[str], str | None, str | None]:
    parts = [(list(p.raw_items()), p.get_content_type(), None if p.is_multipart() else p.get_payload())
             for p in msg.walk()]
    return parts, [type(d).__name__ for d in msg.defects], msg.preamble, msg.epilogue


CORPUS = [raw for _, raw, _, _ in corpus.build(lambda t, u, s="request": f"<x.{s}.{t}.{u}@stttt.daknong.example>",
                                               corpus.report_docx())]
ODD = [
    b"",
    b"Subject: x\n",
    b"\nno headers at all",
    b"Subject: x\nnot a header line\n\nbody",
    b"Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\npart without headers\n--b\n"
    b"Content-Type: text/plain\n\nt\n--b--\nepilogue",
    b"Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\nContent-Type: text/plain\n\n"
    b"t\n--bxx not a boundary\n--b \t\n\nz\n--b--",
    b"Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nnever closed\n",
    b"Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    b"crlf\r\n--b--\r\n",
    b"Subject: x\rContent-Type: text/plain\r\rbare CR line ends",
]


@pytest.mark.parametrize("raw", CORPUS + [r.replace(b"\n", b"\r\n") for r in CORPUS[:5]] + ODD)
def test_same_tree_and_same_reply_as_the_email_package(raw, monkeypatch):
    assert tree(mailparse.message_from_bytes(raw)) == tree(email.message_from_bytes(raw))
    fast = mailparse.parse_reply(raw)
    monkeypatch.setattr(mailparse, "message_from_bytes", email.message_from_bytes)
    assert mailparse.parse_reply(raw) == fast


def test_the_usual_reply_takes_the_fast_path():
    """Most of the corpus (multipart mail with attachments) is cut without the email package's body parser."""
    fast = [r for r in CORPUS if mailparse._fast(r, 0) is not None]
    assert len(fast) >= 0.7 * len(CORPUS)
    assert any(m.get_content_maintype() == "multipart" for m in map(mailparse.message_from_bytes, fast))
