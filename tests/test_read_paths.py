"""Shortcuts in reading a reply give what the plain code gave: dondoc.inbox.head_of (found, not
split: the body is never copied) and models.inbound.reads_as_report (it stops once the answer
is known), on the reply corpus and seeded random input."""
from __future__ import annotations

import itertools
import random
import re
import unicodedata

from dondoc.inbox import head_of
from models.inbound import _COVER, _NOT_A_COUNT, _REPORT_WORDS, _SENTENCES, reads_as_report
from models.mailparse import parse_reply
from models.quote import _fold
from tests.test_mailparse_fast import CORPUS


def _split_head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]


def test_head_of_is_what_comes_before_the_first_empty_line():
    pieces = [b"\r", b"\n", b"a", b"\r\n"]
    shapes = [b"".join(t) for k in range(8) for t in itertools.product(pieces, repeat=k)]
    rnd = random.Random(4)
    shapes += [b"".join(rnd.choice(pieces + [b"\n\n", b"\r\n\r\n"]) for _ in range(rnd.randint(0, 20)))
               for _ in range(20000)]
    for raw in shapes + CORPUS + [r.replace(b"\n", b"\r\n") for r in CORPUS]:
        assert head_of(raw) == _split_head(raw), raw
    assert head_of(b"A: b\r\n\r\nbody\n\nmore") == b"A: b" and head_of(b"A: b\n\nx\r\n\r\n") == b"A: b"


def _reads_as_report(text: str) -> bool:
    """The rule as first written: every sentence looked at."""
    words, numbers, report = 0, 0, False
    for sentence in _SENTENCES.split(_fold(text)):
        if not sentence.strip() or _COVER.search(sentence):
            continue
        has_word = bool(_REPORT_WORDS.search(sentence))
        report |= has_word
        words += len(re.findall(r"\w+", sentence))
        numbers += has_word and len(re.findall(r"\d+", _NOT_A_COUNT.sub(" ", sentence))) > 0
    return report and (words >= 25 or numbers > 0)


SENTENCES = ["Kính gửi Sở", "UBND xã báo cáo kết quả tuyên truyền năm 2026", "đã đăng 12 tin, bài",
             "tổ chức 3 buổi sinh hoạt", "Trân trọng", "Xin gửi báo cáo đính kèm", "theo công văn số 12/STTTT",
             "ngày 05/11/2026", "lúc 8h30", "Tin, bài: 12", "chúng tôi đã làm nhiều việc trong năm qua",
             "hoàn thành", "đạt 87,5%", "xin lỗi vì gửi muộn", "", "một hai ba bốn năm sáu bảy tám chín mười",
             "treo 8 băng rôn", "Văn thư"]


def _fold_before(text: str) -> str:
    """models.quote._fold as first written: every mark taken out by the pattern."""
    text = re.sub("[\u0300-\u036f]+", "", unicodedata.normalize("NFD", text.lower().replace("đ", "d")))
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def test_fold_as_before():
    rnd = random.Random(19)
    odd = [chr(c) for c in range(0x20, 0x250)] + [chr(c) for c in range(0x1E00, 0x1F00)] + \
        [chr(c) for c in range(0x300, 0x370)] + list("İẞǅΩ\u2126\u212b \n\t\r\u00a0\u2028\U0001f600中")
    viet = "aăâdđeêioôơuưyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    viet += viet.upper() + " \n,.;:09"
    texts = ["".join(rnd.choice(odd) for _ in range(rnd.randint(0, 12))) for _ in range(30000)]
    texts += ["".join(rnd.choice(viet) for _ in range(rnd.randint(0, 40))) for _ in range(20000)]
    texts += [parse_reply(raw).reply_text for raw in CORPUS]
    for text in texts + [unicodedata.normalize("NFD", t) for t in texts]:
        assert _fold(text) == _fold_before(text), text
    assert _fold("Đã ĐĂNG  12 tin,\nbài viết") == "da dang 12 tin,\nbai viet"


def test_reads_as_report_as_before():
    rnd = random.Random(7)
    texts = [parse_reply(raw).reply_text for raw in CORPUS]
    texts += ["".join(rnd.choice(SENTENCES) + rnd.choice([". ", ".\n", "\n", "; ", "! ", " "])
                      for _ in range(rnd.randint(0, 12))) for _ in range(3000)]
    seen = {_reads_as_report(t) for t in texts}
    assert seen == {True, False}
    for text in texts:
        assert reads_as_report(text) == _reads_as_report(text), text


PHRASES = ["This is the qmail-send program", "I'm afraid I wasn't able to deliver",
           "could not be delivered to one or more", "Delivery has failed to these recipients", "wasn't delivered to",
           "following address(es) failed", "following address failed", "permanent fatal errors"]


def _odd_case(rnd: random.Random, text: str) -> str:
    """The text with letters in random case, some as the non-ASCII letters case-blind matching takes for them."""
    odd = {"i": "ıİ", "s": "ſ", "k": "\u212a"}
    return "".join(rnd.choice(odd[ch.lower()]) if ch.lower() in odd and rnd.random() < 0.3
                   else ch.upper() if rnd.random() < 0.5 else ch for ch in text)


def test_a_bounce_notice_is_found_as_the_pattern_finds_it():
    from models import mailparse
    safe = set("abcdefghlmnoprtuw '-")   # no i, s, k
    for pattern in mailparse._BOUNCE_BODY.pattern.split("|"):
        phrase = pattern.replace(r"(?:\(es\))?", "").lower()
        assert any(h in phrase and set(h) <= safe for h in mailparse._BOUNCE_HINTS), phrase
    rnd = random.Random(3)
    texts = [parse_reply(raw).text for raw in CORPUS]
    for _ in range(5000):
        phrase = rnd.choice(PHRASES)
        cut = rnd.randint(0, len(phrase))
        pieces = [rnd.choice(SENTENCES), phrase if rnd.random() < 0.5 else phrase[:cut] + " " + phrase[cut:],
                  rnd.choice(SENTENCES)]
        texts.append(_odd_case(rnd, " ".join(pieces)) if rnd.random() < 0.6 else " ".join(pieces))
    found = 0
    for text in texts:
        want = mailparse._BOUNCE_BODY.search(text) is not None
        found += want
        assert mailparse._bounce_body(text) == want, text
    assert 500 < found < len(texts) - 500


def test_safe_filename_shortcut_for_printable_names_drops_what_the_per_character_rule_drops():
    """`safe_filename` skips the per-character category look-up for a printable name: on such a
    name, dropping the reserved characters is all the look-up did."""
    import unicodedata

    from models.inbound import _BIDI_AND_CONTROL, _RESERVED
    rnd = random.Random(12)
    odd = ["\u202e", "\u2066", "\u200e", "\u200b", "\ufeff", "\x00", "\x1f", "\x7f", "\x85", "\ud800", "\udcc3",
           "\ue000", "\u0378", "\u00a0", "\u2028", " ", "<", ">", ":", '"', "|", "?", "*", "/", "\\", ".", "..",
           "Báo cáo", "kết quả", "docx", "PDF", "a", "Đ", "e\u0301", "\U0001f600", "_", "-"]
    names = ["".join(rnd.choice(odd) for _ in range(rnd.randint(0, 12))) for _ in range(20000)]
    names += ["Báo cáo kết quả.docx", "x" * 300 + ".pdf", "ổ" * 150 + ".docx"]
    assert sum(n.isprintable() for n in names) > 1000 and sum(not n.isprintable() for n in names) > 1000
    for name in filter(str.isprintable, names):
        kept = "".join(ch for ch in name if unicodedata.category(ch) not in _BIDI_AND_CONTROL and ch not in '<>:"|?*')
        assert name.translate(_RESERVED) == kept, name
