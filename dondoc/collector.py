"""The collector: keep every reply first, then read, classify, match and record it.

1. keep: each new message of the mailbox is appended to the day's file under the data
   folder and recorded in the ledger as `new`, with where the mailbox stopped, in one
   transaction; only then is it marked seen (or moved) on the server;
2. process: each `new` message is parsed and ends in exactly one state: `matched` (a unit's
   report: recorded, attachments kept, numbers read, acknowledged once), `triage` (a
   person decides), `ooo` (the contact is away), `bounce` (an address failed), `ignored`
   (automatic mail). A crash between the two steps loses nothing: `new` rows are
   processed on the next run, and keeping is idempotent.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dondoc.archive import Spool, read_kept, read_raw, save_attachment
from dondoc.extract import attachment_text
from dondoc.inbox import head_of
from dondoc.ledger import Ledger
from models.calendar import BusinessCalendar
from models.form import is_form, read_form, substance
from models.inbound import (
    Limits,
    addressed_to,
    judge_bounce,
    match_reply,
    mentions_attachment,
    open_zip,
    read_indicators,
    reads_as_report,
    vet,
)
from models.keys import Key
from models.mailparse import Reply, auth_failed, parse_reply
from models.plan import Plan
from models.rules import Action, action_key, deadline_for
from models.verp import checker

if TYPE_CHECKING:
    from dondoc.acker import Acker

TEXT_KEPT = 20_000   # characters of an attachment's text kept in the ledger (what the report quotes)


@dataclass
class CollectSummary:
    fetched: int = 0
    kept: int = 0
    matched: int = 0
    triage: int = 0
    ooo: int = 0
    bounce: int = 0
    ignored: int = 0
    refused_attachments: int = 0
    acks: int = 0          # acknowledgements recorded (with their report), sent by the flow
    acks_sent: int = 0     # acknowledgements sent by this run

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def keep_new(source, ledger: Ledger, data_dir: Path, summary: CollectSummary, day: dt.date, batch: int = 500,
             batch_bytes: int = 64 << 20) -> None:
    """Fetch what is new and keep it: each message the ledger does not know yet is appended to
    the day's file (`archive.Spool`) and recorded, `batch` messages (or `batch_bytes`) in one
    transaction; only then are they marked on the server."""
    uidvalidity, last_uid = ledger.inbox_position(source.name)
    valid, items = source.fetch(uidvalidity, last_uid)
    fetched: list = []
    size = 0
    spool: Spool | None = None

    def flush():
        nonlocal last_uid, spool, size
        if not fetched:
            return
        named = []   # (fetched, Message-ID, SHA-256, the ledger's id: the Message-ID, else the hash)
        for f in fetched:
            mid, digest = _message_id(f.raw), hashlib.sha256(f.raw).hexdigest()
            named.append((f, mid, digest, mid or f"sha256:{digest}"))
        known = ledger.known_inbound(id_ for *_, id_ in named)
        rows = []
        for f, mid, digest, id_ in named:
            if id_ in known:   # kept already (a run that died before marking it, or the same message twice)
                continue
            known.add(id_)
            spool = spool or Spool(data_dir, day)
            rows.append({"id": id_, "message_id": mid, "sha256": digest, "raw_path": spool.path,
                         "raw_offset": spool.add(f.raw, digest), "raw_length": len(f.raw), "uid": f.uid,
                         "received_at": f.received_at.isoformat() if f.received_at else None})
        numeric = [int(f.uid) for f in fetched if f.uid.isdigit()]
        last_uid = max(numeric + [last_uid])
        summary.kept += ledger.keep_inbound(rows, source.name, valid, last_uid)
        source.done([f.uid for f in fetched])
        fetched.clear()
        size = 0

    try:
        for f in items:
            summary.fetched += 1
            fetched.append(f)
            size += len(f.raw)
            if len(fetched) >= batch or size >= batch_bytes:
                flush()
        flush()
    finally:
        if spool is not None:
            spool.close()


def _message_id(raw: bytes) -> str | None:
    head = head_of(raw)
    m = re.search(rb"^Message-ID:\s*(<[^<>\s]+>)", head, re.MULTILINE | re.IGNORECASE)
    return m[1].decode("ascii", "replace") if m else None


def arrival(reply: Reply, received_at: str | None, tz) -> dt.datetime:
    """When the report arrived: our server's receipt time; the sender's Date when it is up
    to a day earlier (mail held up in transit is not the unit's fault); never when we read it."""
    received = dt.datetime.fromisoformat(received_at) if received_at else None
    date = reply.date
    if received is None:
        return (date or dt.datetime.now(dt.UTC)).astimezone(tz)
    if date is not None and received - dt.timedelta(days=1) <= date < received:
        return date.astimezone(tz)
    return received.astimezone(tz)


def process(plans: dict[str, Plan], ledger: Ledger, cals: dict[str, BusinessCalendar], data_dir: Path,
            limits: Limits, summary: CollectSummary, batch: int = 100, ahead: Acker | None = None) -> None:
    """Read every kept message not yet processed and record what it is, each under the plan
    it answers (`plans` by id, the default plan first). The ledger is written in one
    transaction per `batch` messages: a message's state, its report and its acknowledgement
    are committed together or not at all (a run killed mid-batch leaves those messages `new`
    for the next run); a message that cannot be read is quarantined alone (its own writes
    undone, the batch goes on). With `ahead`, each batch's acknowledgements are handed to the
    process that sends them while the next batches are read (`dondoc.acker`)."""
    first = next(iter(plans.values()))
    own = first.issuer.email.rsplit("@", 1)[1]
    tz = cals[first.plan.id].tz
    sent = ledger.sent_index()
    covers = {keys[0]: keys for keys in ledger.mail_cycles().values()}

    def reported(k: Key) -> bool:
        return next(ledger.db.query("select 1 from reports where key = ?", [str(k.cycle)]), None) is not None
    rows = ledger.inbound("new")
    replies = read_kept(rows, own, frozenset(sent))
    for start in range(0, len(rows), batch):
        with ledger.batch():
            for row in rows[start:start + batch]:
                reply = next(replies)
                try:
                    with ledger.savepoint():
                        if isinstance(reply, Exception):
                            raise reply
                        _one(plans, ledger, data_dir, limits, summary, row, reply, tz, sent, covers, reported)
                except Exception as e:   # quarantine: never stop the run, never lose the message; a person looks
                    ledger.update_inbound(row["id"], status="triage", kind="unreadable",
                                          reason=f"không đọc được thư: {type(e).__name__}: {e}"[:500])
                    summary.triage += 1
            if ahead is not None:
                ahead.take(ledger)
        if ahead is not None:
            ahead.hand()


def _one(plans: dict[str, Plan], ledger: Ledger, data_dir: Path, limits: Limits, summary: CollectSummary,
         row: dict, reply: Reply, tz, sent: dict, covers: dict, reported) -> None:
    """Classify, match and record one kept message, parsed (see `process`; `covers` and
    `reported` as `match_reply` takes them)."""
    at = arrival(reply, row["received_at"], tz)
    base = {"from_addr": reply.from_addr, "subject": reply.subject, "kind": reply.kind,
            "date_header": reply.date.isoformat() if reply.date else None, "received_on": at.date().isoformat(),
            "summary": reply.reply_text[:2000]}

    def triage(reason: str, **where) -> None:
        ledger.update_inbound(row["id"], **base, **where, status="triage", reason=reason)
        summary.triage += 1

    if reply.kind == "bounce":
        return _bounce(plans, ledger, summary, row, reply, base, sent, triage)
    m = match_reply(reply, plans, sent, covers, reported)
    where = {"plan_id": m.plan_id, "period": m.period, "year": int(m.period[:4]) if m.period else None,
             "task_id": m.task_id, "unit_id": m.unit_id}
    distrust = reply.sender_problem or auth_failed(reply)
    if reply.kind in ("ooo", "auto"):
        # an absence counts only from the unit's own verified address: it changes who is copied
        verified = m.status == "matched" and not distrust
        status = "ooo" if reply.kind == "ooo" and verified else "ignored"
        ledger.update_inbound(row["id"], **base, **(where if verified else {}), status=status,
                              reason={"ooo": "trả lời vắng mặt", "ignored": "thư tự động"}[status])
        setattr(summary, status, getattr(summary, status) + 1)
        return
    if distrust or m.status != "matched" or not (m.plan_id and m.period and m.task_id and m.unit_id):
        return triage(distrust or m.reason, **where)
    accept(plans[m.plan_id], ledger, data_dir, limits, row["id"], reply, base, m.period, m.task_id, m.unit_id,
           at.date(), f"khớp theo {'tham chiếu thư' if m.via == 'references' else 'mã tiêu đề'}", summary)


def _bounce(plans: dict[str, Plan], ledger: Ledger, summary: CollectSummary, row: dict, reply: Reply, base: dict,
            sent: dict, triage) -> None:
    """A bounce marks a letter `bounced` only when it proves which one (models.inbound.judge_bounce:
    the letter's signed bounce address, or our Message-ID returned with an address the letter
    went to); anything else goes to triage for a person."""
    check = checker(ledger.bounce_secret(), [p.issuer.email for p in plans.values()], ledger.message_id_at)
    verdict = judge_bounce(reply, addressed_to(read_raw(row)), sent, check)
    if verdict.status == "triage":
        k = sent.get(verdict.message_id)
        return triage(verdict.reason, **({"plan_id": k.plan, "period": k.period, "task_id": k.task,
                                          "unit_id": k.unit} if k else {}))
    ours = verdict.message_id or ""
    keys = list(dict.fromkeys(k for b in verdict.failed for k in ledger.bounced(
        ours, b.address, f"{b.status} {b.address}: {b.diagnostic}".strip(), anywhere=verdict.anywhere)))
    if verdict.failed and not keys:   # our letter, but an address it was not sent to
        return triage("thư báo lỗi nêu địa chỉ không phải nơi thư đã gửi tới: chưa tin, xem thư gốc")
    ledger.update_inbound(row["id"], **base, status="bounce", plan_id=Key.parse(keys[0]).plan if keys else None,
                          reason="; ".join(f"{b.address} {b.status}" for b in verdict.failed) or "thư báo lỗi",
                          attachments=keys)
    summary.bounce += 1


def accept(plan: Plan, ledger: Ledger, data_dir: Path, limits: Limits, inbound_id: str, reply: Reply, base: dict,
           period: str, task_id: str, unit_id: str, received_on: dt.date, why: str,
           summary: CollectSummary) -> str | None:
    """Record a reply as the unit's report (a later one replaces the earlier, both kept), with
    its acknowledgement to the sender, threaded to its message: keep the allowed attachments
    (the others are listed with the reason) and their text, read its numbers. A reply with no
    attachment, no numbers and no text that reads as a report goes to triage (None).
    Returns the ledger's outcome: new, updated or exists."""
    pid = plan.plan.id
    where = {"plan_id": pid, "period": period, "year": int(period[:4]), "task_id": task_id, "unit_id": unit_id}
    folder = os.path.join(data_dir, "attachments", pid, period, task_id, unit_id)
    files: list[dict] = []
    tables: list = []
    texts: list[str] = []   # the report's own text: every attachment's but the form's
    for att in reply.attachments:
        zipped = open_zip(att.filename, att.data)   # read the listing once, for both
        refusal = vet(att.filename, att.data, limits, zipped)
        if refusal:
            files.append({"name": att.filename, "refused": refusal})
            summary.refused_attachments += 1
            continue
        path = save_attachment(folder, att.filename, att.data)
        read = attachment_text(att.filename, att.data, limits, zipped)
        files.append({"name": att.filename, "path": str(path), "text": read.text[:TEXT_KEPT],
                      **({"error": read.error} if read.error else {})})
        tables += read.tables
        if not is_form(read.tables):
            texts.append(read.text)
    numbers = read_indicators(reply, plan, task_id, tables)
    own_report = reads_as_report(reply.reply_text)
    form = substance(read_form(tables, _items(plan, task_id)), texts, reply.reply_text if own_report else "",
                     numbers.estimates)
    kept = [f["path"] for f in files if "path" in f]
    if not kept and not numbers.values and not own_report:
        refused = "; ".join(f"{f['name']}: {f['refused']}" for f in files if "refused" in f)
        reason = (f"thư trả lời nói có đính kèm nhưng không có tệp nhận được ({refused or 'không có tệp'})"
                  if mentions_attachment(reply.reply_text) or refused else
                  "thư trả lời chỉ là lời gửi kèm, không có nội dung báo cáo, tệp hay số liệu")
        ledger.update_inbound(inbound_id, **base, **where, status="triage", attachments=files, reason=reason)
        summary.triage += 1
        return None
    ack = Action(action_key(pid, period, task_id, unit_id, "ack"), "ack", pid, period, task_id, unit_id, 0,
                 received_on, _deadline(plan, task_id, period), (reply.from_addr,), plan_hash=plan.digest,
                 thread=reply.message_id) if reply.from_addr else None
    new = ledger.record_report(pid, period, task_id, unit_id, received_on, source="email", inbound_id=inbound_id,
                               files=kept, indicators=numbers.values, note=reply.reply_text[:2000], replace=True,
                               ack=ack, mail_domain=plan.issuer.email.rsplit("@", 1)[1], form=form)
    summary.acks += new != "exists" and ack is not None
    unread = "; ".join(f"{k}: “{raw}”" for k, raw in numbers.unreadable)
    ledger.update_inbound(inbound_id, **base, **where, status="matched", attachments=files,
                          indicators=numbers.values | {"_estimates": list(numbers.estimates),
                                                       "_unreadable": [list(u) for u in numbers.unreadable]},
                          reason=why + (f"; số liệu không đọc được: {unread}" if unread else ""))
    summary.matched += 1
    return new


_DEADLINES: dict[tuple[str, str, str], dt.date | None] = {}


def _deadline(plan: Plan, task_id: str, period: str) -> dt.date | None:
    """`deadline_for` the task and period, worked out once per plan content."""
    key = (plan.digest, task_id, period)
    if key not in _DEADLINES:
        _DEADLINES[key] = deadline_for(plan.task(task_id), period)
    return _DEADLINES[key]


def _items(plan: Plan, task_id: str) -> dict[str, str]:
    """The content items of a task: id -> text (the form's rows)."""
    task = plan.task(task_id)
    return {c.id: c.text for c in plan.content_items if c.id in task.content_items}


def record_file(plan: Plan, ledger: Ledger, data_dir: Path, period: str, task_id: str, unit_id: str,
                received_on: dt.date, name: str | None, data: bytes | None, note: str = "", replace: bool = False,
                limits: Limits | None = None) -> tuple[str, list[str]]:
    """Record a report that came on paper or through the document system (`dondoc record`),
    with its file when there is one: the file is kept, its text and the reply form's answers
    and numbers read as for an emailed report. The `note` is the clerk's own and is never
    quoted. Returns (new | updated | exists, the kept paths)."""
    files, form, values = [], {}, {}
    if name and data is not None:
        folder = data_dir / "attachments" / plan.plan.id / period / task_id / unit_id
        files.append(str(save_attachment(folder, name, data)))
        read = attachment_text(name, data, limits or Limits())
        numbers = read_indicators(_NoBody(), plan, task_id, read.tables)
        values = numbers.values
        form = substance(read_form(read.tables, _items(plan, task_id)),
                         [] if is_form(read.tables) else [read.text], "", numbers.estimates)
    new = ledger.record_report(plan.plan.id, period, task_id, unit_id, received_on, source="paper", files=files,
                               indicators=values, note=note, replace=replace, form=form)
    return new, files


class _NoBody:
    """A paper report has no mail text to read numbers from."""
    reply_text = ""


def assign(plan: Plan, ledger: Ledger, data_dir: Path, limits: Limits, row: dict, period: str, task_id: str,
           unit_id: str, why: str) -> str:
    """A person's decision on a triaged reply: it is that unit's report for that task (and its
    sender is acknowledged, as for any report). Returns new, updated or exists."""
    reply = parse_reply(read_raw(row))
    received_on = (dt.date.fromisoformat(row["received_on"]) if row["received_on"] or reply.date is None
                   else reply.date.date())
    base = {"from_addr": reply.from_addr, "subject": reply.subject, "kind": reply.kind,
            "received_on": received_on.isoformat(), "summary": reply.reply_text[:2000]}
    new = accept(plan, ledger, data_dir, limits, row["id"], reply, base, period, task_id, unit_id, received_on,
                 f"phân loại thủ công: {why}", CollectSummary())
    if new is None:   # nothing to count: still the person's decision, with their reason
        new = ledger.record_report(plan.plan.id, period, task_id, unit_id, received_on, source="email",
                                   inbound_id=row["id"], note=why, replace=True)
        ledger.update_inbound(row["id"], status="matched", plan_id=plan.plan.id, period=period,
                              year=int(period[:4]), task_id=task_id,
                              unit_id=unit_id, reason=f"phân loại thủ công: {why}")
    ledger.log("triage-assign", row["id"], plan=plan.plan.id, unit=unit_id, task=task_id, period=period, reason=why,
               previous_reason=row["reason"])
    return new
