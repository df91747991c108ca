"""models.mailparse reads the usual mail without some of the email package's slow steps: each
header block (`_head`), UTF-8 encoded-words (`_utf8_words`), a plain From (`_addresses`), and
parameters worked out once for the same header values (`_remembered`). Each must give what the
email package gives, on the reply corpus and on seeded random odd input (or hand over to it)."""
from __future__ import annotations

import base64
import email
import email.parser
import random
from email.header import decode_header, make_header
from email.utils import getaddresses

import pytest

from models import mailparse
from tests import corpus
from tests.test_mailparse_fast import CORPUS, ODD

RAW = CORPUS + [r.replace(b"\n", b"\r\n") for r in CORPUS[:5]] + ODD


def _stdlib_header(raw: str):
    try:
        return str(make_header(decode_header(raw)))
    except Exception as e:   # noqa: BLE001 — the exception's type is what must match
        return type(e)


def _header_blocks(raw: bytes) -> list[str]:
    """The header block of the message and of every part the fast splitter cuts."""
    out = []
    msg = email.message_from_bytes(raw)
    for part in msg.walk():
        text = "".join(f"{k}: {v}\n" for k, v in part.raw_items())
        if text:
            out.append(text)
    end = mailparse._HEAD_END.search(raw)
    if end:
        out.append(mailparse._text(raw[:end.start() + 1]))
    return out


LINES = ["Subject: x", "Subject:", "Subject:   spaced  ", "X-A:\tb", "X-Empty: ", " continued", "\tcontinued",
         "  ", "From someone@x Mon", "From: a@b.c", ":novalue", "no colon here", "Bad Name: x", "Tên: x",
         "X-\udcc3\udca1: y", "Subject: \udcc3\udca1 raw 8-bit", "a:b:c", "Content-Type: text/plain; charset=utf-8",
         "X-Tilde~!: ok", "X-Del\x7f: no", "Subject: tail\r", " cont\r", "Subject: a\rb", "Subject: \x1c sep"]


def _random_blocks(n: int) -> list[str]:
    rnd = random.Random(15)
    return ["".join(rnd.choice(LINES) + rnd.choice(["\n", "\r\n"]) for _ in range(rnd.randint(1, 6)))
            for _ in range(n)]


def test_a_header_block_reads_as_the_email_package_reads_it():
    blocks = [h for raw in RAW for h in _header_blocks(raw)] + _random_blocks(3000)
    fast = 0
    for head in blocks:
        got = mailparse._head(head)
        if got is None:
            continue   # handed to the email package
        fast += 1
        ref = email.parser.Parser().parsestr(head, headersonly=True)
        assert not ref.defects and ref.get_payload() == "" and ref.get_unixfrom() is None, head
        assert list(got.raw_items()) == list(ref.raw_items()) and not got.defects, head
        assert got.get_content_type() == ref.get_content_type()
    assert fast > 500


def test_the_usual_header_blocks_take_the_fast_path():
    blocks = [h for raw in CORPUS for h in _header_blocks(raw)]
    assert sum(mailparse._head(h) is not None for h in blocks) >= 0.9 * len(blocks)


def _q(data: bytes) -> str:
    return "".join(chr(b) if chr(b).isalnum() else "_" if b == 32 else f"={b:02X}" for b in data)


def _words(rnd: random.Random) -> str:
    text = rnd.choice(["báo cáo", "Sở TT&TT", "kết quả năm 2026", "", " ", "a", "Ω", "(x)", "\\"])
    data = text.encode("utf-8")
    b64 = base64.b64encode(data).decode()
    pieces = [
        f"=?utf-8?b?{b64}?=", f"=?UTF-8?B?{b64}?=", f"=?utf-8?q?{_q(data)}?=", f"=?utf-8?Q?{_q(data)}?=",
        f"=?utf-8?b?{b64.rstrip('=')}?=",
        "=?utf-8?b?A?=", "=?utf-8?b?!!!!?=", "=?utf-8?q?=C3?=", "=?utf-8?b?w6E=?=", "=?utf-8?q??=",
        f"=?iso-8859-1?q?{_q(text.encode('latin-1', 'replace'))}?=", "=?windows-1258?q?b=E1o?=",
        "=?x-unknown?q?abc?=", "=?utf8?q?abc?=", "=?utf-8*vi?q?abc?=", "=?", "?=", "=?utf-8?", "=?utf-8?x?abc?=",
        "Re:", "[kh/2026/t/u]", "V/v", "plain", "(comment)", "\\", "báo", "\udcc3\udca1", "a=?utf-8?q?b?=c",
    ]
    spaces = [" ", "  ", "\t", "\r\n ", "\n\t", "", "\n"]
    return "".join(rnd.choice(pieces) + rnd.choice(spaces) for _ in range(rnd.randint(1, 6)))


def _corpus_headers() -> list[str]:
    out = []
    for raw in RAW:
        msg = email.message_from_bytes(raw)
        out += [v for part in msg.walk() for _, v in part.raw_items() if isinstance(v, str) and "=?" in v]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_utf8_encoded_words_read_as_the_email_package_reads_them(seed):
    rnd = random.Random(seed)
    values = [_words(rnd) for _ in range(200)] + (_corpus_headers() if seed == 0 else [])
    fast = 0
    for value in values:
        got = mailparse._utf8_words(value)
        if got is not None:
            fast += 1
            assert got == _stdlib_header(value), value
    assert fast > 0


def test_the_usual_encoded_subject_and_name_take_the_fast_path():
    values = _corpus_headers()
    assert values and all(mailparse._utf8_words(v) is not None for v in values if "utf-8" in v.lower())


NAMES = ["Văn thư", "Văn thư xã 1", "tax", "Nguyễn Văn A", "UBND xã Đắk R'Moan", "a.b", "\"Quoted\"", "x (comment)",
         "a, b", "Sở: TT", "[x]", "back\\slash", "", "vanthu@x.example", "Tên\u00a0dài", "Tên\tdài", "a<b"]
ADDRS = ["vanthu@xa1.example", "first.last@x.example", "a+b@x-y.example", "a..b@x.example", "a@b", "a@b.", "@b.c",
         "a@@b.c", "\"q\"@x.example", "a@[1.2.3.4]", "a b@x.example", "ă@x.example", "a@x.example.", "a@x..example"]


def test_a_plain_from_reads_as_the_email_package_reads_it():
    rnd = random.Random(10)
    values = [f"{n} <{a}>" for n in NAMES for a in ADDRS] + ADDRS + [f"{n}<{a}>" for n in NAMES for a in ADDRS[:3]]
    values += [f"{rnd.choice(NAMES)} <{rnd.choice(ADDRS)}>{rnd.choice(['', ', ', ' x', '>'])}" for _ in range(500)]
    for value in values + [" ".join(v.split()) for v in values]:
        assert mailparse._addresses(value) == getaddresses([value]), value
    assert mailparse._PLAIN_FROM.fullmatch("Văn thư xã 1 <vanthu1@xa1.example>")


def test_parameters_remembered_are_the_ones_the_part_gives():
    mailparse._REMEMBERED.clear()
    for raw in RAW:
        for part in email.message_from_bytes(raw).walk():
            for _ in range(2):   # worked out, then remembered
                try:
                    want = mailparse._filename(part)
                except Exception as e:   # noqa: BLE001
                    with pytest.raises(type(e)):
                        mailparse._remembered(mailparse._filename, part, "content-disposition", "content-type")
                    continue
                assert mailparse._remembered(mailparse._filename, part, "content-disposition", "content-type") == want
                assert mailparse._remembered(email.message.Message.get_content_charset, part, "content-type") \
                    == part.get_content_charset()


@pytest.mark.parametrize("raw", RAW)
def test_the_same_reply_as_without_any_shortcut(raw, monkeypatch):
    fast = mailparse.parse_reply(raw)
    monkeypatch.setattr(mailparse, "message_from_bytes", email.message_from_bytes)
    monkeypatch.setattr(mailparse, "_utf8_words", lambda raw: None)
    monkeypatch.setattr(mailparse, "_addresses", lambda value: getaddresses([value]))
    monkeypatch.setattr(mailparse, "_remembered", lambda read, part, *headers: read(part))
    assert mailparse.parse_reply(raw) == fast


def test_a_broken_utf8_word_is_read_as_before():
    """Bytes that are no UTF-8 leave the header as written (the email package's UnicodeDecodeError)."""
    raw = corpus.message("a@b.example", "x", "body").replace(b"Subject: x", b"Subject: =?utf-8?q?=C3?= tail")
    assert mailparse.parse_reply(raw).subject == "=?utf-8?q?=C3?= tail"


def test_a_base64_body_decodes_as_the_email_package_decodes_it():
    rnd = random.Random(64)
    bodies = []
    for _ in range(3000):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 120)))
        text = base64.encodebytes(data).decode()
        edit = rnd.randrange(8)
        if edit == 1:
            text = text.replace("\n", "\r\n")
        elif edit == 2:
            text = text.rstrip("=\n")
        elif edit == 3 and text:
            i = rnd.randrange(len(text))
            text = text[:i] + rnd.choice(["!", " ", "=", "\r", "-", "\t", "==", "é", "\udcc3"]) + text[i:]
        elif edit == 4:
            text = text.replace("\n", "")
        bodies.append(text)
    fast = 0
    for text in bodies + ["", "\n", "QQ==\nQQ==\n", "=QQ=\n", "QUJD\r\n\r\n"]:
        for cte in ("base64", "BASE64", "quoted-printable", None):
            part, ref = email.message.Message(), email.message.Message()
            for m in (part, ref):
                if cte:
                    m["Content-Transfer-Encoding"] = cte
                m.set_payload(text)
            assert mailparse._payload(part) == ref.get_payload(decode=True), (text, cte)
            assert [type(d) for d in part.defects] == [type(d) for d in ref.defects]
            fast += cte == "base64" and not part.defects
    assert fast > 1000


def test_a_bare_cr_is_found_as_counting_finds_it():
    import itertools
    shapes = [b"".join(t) for k in range(9) for t in itertools.product([b"\r", b"\n", b"a"], repeat=k)]
    for raw in shapes:
        assert (mailparse._BARE_CR.search(raw) is None) == (raw.count(b"\r") == raw.count(b"\r\n")), raw
    crlf = CORPUS[0].replace(b"\n", b"\r\n")
    odd = crlf[:-40] + b"\rx" + crlf[-40:]   # one bare CR near the end: the email package reads it
    from tests.test_mailparse_fast import tree
    assert tree(mailparse.message_from_bytes(odd)) == tree(email.message_from_bytes(odd))


def test_a_broken_base64_word_leaves_the_header_as_written():
    """The email package raises HeaderParseError on it: the message is still read, never quarantined."""
    raw = b"From: a@b.example\nSubject: =?utf-8?b?A?= tail\nContent-Type: text/plain\n\nBody\n"
    assert mailparse.parse_reply(raw).subject == "=?utf-8?b?A?= tail"
