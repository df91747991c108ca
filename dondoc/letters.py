"""Build the letters: (plan, ledger row, date) -> the bytes of a MIME message with the .docx attached.

Pure once the compiled `Templates` are given: no clock (the send time is a parameter), no
network, no file written. The ledger row carries what was decided: stage, recipients,
Message-ID and the thread to reply into, so a rebuilt letter is the same letter.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import re
import weakref
from dataclasses import dataclass
from email import base64mime, quoprimime
from email.utils import format_datetime, formataddr
from html import escape
from pathlib import Path
from urllib.parse import quote

from dondoc.render import Templates, _date_line
from models.calendar import BusinessCalendar
from models.period import parse_label, with_period
from models.plan import Plan
from models.rules import STAGE_WORDS

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
# The V/v line of each stage, around the task's own title.
SUBJECTS = {
    "request": "{title}",
    "reminder": "nhắc {title}",
    "urging": "đôn đốc {title}",
    "overdue": "{title} (quá hạn)",
    "escalation": "các đơn vị chưa gửi {title}",
    "ack": "đã nhận {title}",
}
LETTER_STAGES = ("request", "reminder", "urging", "escalation", "overdue")   # those with a .docx
BLANK_NUMBER = "\u00a0" * 8   # the văn thư writes the number in when registering


def tag_of(plan_id: str, period: str, task_id: str, unit_id: str | None = None) -> str:
    """The subject tag that names plan, period, task and unit: `hoc-tap-suot-doi/2026-Q3/task/unit`."""
    return "/".join(p for p in (plan_id, period, task_id, unit_id) if p)


def _safe_name(text: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", text).strip(" .-")[:120]


@dataclass(frozen=True)
class Letter:
    key: str
    data: bytes           # the whole message, CRLF line ends, ready for SMTP or a .eml file
    docx: bytes | None    # the official letter; an acknowledgement has none
    docx_name: str
    relpath: str          # where the .docx is kept under the output folder
    recipients: tuple[str, ...]


def history_text(entries) -> str:
    by_stage: dict[str, list[str]] = {}
    for stage, day, status in entries:
        if status == "sent":
            by_stage.setdefault(STAGE_WORDS[stage], []).append(f"{day:%d/%m}")
    return "; ".join(f"{k} {', '.join(v)}" for k, v in by_stage.items()) or "chưa gửi được thư nào"


def context(plan: Plan, row: dict, cal: BusinessCalendar, history: dict | None = None) -> dict:
    """What the reply form (and a unit's email) may use for one ledger row: its task, unit,
    tag, deadline and indicators. A new dict each call; the parts every unit of a task shares
    (plan, issuer, task, indicators, items) are built once and shared: read them, never change them."""
    period = parse_label(row["period"])
    unit = plan.unit(row["unit_id"]) if row["unit_id"] and plan.has_unit(row["unit_id"]) else None
    day = dt.date.fromisoformat(row["decided_on"])
    deadline = dt.date.fromisoformat(row["deadline"]) if row.get("deadline") else day
    shared = _task_parts(plan, row["task_id"], row["period"])
    return shared | {
        "unit": unit.model_dump(mode="json") if unit else None, "stage": row["stage"],
        "tag": tag_of(plan.plan.id, row["period"], row["task_id"], unit.id if unit else None),
        "period_text": period.text, "deadline": f"{deadline:%d/%m/%Y}", "letter_date": f"{day:%d/%m/%Y}",
        "working_days_left": _working_days(cal, day - dt.timedelta(days=1), deadline - dt.timedelta(days=1)),
        "working_days_overdue": _working_days(cal, deadline, day),
    }


_TASK_PARTS: dict[tuple[str, str, str], dict] = {}   # (plan digest, task, period) -> its shared context


def _task_parts(plan: Plan, task_id: str, label: str) -> dict:
    """The part of `context` that is the same for every unit of a task and period, built once
    per plan content (its digest)."""
    key = (plan.digest, task_id, label)
    if key not in _TASK_PARTS:
        if len(_TASK_PARTS) > 256:
            _TASK_PARTS.clear()
        period, task = parse_label(label), plan.task(task_id)
        _TASK_PARTS[key] = {
            "plan": _plan_info(plan, period), "issuer": plan.issuer.model_dump(mode="json"),
            "task": {"id": task.id, "title": with_period(task.title, period), "text": with_period(task.text, period)},
            "task_paragraphs": [with_period(p, period) for p in task.text.splitlines() if p.strip()],
            "indicators": [i.model_dump(mode="json") for i in plan.indicators if i.id in task.indicators],
            "items": [c.model_dump(mode="json") for c in plan.content_items   # the reply form's rows
                      if c.id in task.content_items],
        }
    return _TASK_PARTS[key]


@functools.lru_cache(maxsize=1024)
def _working_days(cal: BusinessCalendar, a: dt.date, b: dt.date) -> int:
    """Working days after `a` up to `b` included."""
    return sum(cal.is_working_day(a + dt.timedelta(days=i)) for i in range(1, (b - a).days + 1))


def _plan_info(plan: Plan, period) -> dict:
    info = plan.plan.model_dump(mode="json")
    return info | {"title": with_period(plan.plan.title, period),
                   "implements": with_period(plan.plan.implements, period)}


def addressees(plan: Plan, unit_ids: list[str]) -> list[str]:
    """The `Kính gửi` lines for these units: a group's name when every unit of the group is
    among them, else each unit's name; in plan order. The issuer's own divisions (an
    `internal` group) are never addressed."""
    wanted, lines, done = {u for u in unit_ids if not is_internal(plan, u)}, [], set()
    for u in plan.units:
        if u.id not in wanted or u.id in done:
            continue
        members = [m.id for m in plan.units if m.group == u.group]
        if len(members) > 1 and set(members) <= wanted:
            lines.append(plan.group(u.group).name)
            done |= set(members)
        else:
            lines.append(u.name)
            done.add(u.id)
    return lines


APPENDIX_OVER = 6   # more Kính gửi lines than this: "các cơ quan, đơn vị có tên tại Phụ lục"


def is_internal(plan: Plan, unit_id: str) -> bool:
    """Whether the unit is a division of the issuer itself (its group's relation is `internal`):
    asked by plain email, never by công văn."""
    return plan.group(plan.unit(unit_id).group).relation == "internal"


def verb_for(plan: Plan, unit_ids) -> str:
    """"yêu cầu" when every unit addressed is subordinate to the issuer, else "đề nghị" (a
    division of the issuer itself, asked by email, is never "required" by its sister division)."""
    relations = [plan.group(plan.unit(u).group).relation for u in unit_ids]
    return "yêu cầu" if relations and all(r == "subordinate" for r in relations) else "đề nghị"


def document_context(plan: Plan, stage: str, day: dt.date, rows: list[dict], cal: BusinessCalendar,
                     history: dict | None = None, requests: dict | None = None) -> dict:
    """The context of the one công văn of `stage` on `day` covering `rows` (every unit and
    task concerned), as plain JSON data so the issued letter is rendered from exactly what was
    drafted. `requests`: (task, period) -> (number, date) of the issued first request. Rows
    of the issuer's own divisions are left out: a Sở sends no công văn to itself."""
    history, requests = history or {}, requests or {}
    rows = [r for r in rows if not is_internal(plan, r["unit_id"])]
    by_task: dict[tuple[str, str], list[dict]] = {}
    order = {t.id: i for i, t in enumerate(plan.tasks)}
    for r in sorted(rows, key=lambda r: (order.get(r["task_id"], 99), r["period"])):
        by_task.setdefault((r["task_id"], r["period"]), []).append(r)
    concerned = {r["unit_id"] for r in rows}
    unit_ids = [u.id for u in plan.units if u.id in concerned]
    lines = addressees(plan, unit_ids)
    tasks = []
    for (task_id, label), trs in by_task.items():
        period, task = parse_label(label), plan.task(task_id)
        asked = {r["unit_id"] for r in trs}
        mine = [u for u in unit_ids if u in asked]
        deadline = dt.date.fromisoformat(trs[0]["deadline"])
        number, issued = requests.get((task_id, label), (None, None))
        tasks.append({
            "id": task_id, "title": with_period(task.title, period), "period_text": period.text,
            "deadline": f"{deadline:%d/%m/%Y}",
            "paragraphs": [with_period(p, period) for p in task.text.splitlines() if p.strip()],
            "units_text": "" if len(mine) == len(unit_ids) else "; ".join(addressees(plan, mine)),
            "request": (f"Văn bản số {number} ngày {issued}" if number else
                        f"văn bản ngày {dt.date.fromisoformat(trs[0]['decided_on']):%d/%m/%Y}"
                        if stage == "request" else _request_text(history, task_id, label, mine)),
            "overdue_days": sum(cal.is_working_day(deadline + dt.timedelta(days=i))
                                for i in range(1, (day - deadline).days + 1)),
            "indicators": bool(task.indicators),
        })
    per_task = [{r["unit_id"] for r in trs} for trs in by_task.values()]
    first = parse_label(rows[0]["period"])
    title = tasks[0]["title"] if len(tasks) == 1 else \
        f"báo cáo kết quả thực hiện {plan.plan.type.lower()} {with_period(plan.plan.title, first)}"
    recipients = ["- Như trên;"]
    if any(json.loads(r.get("cc_addrs") or "[]") for r in rows):
        recipients.append("- Thủ trưởng các cơ quan, đơn vị (để chỉ đạo);")
    recipients += [f"- {r};" for r in plan.plan.letter_recipients]
    recipients.append(f"- Lưu: VT, {plan.issuer.division}.")
    signer = plan.signer
    return {
        "stage": stage, "plan": _plan_info(plan, first), "issuer": plan.issuer.model_dump(mode="json"),
        "signature": {"authority": signer.authority or "", "title": signer.title, "name": signer.name},
        "addressees": lines if len(lines) <= APPENDIX_OVER else ["Các cơ quan, đơn vị có tên tại Phụ lục kèm theo"],
        "appendix": [{"name": plan.unit(u).name, "tasks": "; ".join(
            str(t["title"]) for t, asked in zip(tasks, per_task, strict=True) if u in asked)}
            for u in unit_ids] if len(lines) > APPENDIX_OVER else [],
        "who": plan.unit(unit_ids[0]).name if len(unit_ids) == 1 else "các cơ quan, đơn vị",
        "verb": verb_for(plan, unit_ids), "tasks": tasks, "subject": SUBJECTS[stage].format(title=title),
        "number_line": f"{BLANK_NUMBER}/{plan.issuer.code}-{plan.issuer.division}",
        "date_line": _draft_date_line(day), "letter_date": f"{day:%d/%m/%Y}", "recipients": recipients,
        "units": unit_ids,
    }


def _request_text(history: dict, task_id: str, label: str, units: list[str]) -> str:
    days = sorted({d for u in units for s, d, _ in history.get((task_id, u, label), []) if s == "request"})
    return f"văn bản ngày {days[0]:%d/%m/%Y}" if days else "văn bản trước đây"


def _draft_date_line(day: dt.date) -> str:
    """The date line of a draft: the day is left blank for the văn thư to write in."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {BLANK_NUMBER[:4]} tháng {month} năm {day.year}"


def numbered(ctx: dict, number: str, issued_on: dt.date) -> dict:
    """The drafted context as issued: its number and date written in."""
    return ctx | {"number_line": number, "date_line": _date_line(issued_on), "letter_date": f"{issued_on:%d/%m/%Y}"}


def unit_mail(plan: Plan, rows: list[dict], templates: Templates, cal: BusinessCalendar, mail_from: str,
              sent_at: dt.datetime, document: dict | None = None, pdf: bytes | None = None,
              requests: dict | None = None) -> Letter:
    """The one email of a stage and day to one unit: `rows` (its lead first) are the tasks it
    covers. With an issued `document`, its PDF is attached with the unit's reply forms;
    without one (notice mode, or any stage to a division of the issuer itself) it is a plain
    email from the drafting division citing the plan and the issued first request
    (`requests`: (task, period) -> (number, date)): a unit's own, or for an internal
    division the công văn the other units received."""
    lead, stage = rows[0], rows[0]["stage"]
    requests = requests or {}
    items = [context(plan, r, cal) for r in rows]
    unit = items[0]["unit"]
    internal = is_internal(plan, unit["id"])
    for r, item in zip(rows, items, strict=True):
        number, issued = requests.get((r["task_id"], r["period"]), (None, None))
        cite = f"Văn bản số {number} ngày {issued}" if number else ""
        item["request"], item["others"] = ("", cite) if internal else (cite, "")
    doc_name = ""
    if document is not None:
        doc_name = _safe_name(f"Công văn {document['number'].replace('/', '-')} {STAGE_WORDS[stage]}") + ".pdf"
    ctx = items[0] | {
        "items": items, "addressee": unit["name"], "mode": "sign" if document else "notice",
        "subject": SUBJECTS[stage].format(title=items[0]["task"]["title"] if len(items) == 1 else
                                          f"báo cáo kết quả thực hiện {plan.plan.type.lower()} "
                                          f"{items[0]['plan']['title']}"),
        "document": {"number": document["number"], "date": f"{dt.date.fromisoformat(document['issued_on']):%d/%m/%Y}",
                     "name": doc_name} if document else None,
        "docx_name": doc_name, "verb": verb_for(plan, [unit["id"]]),
        "any_indicators": any(i["indicators"] for i in items),
        "internal": internal, "plan_cited": plan_cited(plan, parse_label(lead["period"])),
    }
    subject, text, html = templates.mail(stage, ctx)
    to, cc = json.loads(lead["to_addrs"]), json.loads(lead["cc_addrs"] or "[]")
    headers = _headers(plan, subject, mail_from, unit["name"], to, cc, sent_at, lead) + [
        ("X-Dondoc-Keys", "\r\n ".join(r["key"] for r in rows))]
    files: list[tuple] = [(doc_name, pdf, ("application", "pdf"))] if document is not None and pdf else []
    if stage == "request":
        form = templates.docx("reply-form")
        for r, item in zip(rows, items, strict=True):
            if item["indicators"] or item["items"]:
                files.append((_safe_name(f"Phiếu số liệu - {r['task_id']} - {unit['name']}") + ".docx",
                              form.render(item)))
    return Letter(lead["key"], mime(headers, text, html, files, lead["message_id"]), None, "", "", tuple(to + cc))


@functools.lru_cache(maxsize=64)
def _address(name: str, address: str) -> str:
    """`formataddr` of (name, address), UTF-8 names encoded; the issuer's is made once."""
    return formataddr((name, address), charset="utf-8")


# the octets a Q encoded-word writes as one character (the others take three: =XX)
_Q_SHORT = bytes(o for o in range(256) if quoprimime.header_length(bytes([o])) == 1)


def _named(name: str, addresses: list[str]) -> str:
    """The addresses joined by ", ", each as `formataddr((name, address), charset="utf-8")`
    writes it, a non-ASCII name encoded once for all: as the email package's UTF-8 charset
    does, the shorter of base64 and Q (Q on a tie), in one encoded-word."""
    if not name or name.isascii() or not all(a.isascii() for a in addresses):
        return ", ".join(formataddr((name, a), charset="utf-8") for a in addresses)
    data = name.encode("utf-8")
    shorter = base64mime if base64mime.header_length(data) < len(data) + 2 * len(data.translate(None, _Q_SHORT)) \
        else quoprimime
    word = shorter.header_encode(data, "utf-8")
    return ", ".join(f"{word} <{a}>" for a in addresses)


_last_date: tuple[dt.datetime | None, str] = (None, "")   # the last time written (that very object), its header


def _date(when: dt.datetime) -> str:
    """The Date header of `when` (`format_datetime`), made once for a run's every letter (they
    share one `now`): kept for the same object only, as two equal aware times may be in
    different zones; one tuple read once, so a thread beside this one cannot mix two."""
    global _last_date
    last = _last_date
    if last[0] is not when:
        last = _last_date = (when, format_datetime(when))
    return last[1]


def _headers(plan: Plan, subject: str, mail_from: str, name: str, to: list[str], cc: list[str],
             sent_at: dt.datetime, row: dict) -> list[tuple[str, str]]:
    return [
        ("Subject", _encoded(subject)),
        ("From", _address(plan.issuer.short_name, mail_from)),
        ("To", _named(name, to)),
        *([("Cc", ", ".join(cc))] if cc else []),
        ("Reply-To", _address(plan.issuer.short_name, plan.issuer.email)),
        ("Date", _date(sent_at)),
        ("Message-ID", row["message_id"]),
        *([("In-Reply-To", row["thread_id"]), ("References", row["thread_id"])] if row.get("thread_id") else []),
        ("X-Dondoc-Key", row["key"]),
        *([("Auto-Submitted", "auto-replied")] if row["stage"] == "ack" else []),   # RFC 3834: no replies to it
    ]


def build_letter(plan: Plan, row: dict, templates: Templates, cal: BusinessCalendar, mail_from: str,
                 sent_at: dt.datetime, history: dict | None = None) -> Letter:
    """The message for one ledger row that no document or grouped email carries: the
    acknowledgement of a report, in plain text. Its mail is rendered once for every unit of the
    same task, period and days (`_mail_of`); only the unit's name and tag differ."""
    unit = plan.unit(row["unit_id"])
    tag = tag_of(plan.plan.id, row["period"], row["task_id"], unit.id)
    subject, text = _mail_of(plan, row, templates, cal, history, unit.name, tag)
    to, cc = json.loads(row["to_addrs"]), json.loads(row["cc_addrs"]) if row["cc_addrs"] not in (None, "", "[]") else []
    headers = _headers(plan, subject, mail_from, unit.name, to, cc, sent_at, row)
    return Letter(row["key"], mime(headers, text, "", [], row["message_id"]), None, "", "", tuple(to + cc))


# The unit's name and tag as they are written into a mail rendered once for many units: two sets,
# so that a template that changes them (a filter) instead of printing them is found out.
_STANDINS = (("\x01dondoc-addressee\x01", "\x01dondoc-tag\x01"), ("\x02DONDOC ADDRESSEE two\x02", "\x02dt\x02"))
# per Templates object (never its id: a later run's object may get the same one): (plan, row's
# shared fields) -> the mail rendered with the first stand-ins, or None: render per unit
_MAILS: weakref.WeakKeyDictionary[Templates, dict[tuple, tuple[str, str] | None]] = weakref.WeakKeyDictionary()


def _mail_of(plan: Plan, row: dict, templates: Templates, cal: BusinessCalendar, history: dict | None,
             name: str, tag: str) -> tuple[str, str]:
    """(subject, text) of a row's plain-text mail, for the unit called `name` whose tag is `tag`:
    the template is rendered once per task, period, stage, days and update flag (with stand-ins
    for the name and tag, then substituted), as long as rendering it
    with two different stand-ins shows it prints them as they are (else, and for a name or tag
    with a line break, the mail is rendered for the unit alone, as before)."""
    mails = _MAILS.setdefault(templates, {})
    key = (plan.digest, row["stage"], row["period"], row["task_id"], row["decided_on"],
           row.get("deadline"), row["scheduled_on"], bool(row["seq"]))
    if key not in mails:
        if len(mails) > 256:
            mails.clear()
        shared = _ack_context(plan, {**row, "unit_id": None}, cal, history)
        del shared["unit"]   # a template that reads the unit itself fails here (StrictUndefined): rendered per unit
        try:
            (a_name, a_tag), (b_name, b_tag) = _STANDINS
            a = templates.mail(row["stage"], shared | {"addressee": a_name, "tag": a_tag})[:2]
            b = templates.mail(row["stage"], shared | {"addressee": b_name, "tag": b_tag})[:2]
            same = all(_put(x, a_name, a_tag, b_name, b_tag) == y for x, y in zip(a, b, strict=True))
        except Exception:   # noqa: BLE001 — the template wants more of the unit: render it per unit
            same = False
        mails[key] = a if same else None
    mail = mails[key]
    if mail is None or "\n" in name or "\r" in name or "\n" in tag:
        return templates.mail(row["stage"], _ack_context(plan, row, cal, history) | {"addressee": name})[:2]
    a_name, a_tag = _STANDINS[0]
    subject, text = mail
    return " ".join(_put(subject, a_name, a_tag, name, tag).split()), _put(text, a_name, a_tag, name, tag)


def _ack_context(plan: Plan, row: dict, cal: BusinessCalendar, history: dict | None) -> dict:
    """The template context of an acknowledgement's row (without the addressee)."""
    ctx = context(plan, row, cal, history)
    return ctx | {"docx_name": "", "update": bool(row["seq"]),
                  "subject": SUBJECTS[row["stage"]].format(title=ctx["task"]["title"]),
                  "received_date": f"{dt.date.fromisoformat(row['scheduled_on']):%d/%m/%Y}"}


def _put(text: str, name_in: str, tag_in: str, name: str, tag: str) -> str:
    """`text` with the stand-ins replaced by the unit's name and tag."""
    return text.replace(name_in, name).replace(tag_in, tag)


def notice(plan: Plan, row: dict, mail_from: str, sent_at: dt.datetime) -> Letter:
    """A message whose content was decided and recorded with its row (digest, the report's
    email): its subject, text and the files to attach, as they are now on disk."""
    body = json.loads(row["body"])
    to = json.loads(row["to_addrs"])
    headers = [("Subject", _encoded(body["subject"])),
               ("From", _address(plan.issuer.short_name, mail_from)),
               ("To", ", ".join(to)), ("Date", _date(sent_at)), ("Message-ID", row["message_id"]),
               ("X-Dondoc-Key", row["key"]), ("Auto-Submitted", "auto-generated")]
    files = [(Path(f).name, Path(f).read_bytes(), ("application", "pdf") if f.endswith(".pdf") else None)
             for f in body.get("files", [])]
    html = "<html><body>" + "".join(f"<p>{escape(p)}</p>" for p in body["text"].split("\n\n")) + "</body></html>"
    return Letter(row["key"], mime(headers, body["text"], html.replace("\n", "<br>"), files, row["message_id"]),
                  None, "", "", tuple(to))


def _encoded(value: str) -> str:
    """RFC 2047 for a header value that is not plain ASCII: base64 encoded-words of at most
    42 bytes of UTF-8 each (a whole character never split), folded one a line, so a line
    stays within 78 characters. (email.header.Header does the same at ten times the cost.)"""
    if value.isascii():
        return value
    data, words, i = value.encode("utf-8"), [], 0
    while i < len(data):
        j = min(i + 42, len(data))
        while j < len(data) and data[j] & 0xC0 == 0x80:   # never cut a character: back to its first byte
            j -= 1
        words.append(base64.b64encode(data[i:j]).decode())
        i = j
    return "\r\n ".join(f"=?utf-8?b?{w}?=" for w in words)


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF (RFC 2045)."""
    text = base64.b64encode(data)
    lines = [text[i:i + 76] for i in range(0, len(text), 76)]
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


_b64_file = functools.lru_cache(maxsize=4)(_b64)   # the day's one PDF goes to every unit: encode it once


def mime(headers: list[tuple[str, str]], text: str, html: str, files: list[tuple], seed: str) -> bytes:
    """A multipart/mixed message: text and HTML alternatives, then the attachments, each
    `(name, bytes)` (a .docx) or `(name, bytes, (maintype, subtype))`, named per RFC 2231;
    without HTML and files, a text/plain message.
    Written directly: the email package's generator costs more than the
    rest of a letter together, and every header here is either ours or checked as one line."""
    lines = [f"{n}: {v}" for n, v in headers]
    head = "\r\n".join(lines)
    # folded lines ("\r\n ") are ours; any other line break is refused. A value is clean when each of
    # its CR and LF is in a fold; so is the whole head (its names have none, a line break between
    # two lines is never followed by a space) when it has one CR and one LF per fold and per break.
    if not head.count("\r") == head.count("\n") == head.count("\r\n ") + len(lines) - 1:
        for name, value in headers:
            rest = value.replace("\r\n ", "")
            if "\n" in rest or "\r" in rest:
                raise ValueError(f"line break in header {name}")   # never reached with a validated plan
    if not html and not files:   # plain text alone (an acknowledgement)
        return "\r\n".join([*lines, "MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"',
                             "Content-Transfer-Encoding: base64", "", ""]).encode() + _b64(text.encode("utf-8"))
    mark = hashlib.sha256(seed.encode()).hexdigest()[:24]
    outer, inner = f"=_mixed_{mark}", f"=_alt_{mark}"
    out = ["\r\n".join([*lines, "MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{outer}"', "",
                           f"--{outer}", f'Content-Type: multipart/alternative; boundary="{inner}"', ""]).encode()]
    for subtype, body in (("plain", text), ("html", html)):
        out.append(f'\r\n--{inner}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                   f"Content-Transfer-Encoding: base64\r\n\r\n".encode())
        out.append(_b64(body.encode("utf-8")))
    out.append(f"\r\n--{inner}--\r\n".encode())
    for filename, data, *ctype in files:   # (name, bytes[, (maintype, subtype)]): .docx by default
        quoted = quote(filename, safe="")
        out.append(f"\r\n--{outer}\r\nContent-Type: {'/'.join(ctype[0] if ctype and ctype[0] else DOCX_TYPE)}\r\n"
                   f"Content-Disposition: attachment; filename*=utf-8''{quoted}\r\n"
                   f"Content-Transfer-Encoding: base64\r\n\r\n".encode())
        out.append(_b64_file(data) if len(data) > 4096 else _b64(data))
    out.append(f"\r\n--{outer}--\r\n".encode())
    return b"".join(out)


def title_case(title: str) -> str:
    """A leader's title as running text writes it: "PHÓ GIÁM ĐỐC" -> "Phó Giám đốc"."""
    words = title.lower().split()
    n = 2 if words[:1] == ["phó"] else 1
    return " ".join(w.capitalize() if i < n else w for i, w in enumerate(words))


def cited(kind: str, title: str) -> str:
    """A document named in running text: its type capitalised and its title's first letter in
    lower case unless the title opens with an acronym ("Kế hoạch triển khai phong trào …")."""
    return f"{kind.capitalize()} {title[:1].lower() if title[1:2].islower() else title[:1]}{title[1:]}"


def plan_cited(plan: Plan, period) -> str:
    """The plan named in running text: "Kế hoạch số 45/KH-STTTT ngày 10/04/2023 của Sở …" once
    registered, else its type and title ("Kế hoạch truyền thông về …")."""
    info = plan.plan
    if not info.number:
        return cited(info.type, with_period(info.title, period))
    day = f" ngày {info.signed_on:%d/%m/%Y}" if info.signed_on else ""
    return f"{info.type.capitalize()} số {info.number}{day} của {plan.issuer.short_name}"


def _short_plan(plan: Plan) -> str:
    if plan.plan.number:
        return f"{plan.plan.type.capitalize()} số {plan.plan.number}"
    words = plan.plan.title.split()
    return cited(plan.plan.type, " ".join(words[:10])) + ("…" if len(words) > 10 else "")


def memo_context(plans: dict[str, Plan], rows: list[dict], histories: dict[str, dict], day: dt.date,
                 drafts: list[str]) -> dict:
    """The internal memo of `day`: from the drafting division (under its Sở) to the leader
    the escalations go to, listing per task the units still missing (`rows`: the escalation
    rows of every plan it covers), and the `drafts` waiting to be signed too long."""
    first = plans[rows[0]["plan_id"]]
    iss, contact, head = first.issuer, first.escalation_contact, first.issuer.division_head
    title = title_case(first.escalate_to.title if first.escalate_to else first.signer.title)
    items = []
    for r in rows:
        plan, period = plans[r["plan_id"]], parse_label(r["period"])
        task, history = plan.task(r["task_id"]), histories.get(r["plan_id"], {})
        missing = []
        for uid in json.loads(r["units"] or "[]"):
            if plan.has_unit(uid):
                u = plan.unit(uid)
                missing.append({"name": u.name, "contact": "\n".join(filter(None, [u.contact, u.phone, *u.emails])),
                                "history": history_text(history.get((task.id, u.id, r["period"]), []))})
        items.append({"title": with_period(task.title, period), "plan": _short_plan(plan),
                      "deadline": f"{dt.date.fromisoformat(r['deadline']):%d/%m/%Y}", "missing": missing,
                      "asked": len(plan.units_of(task)) - len(task.exempt)})
    return {
        "issuer": iss.model_dump(mode="json") | {"parent": iss.name, "name": iss.division_name.upper()},
        "number_line": f"{BLANK_NUMBER}/BC-{iss.division}", "date_line": _date_line(day),
        "letter_date": f"{day:%d/%m/%Y}", "addressee": f"{title} {contact.name}", "addressee_short": title,
        "division": iss.division_name, "items": items, "drafts": drafts,
        "signature": {"authority": "", "title": (head.title if head else "Trưởng phòng").upper(),
                      "name": head.name if head else ""},
        "recipients": ["- Như trên;", f"- Lưu: {iss.division}."],
        "tag": tag_of(first.plan.id, rows[0]["period"], rows[0]["task_id"]),
        "subject": f"báo cáo các cơ quan, đơn vị chưa gửi báo cáo ngày {day:%d/%m/%Y}",
    }


def build_memo(plans: dict[str, Plan], rows: list[dict], templates: Templates, mail_from: str,
               sent_at: dt.datetime, histories: dict[str, dict], drafts: list[str]) -> Letter:
    """The memo's email (its lead row first in `rows`), the memo's .docx attached."""
    day = dt.date.fromisoformat(rows[0]["decided_on"])
    ctx = memo_context(plans, rows, histories, day, drafts)
    docx = templates.docx("escalation").render(ctx)
    first, lead = plans[rows[0]["plan_id"]], rows[0]
    subject, text, html = templates.mail("escalation", ctx)
    to = json.loads(lead["to_addrs"])
    headers = _headers(first, subject, mail_from, first.escalation_contact.name, to, [], sent_at, lead)
    name = _safe_name(f"Báo cáo đơn vị chưa gửi báo cáo {day:%d-%m-%Y}") + ".docx"
    relpath = f"{first.plan.id}/{day.isoformat()}/escalation/{name}"
    return Letter(lead["key"], mime(headers, text, html, [(name, docx)], lead["message_id"]), docx, name, relpath,
                  tuple(to))
