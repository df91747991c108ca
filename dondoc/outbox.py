"""The outbox: decide, record, deliver. Shared by the flows that send and by `preview`.

1. decide: ask the rules what is due today, keep the stages asked for;
2. record: write each as `pending` in the ledger, with its Message-ID, before any sending;
3. deliver: claim unsent letters a batch at a time, build each (its .docx kept under the
   output folder), send, and mark it `failed` or back to `pending` as soon as the server
   answered it, `sent` at the latest before its connection hands over the next message's end.
A rerun sends only what is not marked sent, under the same Message-ID.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dondoc.issuing import grouping, request_numbers, signs
from dondoc.ledger import Ledger, action_row
from dondoc.letters import BLANK_NUMBER, Letter, build_letter, build_memo, document_context, notice, unit_mail
from dondoc.render import Templates
from dondoc.smtp import DeliveryError, Outgoing, SmtpConfig, address_problem, send_all
from models.calendar import BusinessCalendar
from models.keys import Key
from models.plan import Plan
from models.rules import Action, due_actions
from models.verp import Verp

LEASE = dt.timedelta(minutes=10)   # a claim older than this belongs to a run that died
BATCH = 100   # letters claimed (and their rows read) together; each is still marked sent alone


@dataclass
class Summary:
    """What one run did, letter by letter. `failures`: refused for good (5xx) in this run;
    `deferred`: refused for now (4xx, lost connection), back to pending; `stuck`: deferred
    letters that have now been tried `attempts` times or more (runs, not in-run retries);
    `partial`: sent, but some recipients were refused."""
    decided: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    skipped: int = 0      # claimed by another run meanwhile
    failures: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"decided": self.decided, "sent": self.sent, "failed": self.failed, "retry": self.retry,
                "skipped": self.skipped, "failures": [list(f) for f in self.failures],
                "deferred": [list(f) for f in self.deferred], "stuck": list(self.stuck),
                "partial": [list(f) for f in self.partial]}

    def problem(self) -> str | None:
        """One line for the clerk when this run left letters it should have sent, saying
        what to do; None when everything that was tried went out."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} thư bị máy chủ từ chối hẳn (xem `dondoc status`): sửa địa chỉ nếu sai, "
                         "rồi chạy `dondoc resend --failed`")
        if self.retry:
            parts.append(f"{self.retry} thư bị tạm từ chối, còn chờ: lần chạy sau sẽ gửi lại")
        if self.stuck:
            parts.append(f"{len(self.stuck)} thư đã thử nhiều lần vẫn chưa gửi được ({', '.join(self.stuck[:3])}"
                         f"{', …' if len(self.stuck) > 3 else ''}): hỏi lại địa chỉ với đơn vị")
        return "; ".join(parts) or None


def mail_domain(plan: Plan) -> str:
    return plan.issuer.email.rsplit("@", 1)[1]


def decide(plan: Plan, ledger: Ledger, cal: BusinessCalendar, today: dt.date, stages,
           held: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Record as pending every action of `stages` due today, except first requests of the
    tasks `held` back and follow-ups of a cycle whose first request still waits to be signed;
    each unit's letters of a stage grouped into one email, and (stages the plan issues by
    `sign`) into the day's one document, whose rows are `held` until it is issued. Returns
    the keys recorded."""
    waiting = {str(Key.parse(r["key"]).cycle) for r in ledger.db.query(
        "select key from outbound where plan_id = ? and stage = 'request' and status = 'held'", [plan.plan.id])}
    actions = [a for a in due_actions(plan, ledger.state(plan.plan.id), today, cal)
               if a.stage in stages and not (a.stage == "request" and a.task_id in held)
               and not (a.unit_id and a.stage != "request" and str(Key.parse(a.key).cycle) in waiting)]
    mails, documents = grouping(plan, actions, today)
    return ledger.record_letters(actions, today, mail_domain(plan), mails, documents)


def letters(plan: Plan, ledger: Ledger, rows: list[dict], templates: Templates, cal: BusinessCalendar,
            mail_from: str, now: dt.datetime, plans: dict[str, Plan] | None = None, drafts: Sequence[str] = ()):
    """Build the message of each row, lazily (10,000 do not sit in memory at once): a unit's
    email of the day (every row it carries), the memo (`plans`: every plan it may cover), a
    draft, digest or report email, an acknowledgement."""
    plans = plans or {plan.plan.id: plan}
    histories: dict[str, dict] = {}
    pdfs: dict[int, bytes] = {}
    docs: dict[int, dict | None] = {}
    groups: dict[str, list[dict]] = {}
    for i, row in enumerate(rows):
        if i % BATCH == 0:   # the rows of the next emails, read in one query
            groups = ledger.mail_groups([r["key"] for r in rows[i:i + BATCH] if r.get("mail_key")])
        group = groups.get(row["key"], [row]) if row.get("mail_key") else [row]
        if row["body"]:
            yield notice(plan, row, mail_from, now)
        elif row["stage"] == "escalation":
            for pid in {r["plan_id"] for r in group} - set(histories):
                histories[pid] = ledger.sent_by_cycle(pid)
            yield build_memo(plans, group, templates, mail_from, now, histories, list(drafts))
        elif row["stage"] in ("request", "reminder", "urging", "overdue"):
            doc = None
            if row.get("document_id"):
                if row["document_id"] not in docs:
                    docs[row["document_id"]] = ledger.document(row["document_id"])
                doc = docs[row["document_id"]]
            if doc is not None and doc["id"] not in pdfs:
                pdfs[doc["id"]] = Path(doc["pdf_path"]).read_bytes()
            yield unit_mail(plan, group, templates, cal, mail_from, now, doc, pdfs[doc["id"]] if doc else None,
                            request_numbers(ledger, group, plan) if doc is None else None)
        else:
            yield build_letter(plan, row, templates, cal, mail_from, now)


def preview(plan: Plan, ledger: Ledger, actions: list[Action], day: dt.date, templates: Templates,
            cal: BusinessCalendar, mail_from: str, now: dt.datetime,
            plans: dict[str, Plan] | None = None) -> Iterator[tuple[str, bytes]]:
    """What `actions`, decided on `day`, would produce, as files (a path relative to the output,
    its bytes), the way a run would group them, recording and sending nothing (the ledger is
    only read): each stage's one document as the draft the secretariat would receive (.docx,
    not printed to PDF), each unit's one email of a stage (.eml; in `sign` mode it names the
    document under a blank number, with no PDF attached), the day's one memo (.eml and .docx),
    and every other message (.eml)."""
    domain, pid = mail_domain(plan), plan.plan.id
    rows = {a.key: action_row(a, day, f"<preview.{i}.{a.stage}@{domain}>",
                              ledger.thread_of(a.key) if a.unit_id and a.stage not in ("request", "ack") else None)
            for i, a in enumerate(actions)}
    mails, documents = grouping(plan, actions, day)
    history = ledger.sent_by_cycle(pid)
    folder = f"{pid}/{day.isoformat()}"
    for doc, keys in documents:
        mine = [rows[k] for k in keys]
        ctx = document_context(plan, doc["stage"], day, mine, cal, history, request_numbers(ledger, mine))
        yield f"{folder}/du-thao-{doc['stage']}.docx", templates.docx(doc["stage"]).render(ctx)
    blank = {"number": f"{BLANK_NUMBER}/{plan.issuer.code}-{plan.issuer.division}", "issued_on": day.isoformat()}
    for keys in mails.values():
        group = [rows[k] for k in keys]
        lead = group[0]
        signed = signs(plan, lead["stage"], lead["unit_id"])
        letter = unit_mail(plan, group, templates, cal, mail_from, now, blank if signed else None, None,
                           None if signed else request_numbers(ledger, group, plan))
        yield f"{folder}/{lead['stage']}/{lead['unit_id']}.eml", letter.data
    grouped = {k for keys in mails.values() for k in keys}
    escalation = [r for k, r in rows.items() if k not in grouped and r["stage"] == "escalation"]
    others = [r for k, r in rows.items() if k not in grouped and r["stage"] != "escalation"]
    made = list(letters(plan, ledger, others, templates, cal, mail_from, now))
    if escalation:
        made.append(build_memo(plans or {pid: plan}, escalation, templates, mail_from, now, {pid: history}, []))
    for letter in made:
        path = letter.relpath or f"{folder}/{Key.parse(letter.key).stage or 'thu'}/{letter.key.replace('/', '-')}"
        if letter.docx is not None:
            yield path, letter.docx
        yield str(Path(path).with_suffix(".eml")), letter.data


MARK = ".dondoc-ledger"   # in the output folder: the id of the ledger whose letters are there


class LedgerMismatch(DeliveryError):
    """Letters already sent sit in the output folder, but this ledger does not know them."""

    def __init__(self, out: Path):
        super().__init__(f"thư mục {out} đã có thư của một sổ cái khác (sổ cái bị xoá hoặc thay?): gửi tiếp sẽ gửi lại "
                         "mọi thư; khôi phục sổ cái cũ (DONDOC_DB), hoặc nếu đúng là sổ cái mới, chạy lại với "
                         "--i-know-the-ledger-is-new", permanent=True, session=True)


def check_out(ledger: Ledger, out: Path, accept_new: bool = False) -> None:
    """Refuse to send when `out` holds letters of another ledger (its mark differs, or letters
    are there without a mark); with `accept_new`, or an empty folder, mark it as this ledger's."""
    mark = out / MARK
    known = mark.read_text(encoding="utf-8").strip() if mark.exists() else None
    if known == ledger.ledger_id:
        return
    letters = out.exists() and any(p.parent != out for p in out.rglob("*.docx"))   # not the reports on top
    if not accept_new and (known is not None or letters):
        raise LedgerMismatch(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"{MARK}.{os.getpid()}"     # atomically: a run beside this one never reads half a mark
    tmp.write_text(ledger.ledger_id + "\n", encoding="utf-8")
    os.replace(tmp, mark)


def keep(letter: Letter, out: Path) -> Path | None:
    if letter.docx is None:
        return None
    path = out / letter.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(letter.docx)
    return path


async def deliver(plan: Plan, ledger: Ledger, cal: BusinessCalendar, templates: Templates, smtp: SmtpConfig,
                  mail_from: str, out: Path, stages, now: dt.datetime, summary: Summary | None = None,
                  plans: dict[str, Plan] | None = None, drafts: Sequence[str] = (),
                  only: set[str] | None = None, accept_new: bool = False) -> Summary:
    """Send every unsent letter of `stages` (`only` those keys, when given), marking each in
    the ledger as soon as the server answered it: `sent`, `failed` (5xx for the letter), or back
    to `pending` (4xx: tried
    again next run; a session failure does not count as an attempt). A letter to an address
    no SMTP server can take is failed without being sent. Raises SessionRefused when the
    server refuses the session, DeliveryError when it could not be reached; what was not
    sent stays pending for the next run.

    What is batched and what is not: letters are claimed BATCH at a time (one conditional
    UPDATE) and their rows read together, since a claimed letter that was never tried is only
    late, not sent twice (released at the end of the run, or taken over by a rerun when this
    process is gone). A letter accepted by the server is marked `sent` before any connection
    hands over the end of its next message (`write_sent`), so a crash resends at most the one
    letter in flight on each connection; the marks of the connections are written together.
    What a sender that died had journaled (`dondoc.acker`) is folded into the ledger first."""
    summary = summary or Summary()
    ledger.fold_journals()
    rows = [r for r in ledger.sendable(plan.plan.id, stages, now, LEASE) if only is None or r["key"] in only]
    if rows:
        check_out(ledger, out, accept_new)

    async def batches() -> AsyncIterator[list[dict]]:
        for i in range(0, len(rows), BATCH):
            yield rows[i:i + BATCH]
    await send(plan, ledger, ledger, cal, templates, smtp, mail_from, out, now, summary, batches(), True,
               plans, drafts)
    return summary


async def send(plan: Plan, ledger: Ledger, marks, cal: BusinessCalendar, templates: Templates, smtp: SmtpConfig,
               mail_from: str, out: Path, now: dt.datetime, summary: Summary, batches: AsyncIterator[list[dict]],
               claim_rows: bool, plans: dict[str, Plan] | None = None, drafts: Sequence[str] = ()) -> None:
    """Send the letters of the rows each of `batches` brings (see `deliver`): claimed here when
    `claim_rows`, else claimed for this process already; each outcome written with `marks`
    (the ledger, or a `Journal` the ledger's holder folds in)."""
    claimed: set[str] = set()   # taken by this run and not yet answered
    by_key: dict[str, dict] = {}

    def claim(rows: list[dict]) -> list[dict]:
        by_key.update((r["key"], r) for r in rows)
        taken = set(ledger.claim_many(rows, now)) if claim_rows else {r["key"] for r in rows}
        summary.skipped += len(rows) - len(taken)
        claimed.update(taken)
        return [r for r in rows if r["key"] in taken]

    accepted: list[tuple[str, str, str]] = []   # sent, not yet written: see `write_sent`

    def write_sent() -> None:
        """Mark `sent`, in one commit, what the server accepted since the last call: called
        before any connection hands over the end of its next message, so a crash resends at
        most the one letter in flight on each connection, as a commit per letter would, and
        the letters the other connections had accepted meanwhile share the commit."""
        if accepted:
            marks.finish_many(accepted)
            accepted.clear()

    def done(item: Outgoing, error: DeliveryError | None, detail: str) -> None:
        claimed.discard(item.key)
        if error is None:
            accepted.append((item.key, "sent", detail))
            summary.sent += 1
            if detail:
                summary.partial.append((item.key, detail))
        elif error.session:
            marks.release(item.key, str(error))
        elif error.permanent:
            marks.finish(item.key, "failed", str(error))
            summary.failed += 1
            summary.failures.append((item.key, str(error)))
        else:
            marks.finish(item.key, "pending", str(error))
            summary.retry += 1
            summary.deferred.append((item.key, str(error)))
            if (by_key[item.key]["attempts"] or 0) + 1 >= smtp.attempts:
                summary.stuck.append(item.key)

    verp = Verp(ledger.bounce_secret(), plan.issuer.email) if plan.issuer.verp else None

    def envelope(key: str) -> str:
        """MAIL FROM: the letter's own signed bounce address (the From header stays `mail_from`)."""
        row = by_key[key]
        return verp.address(row["rowid"], row["message_id"]) if verp else mail_from

    async def produce() -> AsyncIterator[Outgoing]:
        async for batch in batches:
            sendable = []
            for row in claim(batch):   # an address no letter can carry: that letter fails
                addresses = json.loads(row["to_addrs"]) + json.loads(row["cc_addrs"] or "[]")
                if problems := [p for a in addresses if (p := address_problem(a))]:
                    done(Outgoing(row["key"], mail_from, tuple(addresses), b""),
                         DeliveryError("; ".join(problems), True), "")
                else:
                    sendable.append(row)
            for letter in letters(plan, ledger, sendable, templates, cal, mail_from, now, plans, drafts):
                keep(letter, out)
                yield Outgoing(letter.key, envelope(letter.key), letter.recipients, letter.data)

    try:
        await send_all(produce(), smtp, lambda item: True, done, write_sent)
    finally:   # taken but never tried (the run stopped): pending again, the attempt not counted
        write_sent()
        for key in sorted(claimed):
            marks.release(key, "")
