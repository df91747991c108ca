"""Decisions about a reply, pure: which unit and task it answers, whether its attachments
may be kept, and what numbers it reports.

Matching follows MAIL-NOTES.md: our own Message-IDs in In-Reply-To/References first, then
the subject tag; in every case the sender must be one of the unit's addresses (or in a
domain the unit declares). Anything else goes to triage, with the reason: never guessed.
"""
from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Protocol

from models.keys import Key
from models.mailparse import Bounce, Reply, nfc
from models.period import LABEL_PATTERN
from models.plan import Plan, Unit
from models.quote import _fold
from models.verp import Checked

TAG = re.compile(rf"\[([a-z0-9][a-z0-9-]*)/({LABEL_PATTERN})/([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)\]")
ALLOWED = frozenset({".docx", ".doc", ".pdf", ".xlsx", ".xls", ".odt", ".ods", ".zip",
                     ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff"})
ZIPPED = (".docx", ".xlsx", ".odt", ".ods", ".zip")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 25 * 1024 * 1024          # one attachment
    max_unzipped: int = 200 * 1024 * 1024      # a .docx/.xlsx/.zip, once unpacked
    max_ratio: int = 150                       # unpacked / packed: a zip bomb is far above
    max_members: int = 2000                    # files inside one .docx/.xlsx/.odt
    max_xml: int = 20 * 1024 * 1024            # one XML part, unpacked
    max_text: int = 1_000_000                  # characters of text read from one attachment
    seconds: float = 5.0                       # time to read the text of one attachment
    soffice_seconds: float = 60.0              # converting one .doc with LibreOffice


@dataclass(frozen=True)
class Match:
    status: str                 # matched | triage
    plan_id: str | None = None
    period: str | None = None
    task_id: str | None = None
    unit_id: str | None = None
    via: str = ""               # references | tag
    reason: str = ""


_BIDI_AND_CONTROL = ("Cc", "Cf", "Cs")   # controls, format (bidi marks and overrides, zero-width), lone surrogates
MAX_NAME_BYTES = 200
_RESERVED = dict.fromkeys(map(ord, '<>:"|?*'))


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder and can be written on any Linux file system:
    no path parts, no control, format (bidi overrides U+202A–U+202E, isolates U+2066–U+2069,
    marks U+200E/U+200F, zero-width) or unpaired surrogate characters, none of `<>:"|?*`, no
    leading dots, at most MAX_NAME_BYTES bytes in UTF-8 with the extension (up to ten letters
    or digits) kept and never a character cut in half. An empty stem becomes `tep-dinh-kem`
    (so `.pdf` is saved as `tep-dinh-kem.pdf`)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    if name.isprintable():   # no control, format or surrogate character: those are not printable
        name = name.translate(_RESERVED)
    else:
        name = "".join(ch for ch in name if unicodedata.category(ch) not in _BIDI_AND_CONTROL and ch not in '<>:"|?*')
    stem, dot, ext = name.strip().rpartition(".")
    if not dot or not re.fullmatch(r"[^\W_]{1,10}", ext):
        stem, ext = name, ""
    stem = stem.strip().lstrip(".").strip().rstrip(". ")
    room = MAX_NAME_BYTES - (len(ext.encode()) + 1 if ext else 0)
    stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(". ") or "tep-dinh-kem"
    return f"{stem}.{ext}" if ext else stem


def open_zip(filename: str, data: bytes) -> zipfile.ZipFile | None:
    """The zip an attachment of a zipped type (.docx, .xlsx, …) is, its listing read once so
    that `vet` and the text reader share it; None for another type or a broken zip."""
    if not filename.lower().endswith(ZIPPED):
        return None
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def vet(filename: str, data: bytes, limits: Limits = Limits(), zipped: zipfile.ZipFile | None = None) -> str | None:
    """Why an attachment must not be kept, or None when it may. `zipped`: its `open_zip`, when
    the caller has it."""
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in ALLOWED:
        return f"loại tệp {ext or '(không có đuôi)'} không được nhận"
    if len(data) > limits.max_bytes:
        return f"tệp quá lớn ({len(data) // 1048576} MB > {limits.max_bytes // 1048576} MB)"
    if ext in ZIPPED:
        try:
            z = zipped or zipfile.ZipFile(io.BytesIO(data))
            unpacked = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return "tệp nén hỏng, không mở được"
        if unpacked > limits.max_unzipped or unpacked > limits.max_ratio * max(len(data), 1):
            return f"tệp nén bất thường: giải nén ra {unpacked // 1048576} MB"
    return None


def addresses_of(unit: Unit) -> set[str]:
    return {a.lower() for a in unit.emails} | ({unit.head_email.lower()} if unit.head_email else set())


def speaks_for(unit: Unit, sender: str) -> bool:
    domain = sender.rsplit("@", 1)[-1]
    return sender in addresses_of(unit) or domain in {d.lower() for d in unit.domains}


def match_reply(reply: Reply, plans: Mapping[str, Plan], sent: Mapping[str, Key],
                covers: Mapping[Key, tuple[Key, ...]] | None = None,
                reported: Callable[[Key], bool] | None = None) -> Match:
    """Which plan, period, task and unit a reply answers. `sent` maps each Message-ID we sent
    to its cycle, for every plan; a tag names its plan, so every plan's replies are matched
    by that plan's units, in one pass over the mailbox.

    An email that covered several tasks of a unit is known by its first (`covers`: that
    first cycle -> every cycle, in the email's order). A reply to it is the report of: the
    one of its other tasks its subject tag names (the unit wrote that task's tag), else the one
    whose id its attachments' names carry (the reply forms are named "Phiếu số liệu - TASK -
    UNIT"), else the first of them the unit has not `reported` yet. Several named, or all already reported: triage, with
    the best guess."""
    ref_key = next((sent[ref] for ref in reversed(reply.refs) if ref in sent), None)
    tags = {Key(m[1], m[2], m[3], m[4]) for m in TAG.finditer(reply.subject)}
    key, via = ref_key, "references" if ref_key else ""
    if key is None:
        if len(tags) > 1:
            return Match("triage", reason="tiêu đề có nhiều mã khác nhau")
        if tags:
            key, via = next(iter(tags)), "tag"
    group = (covers or {}).get(key) if key is not None else None
    if group:
        key, problem = _one_of(group, reply, tags, reported or (lambda k: False))
        if problem:
            return Match("triage", key.plan, key.period, key.task, key.unit, via, problem)
    if key is None:
        units = [(p.plan.id, u) for p in plans.values() for u in p.units if speaks_for(u, reply.from_addr)]
        one = units[0] if len({u.id for _, u in units}) == 1 else None
        who = one[1].name if one else "người gửi chưa đăng ký"
        return Match("triage", one[0] if one else None, unit_id=one[1].id if one else None,
                     reason=f"không có mã thư hay tham chiếu tới thư đã gửi ({who})")
    where = (key.plan, key.period, key.task, key.unit)
    plan = plans.get(key.plan)
    if plan is None:
        return Match("triage", *where, via, f"mã kế hoạch {key.plan!r} không có trong tệp kế hoạch nào")
    if not plan.has_unit(key.unit or "") or key.task not in {t.id for t in plan.tasks}:
        return Match("triage", *where, via, "đơn vị hoặc nhiệm vụ không còn trong kế hoạch")
    unit = plan.unit(key.unit or "")
    if not speaks_for(unit, reply.from_addr):
        return Match("triage", *where, via,
                     f"người gửi {reply.from_addr} không phải địa chỉ đã đăng ký của {unit.name}")
    return Match("matched", *where, via)


def _one_of(group: tuple[Key, ...], reply: Reply, tags: set[Key], reported: Callable[[Key], bool]) -> tuple[Key, str]:
    """The task of a several-task email a reply reports on, and why a person must look (or "")."""
    named = [k for k in group[1:] if k in tags]   # the email's own tag names its first: no sign of a choice
    if not named:
        names = [a.filename or "" for a in reply.attachments]
        named = [k for k in group if any(f"- {k.task} -" in n for n in names)]
    if len(named) == 1:
        return named[0], ""
    tasks = ", ".join(k.task or "" for k in group)
    if named:
        return named[0], f"thư trả lời nêu nhiều nhiệm vụ ({', '.join(k.task or '' for k in named)}): chọn một"
    left = [k for k in group if not reported(k)]
    if left:
        return left[0], ""
    return group[0], f"thư trả lời công văn gồm {len(group)} nhiệm vụ ({tasks}), đều đã có báo cáo: chọn nhiệm vụ"


DELIVERED_TO = ("Delivered-To", "X-Original-To", "Envelope-To", "To")


def addressed_to(raw: bytes) -> tuple[str, ...]:
    """The addresses a message was delivered to: as the receiving servers wrote them
    (Delivered-To, X-Original-To, Envelope-To), then its To header; lower case, each once.
    Only the header block is read."""
    end = re.search(rb"\r?\n\r?\n", raw)
    head = BytesHeaderParser().parsebytes(raw[:end.end()] if end else raw)
    values = [str(v) for name in DELIVERED_TO for v in head.get_all(name, [])]
    return tuple(dict.fromkeys(a.strip().lower() for _, a in getaddresses(values) if "@" in a))


@dataclass(frozen=True)
class BounceVerdict:
    """What to do with a bounce: `bounce` (mark `failed` of our letter `message_id`) or
    `triage` (`reason`; `message_id` when the letter is known). `anywhere`: the bounce came
    to the letter's own signed bounce address, so the failed addresses need not be ones the
    letter was sent to (a forward of it failed)."""
    status: str
    message_id: str | None = None
    failed: tuple[Bounce, ...] = ()
    anywhere: bool = False
    reason: str = ""


def judge_bounce(reply: Reply, to: Sequence[str], sent: Container[str],
                 check: Callable[[str], Checked]) -> BounceVerdict:
    """Whether a bounce proves which letter of ours it is about. `to`: the addresses it was
    delivered to (`addressed_to`); `check`: what a bounce address proves (models/verp.py);
    `sent`: the Message-IDs we sent. Proof is either a signed bounce address of a letter (it
    counts even when the bounce returns none of its headers) or, with none, our Message-ID
    in the returned headers and a failed address the letter was sent to (checked by the
    caller). A forged or broken bounce address, two letters' addresses, a returned
    Message-ID of another letter of ours, or no address failed named: triage, with the reason."""
    checked = [c for c in map(check, to) if c.message_id or c.problem]
    proved = list(dict.fromkeys(c.message_id for c in checked if c.message_id))
    failed = tuple(b for b in reply.bounces if b.status.startswith("5") or b.action == "failed")
    if checked and not proved:
        return BounceVerdict("triage", reason=f"thư báo lỗi không đáng tin: {checked[0].problem}; xem thư gốc")
    if len(proved) > 1:
        return BounceVerdict("triage", reason="thư báo lỗi gửi tới địa chỉ trả lỗi của nhiều thư khác nhau: "
                                              "xem thư gốc")
    if proved:
        ours = proved[0]
        returned = reply.bounced_message_id
        if returned and returned != ours and returned in sent:
            return BounceVerdict("triage", ours, reason="thư báo lỗi gửi về địa chỉ trả lỗi của một thư nhưng kèm "
                                                         "mã của thư khác: xem thư gốc")
        if not reply.bounces:
            return BounceVerdict("triage", ours, reason="thư báo lỗi của một thư đã gửi (đúng địa chỉ trả lỗi) nhưng "
                                                         "không nêu địa chỉ nào bị trả lại: xem thư gốc")
        return BounceVerdict("bounce", ours, failed, anywhere=True)
    if not reply.bounces:
        return BounceVerdict("triage", reason="thư báo lỗi không rõ địa chỉ nào bị trả lại: xem thư gốc")
    if reply.bounced_message_id not in sent:
        # anyone can write from postmaster@, and a believed bounce silences a unit
        return BounceVerdict("triage", reason="thư báo lỗi không kèm mã thư dondoc đã gửi: chưa tin, xem thư gốc")
    return BounceVerdict("bounce", reply.bounced_message_id, failed)


@dataclass(frozen=True)
class Number:
    value: int | float
    estimate: bool = False      # "khoảng 20", "~20", "20+", "hơn 20", "trên 20", "gần 20"
    kind: str = "count"         # count | decimal | percent


_ESTIMATE_BEFORE = re.compile(r"^(?:khoảng|khoang|chừng|tầm|xấp xỉ|ước tính|ước|hơn|trên|gần|gần như|"
                              r"ít nhất|tối thiểu|~|≈|>|≥|about|approx\.?|over|nearly|around)\s*", re.IGNORECASE)
_ESTIMATE_AFTER = re.compile(r"\s*(?:\+|trở lên|hơn|có lẻ|\.\.\.|…)$", re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d.,\s\u00a0\u202f]*\d|\d")


def read_number(text: str) -> Number | None:
    """The one number a value cell or line gives, or None when it gives none or more than
    one (a range "15 - 20", "15/20") or one that cannot be read for sure. Rules: an
    estimate word before (khoảng, hơn, trên, gần, ~ …) or after (+, trở lên) flags it;
    "." and spaces group thousands ("1.234", "1 234", "1.234.567" → 1234…); "," is the
    decimal mark ("87,5" → 87.5, "1.234,5" → 1234.5); "." followed by other than groups
    of three digits is a decimal mark too ("87.5"); one "," followed by exactly three
    digits ("1,250") is ambiguous and not read; a "%" after it makes it a percent; words
    around it (units: "15 tin bài") are ignored."""
    t = " ".join(unicodedata.normalize("NFC", text).replace("\u00a0", " ").replace("\u202f", " ").split())
    estimate = False
    while (m := _ESTIMATE_BEFORE.match(t)) and m.end():
        t, estimate = t[m.end():], True
    numbers = list(_NUMBER.finditer(t))
    if len(numbers) != 1:
        return None
    raw = numbers[0][0].strip()
    rest = t[numbers[0].end():].strip()
    percent = rest.startswith("%")
    rest = rest[1:].strip() if percent else rest
    if _ESTIMATE_AFTER.match(rest) or re.match(r"(?:\+|trở lên)", rest):
        estimate = True
    if re.search(r"\d\s+\d", raw) and not re.fullmatch(r"\d{1,3}(?: \d{3})+", raw):
        return None   # "15 20": two numbers
    raw = raw.replace(" ", "")
    whole, comma, frac = raw.rpartition(",") if "," in raw else (raw, "", "")
    if comma and (whole.count(",") or "." in frac):
        return None   # "1,234,567" or "1,234.5": English grouping, not ours
    if comma and len(frac) == 3 and "." not in whole:
        return None   # "1,250": 1250 or 1.25?
    if "." in whole and not re.fullmatch(r"\d{1,3}(?:\.\d{3})+", whole):
        if comma or whole.count(".") > 1:
            return None
        whole, frac, comma = whole.split(".")[0], whole.split(".")[1], "."
    digits = whole.replace(".", "")
    if not digits.isdigit() or comma and not frac.isdigit():
        return None
    value: int | float = float(f"{digits}.{frac}") if comma else int(digits)
    return Number(value, estimate, "percent" if percent else "decimal" if comma else "count")


@dataclass(frozen=True)
class Indicators:
    values: dict[str, int | float]
    estimates: tuple[str, ...] = ()            # ids whose value was given as an estimate
    unreadable: tuple[tuple[str, str], ...] = ()   # (indicator id, the text as written)


class HasText(Protocol):
    @property
    def reply_text(self) -> str: ...   # a reply's own text (a paper report has none)


def read_indicators(reply: HasText, plan: Plan, task_id: str, forms: list[list[list[str]]]) -> Indicators:
    """The indicator values a report gives: from the reply form's tables (`forms`: the
    tables of the .docx attachments, as rows of cell texts; a row names its indicator as
    `[id]` in its second cell and gives the value in its fourth), else from lines
    `Tên chỉ tiêu: số` in the reply's own text. A value `read_number` cannot read is listed
    in `unreadable` with its text, for a person; an empty cell is not a value."""
    wanted = [i for i in plan.indicators if i.id in plan.task(task_id).indicators]
    ids = {i.id for i in wanted}
    found: dict[str, tuple[Number | None, str]] = {}
    for table in forms:
        for row in table[1:]:
            m = re.search(r"\[([a-z0-9-]+)\]", row[1]) if len(row) >= 4 else None
            if m and m[1] in ids and row[3].strip():
                found[m[1]] = (read_number(row[3]), row[3].strip())
    if not any(n for n, _ in found.values()):
        for line in reply.reply_text.splitlines():
            name, sep, value = line.rpartition(":")
            key = nfc(name).strip(" -*•\t").lower()
            if not sep or not key or not value.strip():
                continue
            for i in wanted:
                if key in (i.name.lower(), i.id) or i.name.lower().startswith(key) and len(key) > 4:
                    found.setdefault(i.id, (read_number(value), value.strip()))
    return Indicators({k: n.value for k, (n, _) in found.items() if n},
                      tuple(k for k, (n, _) in found.items() if n and n.estimate),
                      tuple((k, raw) for k, (n, raw) in found.items() if n is None))


def indicators_from(reply: Reply, plan: Plan, task_id: str, forms: list[list[list[str]]]) -> dict[str, int | float]:
    """The values `read_indicators` could read (the former interface)."""
    return read_indicators(reply, plan, task_id, forms).values


_REPORT_WORDS = re.compile(r"\b(?:bao cao|ket qua|da dang|dang tai|tin bai|tin, bai|bai viet|chuong trinh|to chuc|"
                           r"tuyen truyen|phat song|phat hanh|hoi nghi|hoi thao|lop hoc|luot|buoi|hoc vien|tham gia|"
                           r"trien khai|van ban|an pham|to roi|pano|pa no|phong su|chuyen muc|so lieu|chi tieu|dat|"
                           r"ty le|hoan thanh|thuc hien duoc)\b")
_COVER = re.compile(r"\b(?:gui (?:kem|lai|bo sung|den|toi|so|qua)?\s*(?:bao cao|file|tep|van ban|so lieu|phieu)|"
                    r"xin gui|em gui|gui so|gui kem|dinh kem|kem theo|da nhan|xin loi|gui muon|cham tre|"
                    r"theo yeu cau|cong van so|kinh gui|tran trong|de nghi so|kinh de nghi|xin cam on|cam on)\b")
_NOT_A_COUNT = re.compile(r"\b(?:19|20)\d\d\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b\d+/[a-z]|\bso \d+|"
                          r"\b\d{1,2}[:h]\d{2}\b|\b(?:nam|thang|ngay|quy|dot) \d+")
_SENTENCES = re.compile(r"(?<!\d)[.!?;](?!\d)|\n")
_WORD, _DIGITS = re.compile(r"\w+"), re.compile(r"\d+")


def reads_as_report(text: str) -> bool:
    """Whether a reply's own text is itself a report, not a cover note. Rule: split the
    text into sentences and leave out the cover sentences (those that send, attach, thank,
    greet or apologise: "gửi báo cáo", "đính kèm", "kèm theo", "đã nhận", "xin lỗi",
    "gửi muộn", "theo yêu cầu", "công văn số", "Kính gửi", "Trân trọng"…). What is left reads as
    a report when it has a report word ("báo cáo", "kết quả", "đã đăng", "tin bài",
    "chương trình", "tổ chức", "tuyên truyền", "lượt", "buổi"…) and either at least 25 words
    or a number that is not a year, a date, a time or a document number (an amount, within
    the same sentence as a report word). Diacritics are ignored (many type without them)."""
    words, amount, report = 0, False, False
    for sentence in _SENTENCES.split(_fold(text)):   # stops as soon as the answer is known
        if not sentence.strip() or _COVER.search(sentence):
            continue
        has_word = bool(_REPORT_WORDS.search(sentence))
        report |= has_word
        if words < 25:
            words += len(_WORD.findall(sentence))
        amount = amount or has_word and _DIGITS.search(_NOT_A_COUNT.sub(" ", sentence)) is not None
        if report and (words >= 25 or amount):
            return True
    return False


_ATTACHMENT_WORDS = re.compile(r"\b(?:dinh kem|gui kem|kem theo|kem file|kem tep|file kem|tep kem|attached|attachment|"
                               r"enclosed|xem file|xem tep)\b")


def mentions_attachment(text: str) -> bool:
    """Whether the text says something is attached ("đính kèm", "gửi kèm", "kèm theo",
    "file đính kèm", "attached"…), with or without diacritics."""
    return bool(_ATTACHMENT_WORDS.search(_fold(text)))
