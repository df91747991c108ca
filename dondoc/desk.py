"""What a person does at the secretariat's desk, shared by the `dondoc` command and the web page:
find the cycle a report belongs to, record a report that came on paper (with its scan), send
one unit a reminder now, issue a draft (and send it now).

Side effects: the ledger, the data folder (the scan), the output folder (the issued letter),
and `remind_now` / `issue_draft` SMTP deliveries.
Every refusal is a DeskError whose message tells the clerk why, in Vietnamese.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from dondoc.ledger import Ledger
from models.calendar import BusinessCalendar
from models.keys import Key
from models.plan import Plan


class DeskError(Exception):
    """A request that cannot be carried out; the message says why and what to do."""


def pick_period(plan: Plan, unit_id: str, task_id: str, period: str | None, day: dt.date) -> str:
    """The period of the cycle a report of `unit_id` for `task_id` received on `day` belongs
    to: `period` when given (checked), else the one whose window holds the day. DeskError for
    an unknown unit, task or period, or a unit the task is not assigned to."""
    from models.period import parse_label
    from models.rules import deadline_for, period_at
    if not plan.has_unit(unit_id):
        raise DeskError(f"không có đơn vị {unit_id!r} trong kế hoạch {plan.plan.id}")
    if task_id not in {t.id for t in plan.tasks}:
        raise DeskError(f"không có nhiệm vụ {task_id!r} trong {plan.plan.id}; "
                        f"có: {', '.join(t.id for t in plan.tasks)}")
    task = plan.task(task_id)
    if unit_id not in {u.id for u in plan.units_of(task)}:
        raise DeskError(f"đơn vị {unit_id} không được giao nhiệm vụ {task_id}")
    if not period:
        return period_at(plan, BusinessCalendar(plan.calendar), task, day)
    try:
        parse_label(period)
    except ValueError:
        raise DeskError(f"kỳ {period!r} không hợp lệ (ví dụ 2026, 2026-H1, 2026-Q3, 2026-10)") from None
    if deadline_for(task, period) is None:
        raise DeskError(f"nhiệm vụ {task_id} không có hạn báo cáo nào cho kỳ {period}")
    return period


def record_paper(plan: Plan, ledger: Ledger, data_dir, unit_id: str, task_id: str, period: str, day: dt.date,
                 scan: tuple[str, bytes] | None = None, note: str = "",
                 replace: bool = False) -> tuple[str, list[str]]:
    """Record a report that came on paper or through the document system, its scan `(file
    name, bytes)` saved under the data folder first and read (its text, the reply form's answers
    and numbers). Returns the ledger's outcome (new, updated, or exists: nothing recorded,
    though a scan given was kept) and the files saved."""
    from dondoc.collector import record_file  # its file read as an emailed report's would be
    return record_file(plan, ledger, data_dir, period, task_id, unit_id, day, scan[0] if scan else None,
                       scan[1] if scan else None, note=note, replace=replace)


def remind_now(rt, task_id: str, unit_id: str, period: str) -> str:
    """Send `unit_id` a reminder for its cycle now (rt: the plan's Runtime): decided and
    recorded under a key of its own for the day (`reminder-YYYYMMDD`), claimed and delivered
    like any letter, so two clicks send it once. Returns what happened, in words; DeskError
    when the unit has reported, is exempt, was never asked, has no address left, or the
    mail server could not take it (the letter then waits in the queue)."""
    from dondoc.outbox import deliver, mail_domain
    from dondoc.smtp import DeliveryError
    from models.rules import Action, deadline_for
    plan, ledger = rt.plan, rt.ledger
    pick_period(plan, unit_id, task_id, period, rt.today)
    unit, task, state = plan.unit(unit_id), plan.task(task_id), ledger.state(plan.plan.id)
    cycle = Key(plan.plan.id, period, task_id, unit_id)
    if unit_id in task.exempt:
        raise DeskError(f"{unit.name} được miễn nhiệm vụ {task_id}")
    if (task_id, unit_id, period) in state.reported:
        raise DeskError(f"{unit.name} đã báo cáo {task_id} kỳ {period}: không cần nhắc")
    if str(cycle.at("request")) not in state.decided:
        raise DeskError(f"chưa gửi đề nghị báo cáo {task_id} kỳ {period} cho {unit.name}: chưa nhắc được")
    to = tuple(a for a in unit.emails if a not in state.bounced)
    if not to:
        raise DeskError(f"mọi địa chỉ của {unit.name} đều bị trả lại: sửa địa chỉ trong kế hoạch trước")
    key = str(cycle.at("reminder", int(f"{rt.today:%Y%m%d}")))
    deadline = state.extended.get((task_id, unit_id, period)) or deadline_for(task, period)
    action = Action(key, "reminder", plan.plan.id, period, task_id, unit_id, int(f"{rt.today:%Y%m%d}"), rt.today,
                    deadline, to, plan_hash=plan.digest)
    ledger.record_actions([action], rt.today, mail_domain(plan))
    row = next(r for r in ledger.outbound(plan.plan.id) if r["key"] == key)
    if row["status"] == "sent":
        return f"đã nhắc {unit.name} hôm nay ({rt.today:%d/%m/%Y}); không gửi lại"
    try:
        summary = asyncio.run(deliver(plan, ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                      rt.settings.out, ("reminder",), rt.now, only={key}))
    except DeliveryError as e:
        raise DeskError(f"chưa gửi được thư nhắc {unit.name}: {e}; thư vẫn chờ trong hàng, "
                        "lần chạy tới sẽ gửi") from None
    if summary.sent:
        return f"đã gửi thư nhắc {unit.name} ({', '.join(to)})"
    problem = summary.problem() or "thư đang được một lần chạy khác gửi"
    raise DeskError(f"chưa gửi được thư nhắc {unit.name}: {problem}")


@dataclass
class Issued:
    """What `issue_draft` did: the document as now registered, how many letters it released,
    the warnings for the clerk, and, when asked to send, how many emails went out and the
    problem (None when every one went)."""
    doc: dict
    released: int
    warnings: list[str]
    sent: int | None = None
    problem: str | None = None


def issue_draft(settings, today: dt.date | None, doc_id: int, number: str, issued_on: dt.date,
                signed: Path | None = None, send: bool = False) -> Issued:
    """Register draft `doc_id` as issued (issuing.issue: its number, its date, the signed PDF
    units receive byte for byte), the date being between the draft's day and `today` (None:
    the real day); with `send`, email it to its units now, each lead claimed in the ledger as
    every run does, so a second call sends nothing. Raises DeskError (one line) when the
    draft cannot be issued (unknown, already issued, a date out of range, a malformed number,
    a file that is not a PDF); a mail server that cannot be reached leaves the document issued
    and its letters queued, said in `problem`. Shared by `dondoc issue` and the web page."""
    from dondoc.issuing import IssueError, issue
    from dondoc.runtime import open_runtimes
    runtimes = {rt.plan.plan.id: rt for rt in open_runtimes(today, settings)}
    ledger = Ledger(settings.db)
    doc = ledger.document(doc_id)
    now = next(iter(runtimes.values())).today
    if doc is not None and doc["state"] == "drafted" and not dt.date.fromisoformat(doc["day"]) <= issued_on <= now:
        raise DeskError(f"ngày ban hành {issued_on:%d/%m/%Y} phải từ ngày soạn dự thảo "
                        f"({dt.date.fromisoformat(doc['day']):%d/%m/%Y}) đến hôm nay ({now:%d/%m/%Y})")
    try:
        doc, n, warnings = issue(ledger, {k: rt.plan for k, rt in runtimes.items()},
                                 lambda plan: runtimes[plan.plan.id].templates, settings.out, doc_id, number,
                                 issued_on, signed)
    except IssueError as e:
        raise DeskError(str(e)) from None
    if not send:
        return Issued(doc, n, warnings)
    rt = runtimes.get(doc["plan_id"])
    if rt is None:
        return Issued(doc, n, warnings, 0, f"kế hoạch {doc['plan_id']} không còn trong thư mục kế hoạch: chưa gửi")
    return Issued(doc, n, warnings, *send_issued(rt, doc))


def send_issued(rt, doc: dict) -> tuple[int, str | None]:
    """Email issued document `doc` now to every unit still waiting for it (rt: its plan's
    Runtime), each email claimed in the ledger first, so two calls at once send it once.
    Returns how many emails went, and the problem in words (None when all went); a mail
    server that cannot be reached is a problem, the letters then wait for the next run."""
    from dondoc.outbox import deliver
    from dondoc.smtp import DeliveryError
    leads = {r["mail_key"] or r["key"] for r in rt.ledger.db.query(
        "select key, mail_key from outbound where document_id = ?", [doc["id"]])}
    try:
        summary = asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                                      rt.settings.out, (doc["stage"],), rt.now, only=leads,
                                      accept_new=rt.settings.accept_new_ledger))
    except DeliveryError as e:
        return 0, f"chưa gửi được: {e}; thư vẫn chờ trong hàng, lần chạy tới sẽ gửi"
    return summary.sent, summary.problem()
