"""What the report may quote of a unit's text, pure: its own results, never a greeting, a
cover note, an apology, a signature or a document's header; and which content item each
part of a report speaks about.

`own_words(text)` keeps the sentences that say what was done, at most a few;
`about_items(text, items)` splits a report into the parts about each content item (by its
headings, else by the words each paragraph shares with the item's text).
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping

_ACCENTS = re.compile("[\u0300-\u036f]+")   # the combining marks Vietnamese letters decompose to
_OTHER = re.compile("[^\x00-\x7f\u0300-\u036f]")   # anything but ASCII and those marks


def _fold(text: str) -> str:
    """"Đã đăng" → "da dang": lower case, no diacritics (NFC or NFD input), đ as d, spaces
    collapsed per line (many type without marks)."""
    text = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    if _OTHER.search(text) is None:   # ASCII and Vietnamese marks alone (the usual): drop the marks at once
        text = text.encode("ascii", "ignore").decode("ascii")
    else:
        text = _ACCENTS.sub("", text)
        if not text.isascii():   # rarer marks than Vietnamese ones: one character at a time
            text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


# Sentence ends: . ! ? … followed by a space and a capital, an opening quote or a bracket;
# a dot between digits (1.234) never ends one. Line breaks always do.
_SPLIT = re.compile(r"(?<=[.!?…;])\s+(?=[\"“‘(\[A-ZÀ-ỸĐ0-9-])|\n+")
# A cover sentence: by how it starts (greetings, preambles, headings of results, signatures)…
_COVER_START = re.compile(
    r"(?:kinh gui|kinh thua|kinh chao|xin chao|chao (?:anh|chi|so|phong|ban)|dear|thua|than gui|gui:)\b"
    r"|can cu|thuc hien (?:ke hoach|cong van|van ban|chi dao|y kien)|noi nhan|luu:|luu vt|v/v|so:|ngay \d"
    r"|(?:bao cao )?ket qua (?:thuc hien|to chuc|tuyen truyen|trien khai|huong ung|cong tac)\b(?!.*\d.*\d)"
    r"|(?:bao cao )?ket qua (?:thuc hien|to chuc|tuyen truyen|trien khai|huong ung|cong tac)\b.*\bnam \d{4}\.?$"
    r"|(?:van thu|nguoi lap|nguoi bao cao|can bo|chuyen vien|truong phong|pho truong phong|giam doc|"
    r"pho giam doc|kt\.|tm\.|chu tich|pho chu tich|thu truong|dien thoai|dt:|email|e-mail)\b")
# …or by words anywhere (apologies, "gửi báo cáo", "đính kèm", thanks, references, letterheads);
# one \b before every alternative, so the pattern tries them only at a word's start
_COVER_ANY = re.compile(
    r"\b(?:(?:xin loi|thanh that xin loi|gui muon|gui cham|nop muon|cham tre|thong cam|luong thu|mong so|mong quy)\b"
    r"|(?:xin )?gui (?:kem |lai |bo sung |den |toi |ve )?(?:so |quy so )?(?:ban )?"
    r"(?:bao cao|file|tep|van ban|so lieu|phieu|cong van)"
    r"|(?:dinh kem|gui kem|kem theo|file kem|tep kem|attached|xem file|xem tep|theo file|theo tep)\b"
    r"|(?:tran trong|xin cam on|cam on|than ai|kinh chuc|best regards|regards|thanks)\b"
    r"|(?:theo yeu cau|cong van so|de nghi so (?:xem|tong hop|tiep nhan)|vui long|xac nhan (?:da )?nhan)\b"
    r"|nhu sau:?$|cong hoa xa hoi chu nghia\b|doc lap - tu do\b"
    r"|(?:gui tu|sent from) (?:iphone|android|dien thoai)\b)")
_RESULT = re.compile(r"\d|\b(?:da|to chuc|dang|phat|thuc hien|trien khai|xay dung|mo|treo|in|phat hanh|"
                     r"tuyen truyen|huong dan|tap huan|ket qua|hoan thanh|duy tri|phoi hop|van dong)\b")
DETAIL = "(chi tiết tại báo cáo của đơn vị)"


def sentences(text: str) -> list[str]:
    """The text's sentences and lines, spaces collapsed, list marks ("-", "+", "•", "a)") kept off."""
    out = []
    for s in _SPLIT.split(unicodedata.normalize("NFC", text)):
        s = " ".join(s.split()).lstrip("-+•*– ").strip()
        if s:
            out.append(s)
    return out


def is_cover(sentence: str, folded: str | None = None) -> bool:
    """Whether a sentence is a greeting, a cover note ("… gửi báo cáo …", "đính kèm"), an
    apology ("xin lỗi vì gửi muộn"), thanks, a signature or contact line, a document's header
    or preamble ("Căn cứ …", "… như sau:"), or a heading in capitals: never the unit's results."""
    folded = (folded if folded is not None else _fold(sentence)).strip()
    letters = sum(map(str.isalpha, sentence))
    if letters and sum(map(str.__ne__, sentence, sentence.lower())) > 0.8 * letters:
        return True   # "BÁO CÁO", "UBND HUYỆN CƯ JÚT": a header (its capitals are what lower() changes)
    if len(folded.split()) < 4 and not re.search(r"\d", folded):
        return True   # "Trân trọng", "Văn thư", a name: no result fits in three words
    return bool(_COVER_START.match(folded) or _COVER_ANY.search(folded))


def own_words(text: str, most: int = 3, chars: int = 450) -> tuple[str, bool]:
    """The unit's own results in `text`: its sentences that are not cover sentences, at most
    `most` of them and about `chars` characters. Returns (the words, whether some were left
    out). ("", False) when nothing is left."""
    kept = [s for s in sentences(text) if not is_cover(s, f := _fold(s)) and _RESULT.search(f)]
    out: list[str] = []
    for s in kept:
        if out and (len(out) >= most or sum(len(x) + 1 for x in out) + len(s) > chars):
            break
        out.append(s if len(s) <= chars else s[:chars].rsplit(" ", 1)[0] + "…")
    words = " ".join(x if x.endswith((".", "!", "?", "…", ":", ";")) else x + "." for x in out)
    return words, len(out) < len(kept) or any(x.endswith("…") for x in out)


def _grams(text: str) -> set[str]:
    syl = re.findall(r"[a-z0-9]+", _fold(text))
    return {f"{a} {b}" for a, b in zip(syl, syl[1:], strict=False)}


# headings of a report's other sections: what follows is not about a content item
_SECTIONS = {"_difficulties": re.compile(r"^(?:[ivx\d]+[.)]?\s*)?(?:nhung )?(?:kho khan|han che|ton tai)\b"),
             "_proposals": re.compile(r"^(?:[ivx\d]+[.)]?\s*)?(?:de xuat|kien nghi)\b"),
             "_": re.compile(r"^(?:[ivx\d]+[.)]?\s*)?(?:phuong huong|nhiem vu (?:trong )?(?:thoi gian|nam) toi|"
                             r"danh gia chung|noi nhan)\b")}
_HEAD = re.compile(r"^\s*(?:(?:nội dung|mục|về)\s+)?([IVX]+\.\d+|\d+(?:\.\d+)*|[IVX]+|[a-zđ])\s*[.):-]?\s+",
                   re.IGNORECASE)


def about_items(text: str, items: Mapping[str, str]) -> dict[str | None, str]:
    """The parts of a report about each content item (`items`: id -> the item's text): a
    paragraph that is a heading (it names the item's id, or carries most of the item's
    distinctive words) opens that item's part, and the paragraphs after it belong there; a
    paragraph before any heading goes to the item whose distinctive words it shares most,
    when it shares enough. What no item takes is under None; what follows a heading of the
    difficulties, the proposals or another section is under "_difficulties", "_proposals", "_". Pure."""
    grams = {i: _grams(t) for i, t in items.items()}
    df: dict[str, int] = {}
    for g in grams.values():
        for x in g:
            df[x] = df.get(x, 0) + 1
    n = len(items)
    weight = {x: math.log((n + 1) / d) for x, d in df.items()}
    total = {i: sum(weight[x] for x in g) or 1.0 for i, g in grams.items()}
    ids = {_fold(i): i for i in items}
    parts: dict[str | None, list[str]] = {}
    current: str | None = None
    for para in (p.strip() for p in unicodedata.normalize("NFC", text).splitlines()):
        if not para:
            continue
        folded = _fold(para)
        section = next((k for k, r in _SECTIONS.items() if r.match(folded) and len(para.split()) <= 12), None)
        if section:   # "II. KHÓ KHĂN, VƯỚNG MẮC": the items' part of the report has ended
            current = section
            continue
        mine = _grams(para)
        scores = {i: sum(weight[x] for x in g & mine) for i, g in grams.items()}
        ranked = sorted(scores, key=lambda i: -scores[i])
        best = ranked[0] if ranked and (len(ranked) == 1 or scores[ranked[0]] > scores[ranked[1]]) else None
        head = _HEAD.match(para)
        named = ids.get(_fold(head[1])) if head else None
        if named is not None and not re.search(r"[^\d.]", named) and (best != named or not scores[named]):
            named = None   # "1." may be the unit's own numbering: a bare number needs the item's words too
        # a numbered short line is a heading when it shares some of the item's words; any line when most
        need = 1.5 if best and head and len(para.split()) <= 15 else 0.5 * total.get(best or "", 1)
        if named is not None or best is not None and scores[best] >= need and len(para.split()) <= 60:
            current = named if named is not None else best
            assert current is not None
            rest = para[head.end():] if head else para
            if not rest.strip() or _grams(rest) <= grams[current] or (head and len(rest.split()) <= 12
                                                                        and not re.search(r"\d", rest)) or (
                    scores[current] >= 0.5 * total[current] and len(rest.split()) <= len(items[current].split()) + 3):
                continue   # a heading only: the item's own text, nothing of the unit's
            parts.setdefault(current, []).append(rest.strip())
            continue
        if current is None and best is not None and scores[best] >= max(1.5, 0.2 * total[best]):
            parts.setdefault(best, []).append(para)
            continue
        parts.setdefault(current, []).append(para)
    return {k: "\n".join(v) for k, v in parts.items()}
