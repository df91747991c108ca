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
from collections.abc import Mapping
from dataclasses import dataclass

from models.keys import Key
from models.mailparse import Reply, nfc
from models.period import LABEL_PATTERN
from models.plan import Plan, Unit

TAG = re.compile(rf"\[([a-z0-9][a-z0-9-]*)/({LABEL_PATTERN})/([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)\]")
ALLOWED = frozenset({".docx", ".doc", ".pdf", ".xlsx", ".xls", ".odt", ".ods", ".zip",
                     ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff"})
ZIPPED = (".docx", ".xlsx", ".odt", ".ods", ".zip")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 25 * 1024 * 1024          # one attachment
    max_unzipped: int = 200 * 1024 * 1024      # a .docx/.xlsx/.zip, once unpacked
    max_ratio: int = 150                       # unpacked / packed: a zip bomb is far above


@dataclass(frozen=True)
class Match:
    status: str                 # matched | triage
    plan_id: str | None = None
    period: str | None = None
    task_id: str | None = None
    unit_id: str | None = None
    via: str = ""               # references | tag
    reason: str = ""


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder: no path parts, no control characters,
    no leading dots, at most 120 characters (the extension kept)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "", name).strip().lstrip(".")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10]
    stem = stem[: 120 - len(ext) - 1] or "tep-dinh-kem"
    return f"{stem}.{ext}" if ext else stem


def vet(filename: str, data: bytes, limits: Limits = Limits()) -> str | None:
    """Why an attachment must not be kept, or None when it may."""
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in ALLOWED:
        return f"loại tệp {ext or '(không có đuôi)'} không được nhận"
    if len(data) > limits.max_bytes:
        return f"tệp quá lớn ({len(data) // 1048576} MB > {limits.max_bytes // 1048576} MB)"
    if ext in ZIPPED:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
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


def match_reply(reply: Reply, plans: Mapping[str, Plan], sent: Mapping[str, Key]) -> Match:
    """Which plan, period, task and unit a reply answers. `sent` maps each Message-ID we sent
    to its cycle, for every plan; a tag names its plan, so every plan's replies are matched
    by that plan's units, in one pass over the mailbox."""
    key = next((sent[ref] for ref in reversed(reply.refs) if ref in sent), None)
    via = "references" if key else ""
    if key is None:
        tags = {Key(m[1], m[2], m[3], m[4]) for m in TAG.finditer(reply.subject)}
        if len(tags) > 1:
            return Match("triage", reason="tiêu đề có nhiều mã khác nhau")
        if tags:
            key, via = tags.pop(), "tag"
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


def _number(text: str) -> int | None:
    digits = re.sub(r"[.,\s]", "", text)
    return int(digits) if digits.isdigit() else None


def indicators_from(reply: Reply, plan: Plan, task_id: str, forms: list[list[list[str]]]) -> dict[str, int]:
    """The indicator values a report gives: from the reply form's table (`forms`: the
    tables of the .docx attachments, as rows of cell texts), else from lines
    `Tên chỉ tiêu: số` in the body."""
    wanted = [i for i in plan.indicators if i.id in plan.task(task_id).indicators]
    values: dict[str, int] = {}
    for table in forms:
        for row in table[1:]:
            if len(row) < 4:
                continue
            m = re.search(r"\[([a-z0-9-]+)\]", row[1])
            number = _number(row[3])
            if m and number is not None and m[1] in {i.id for i in wanted}:
                values[m[1]] = number
    if values:
        return values
    for line in reply.reply_text.splitlines():
        name, sep, value = line.rpartition(":")
        number = _number(value)
        if not sep or number is None:
            continue
        key = nfc(name).strip(" -*•\t").lower()
        for i in wanted:
            if key in (i.name.lower(), i.id) or i.name.lower().startswith(key) and len(key) > 4:
                values.setdefault(i.id, number)
    return values
