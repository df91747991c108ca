"""Build the letters: (plan, ledger row, date) -> the bytes of a MIME message with the .docx attached.

Pure once the compiled `Templates` are given: no clock (the send time is a parameter), no
network, no file written. The ledger row carries what was decided: stage, recipients,
Message-ID and the thread to reply into, so a rebuilt letter is the same letter.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from email.header import Header
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


def _history_text(entries) -> str:
    by_stage: dict[str, list[str]] = {}
    for stage, day, status in entries:
        if status == "sent":
            by_stage.setdefault(STAGE_WORDS[stage], []).append(f"{day:%d/%m}")
    return "; ".join(f"{k} {', '.join(v)}" for k, v in by_stage.items()) or "chưa gửi được thư nào"


def context(plan: Plan, row: dict, cal: BusinessCalendar, history: dict | None = None) -> dict:
    """Everything a template may use for the letter of one ledger row."""
    history = history or {}
    label, stage = row["period"], row["stage"]
    period = parse_label(label)
    task = plan.task(row["task_id"])
    title = with_period(task.title, period)
    day = dt.date.fromisoformat(row["decided_on"])
    deadline = dt.date.fromisoformat(row["deadline"])
    unit = plan.unit(row["unit_id"]) if row["unit_id"] else None
    mine = history.get((task.id, unit.id, label), []) if unit else []
    requested = next((d for s, d, _ in mine if s == "request"), day)
    missing = []
    for uid in json.loads(row["units"] or "[]"):
        if not plan.has_unit(uid):
            continue
        u = plan.unit(uid)
        contact = ", ".join(filter(None, [u.contact, u.phone, *u.emails]))
        missing.append({"id": u.id, "name": u.name, "contact": contact,
                        "history": _history_text(history.get((task.id, u.id, label), []))})
    signer = plan.signer
    escalation = stage == "escalation"
    signature = ({"authority": "", "title": plan.issuer.division_name.upper(), "name": ""} if escalation else
                 {"authority": signer.authority or "", "title": signer.title, "name": signer.name})
    recipients = ["- Như trên;"]
    if row.get("cc_addrs") and json.loads(row["cc_addrs"]):
        recipients.append("- Thủ trưởng đơn vị (để chỉ đạo);")
    recipients += [f"- {r};" for r in plan.plan.letter_recipients]
    recipients.append(f"- Lưu: VT, {plan.issuer.division}.")
    def between(a: dt.date, b: dt.date) -> int:
        return sum(cal.is_working_day(a + dt.timedelta(days=i)) for i in range(1, (b - a).days + 1))
    ctx = {
        "plan": plan.plan.model_copy(update={"title": with_period(plan.plan.title, period)}), "issuer": plan.issuer,
        "signer": {"name": signer.name, "title_text": signer.title.capitalize(), "email": signer.email},
        "signature": signature,
        "task": {"id": task.id, "title": title, "text": with_period(task.text, period)},
        "task_paragraphs": [with_period(p, period) for p in task.text.splitlines() if p.strip()],
        "unit": unit, "stage": stage, "stage_word": STAGE_WORDS[stage],
        "addressee": unit.name if unit else f"Đồng chí {plan.escalation_contact.name}, {plan.escalation_contact.title}",
        "subject": SUBJECTS[stage].format(title=title),
        "tag": tag_of(plan.plan.id, label, task.id, unit.id if unit else None),
        "period_text": period.text,
        "number": BLANK_NUMBER,
        "date_line": _date_line(day),
        "letter_date": f"{day:%d/%m/%Y}", "deadline": f"{deadline:%d/%m/%Y}",
        "request_date": f"{requested:%d/%m/%Y}",
        "received_date": dt.date.fromisoformat(row["scheduled_on"]).strftime("%d/%m/%Y"),
        "reminders_sent": sum(s == "reminder" for s, _, _ in mine),
        "working_days_left": between(day - dt.timedelta(days=1), deadline - dt.timedelta(days=1)),
        "working_days_overdue": between(deadline, day),
        "indicators": [i for i in plan.indicators if i.id in task.indicators],
        "items": [c for c in plan.content_items if c.id in task.content_items],   # the reply form's rows
        "missing": missing,
        "units_asked": len(plan.units_of(task)) - len(task.exempt) if stage == "escalation" else None,
        "recipients": recipients,
        "update": stage == "ack" and bool(row["seq"]),   # ack-N answers version N+1: a report that replaced one
    }
    ctx["docx_name"] = _safe_name(f"Công văn {STAGE_WORDS[stage]} - {unit.name if unit else title}") + ".docx"
    return ctx


def build_letter(plan: Plan, row: dict, templates: Templates, cal: BusinessCalendar, mail_from: str,
                 sent_at: dt.datetime, history: dict | None = None) -> Letter:
    """The message for one ledger row, its .docx (and, for a request, the reply form) attached."""
    ctx = context(plan, row, cal, history)
    stage = row["stage"]
    docx = templates.docx(stage).render(ctx) if stage in LETTER_STAGES else None
    subject, text, html = templates.mail(stage, ctx)
    to, cc = json.loads(row["to_addrs"]), json.loads(row["cc_addrs"] or "[]")
    name = ctx["addressee"] if ctx["unit"] else plan.escalation_contact.name
    headers = [
        ("Subject", _encoded(subject)),
        ("From", formataddr((plan.issuer.short_name, mail_from), charset="utf-8")),
        ("To", ", ".join(formataddr((name, a), charset="utf-8") for a in to)),
        *([("Cc", ", ".join(cc))] if cc else []),
        ("Reply-To", formataddr((plan.issuer.short_name, plan.issuer.email), charset="utf-8")),
        ("Date", format_datetime(sent_at)),
        ("Message-ID", row["message_id"]),
        *([("In-Reply-To", row["thread_id"]), ("References", row["thread_id"])] if row.get("thread_id") else []),
        ("X-Dondoc-Key", row["key"]),
        *([("Auto-Submitted", "auto-replied")] if stage == "ack" else []),   # RFC 3834: no replies to it
    ]
    files = [(ctx["docx_name"], docx)] if docx else []
    if stage == "request" and (ctx["indicators"] or ctx["items"]):
        form = templates.docx("reply-form").render(ctx)
        files.append((_safe_name(f"Phiếu số liệu - {ctx['unit'].name}") + ".docx", form))
    data = mime(headers, text, html, files, row["message_id"])
    stage_dir = f"{stage}-{row['seq']}" if row["seq"] else stage
    relpath = f"{plan.plan.id}/{row['period']}/{stage_dir}/{row['unit_id'] or '_'}/{row['task_id']}.docx"
    return Letter(row["key"], data, docx, ctx["docx_name"], relpath, tuple(to + cc))


def notice(plan: Plan, row: dict, mail_from: str, sent_at: dt.datetime) -> Letter:
    """A message whose content was decided and recorded with its row (digest, the report's
    email): its subject, text and the files to attach, as they are now on disk."""
    body = json.loads(row["body"])
    to = json.loads(row["to_addrs"])
    headers = [("Subject", _encoded(body["subject"])),
               ("From", formataddr((plan.issuer.short_name, mail_from), "utf-8")),
               ("To", ", ".join(to)), ("Date", format_datetime(sent_at)), ("Message-ID", row["message_id"]),
               ("X-Dondoc-Key", row["key"]), ("Auto-Submitted", "auto-generated")]
    files = [(Path(f).name, Path(f).read_bytes(), ("application", "pdf") if f.endswith(".pdf") else None)
             for f in body.get("files", [])]
    html = "<html><body>" + "".join(f"<p>{escape(p)}</p>" for p in body["text"].split("\n\n")) + "</body></html>"
    return Letter(row["key"], mime(headers, body["text"], html.replace("\n", "<br>"), files, row["message_id"]),
                  None, "", "", tuple(to))


def _encoded(value: str) -> str:
    """RFC 2047 for a header value that is not plain ASCII, folded at 76 characters."""
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n ")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def mime(headers: list[tuple[str, str]], text: str, html: str, files: list[tuple], seed: str) -> bytes:
    """A multipart/mixed message: text and HTML alternatives, then the attachments, each
    `(name, bytes)` (a .docx) or `(name, bytes, (maintype, subtype))`, named per RFC 2231.
    Written directly: the email package's generator costs more than the
    rest of a letter together, and every header here is either ours or checked as one line."""
    for name, value in headers:
        if "\n" in value.replace("\r\n ", "") or "\r" in value.replace("\r\n ", ""):
            raise ValueError(f"line break in header {name}")   # never reached with a validated plan
    mark = hashlib.sha256(seed.encode()).hexdigest()[:24]
    outer, inner = f"=_mixed_{mark}", f"=_alt_{mark}"
    lines = [f"{n}: {v}" for n, v in headers]
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{outer}"', "",
              f"--{outer}", f'Content-Type: multipart/alternative; boundary="{inner}"', ""]
    out = ["\r\n".join(lines).encode()]
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
        out.append(_b64(data))
    out.append(f"\r\n--{outer}--\r\n".encode())
    return b"".join(out)
