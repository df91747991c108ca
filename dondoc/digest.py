"""The daily digest to the secretariat, one a day for every plan, grouped by plan: what came
in, the drafts waiting to be signed, who is late, bounced addresses, contacts away, what waits in
triage, what could not be sent.

Side effect: reads the ledger. `digest_action` returns the digest as an action to record
(its text decided now), or None when there is nothing to say.
"""
from __future__ import annotations

import datetime as dt
import json

from dondoc.ledger import Ledger
from models.calendar import BusinessCalendar
from models.keys import Key
from models.plan import Plan
from models.rules import Action
from models.status import status_rows


def _sections(plan: Plan, ledger: Ledger, cal: BusinessCalendar, today: dt.date, since: str) -> list[tuple[str, list]]:
    pid = plan.plan.id
    name = {u.id: u.name for u in plan.units}
    came = [f"- {name.get(r['unit_id'], r['unit_id'])} — {r['task_id']} ({r['period']}) — nhận ngày "
            f"{dt.date.fromisoformat(r['received_on']):%d/%m/%Y} ({'giấy' if r['source'] == 'paper' else 'thư'})"
            for r in ledger.db.query("select * from reports where plan_id = ? and created_at > ? order by created_at",
                                     [pid, since])]
    rows = status_rows(plan, ledger.state(pid), today, cal=cal)
    late = [f"- {r.unit_name} — {r.task_id} ({r.period}, hạn {r.deadline:%d/%m/%Y})" for r in rows
            if r.status == "overdue"]
    bounced = [f"- {name.get(r['unit_id'], r['unit_id'] or '')}: {r['last_error']}"
               for r in ledger.outbound(pid, "bounced")]
    failed = [f"- {r['key']}: {r['last_error']}" for r in ledger.outbound(pid, "failed")]
    away = sorted({name.get(r["unit_id"], r["unit_id"]) for r in ledger.inbound("ooo")
                   if r["unit_id"] and r["plan_id"] == pid})
    from dondoc.issuing import describe, waiting
    drafts = [f"- {describe(d, n)}" for d, n in waiting(ledger, {pid: cal}, today, [pid])]
    sections = [("Dự thảo công văn chờ ký (đơn vị chưa nhận được gì): dondoc issue", drafts),
                ("Báo cáo nhận được từ lần tổng hợp trước", came), ("Đơn vị quá hạn chưa báo cáo", late),
                ("Địa chỉ thư bị trả lại (cần sửa trong kế hoạch)", bounced), ("Thư không gửi được", failed),
                ("Đơn vị có người liên hệ vắng mặt", [f"- {a}" for a in away])]
    return [(title, lines) for title, lines in sections if lines]


def digest_action(plans: list[Plan], ledger: Ledger, cals: dict[str, BusinessCalendar],
                  today: dt.date) -> Action | None:
    """One digest for `today` covering `plans` (the default plan first: its secretariat
    receives it, and its id keys it)."""
    first = plans[0]
    pid = first.plan.id
    last = next(ledger.db.query("select created_at from outbound where stage = 'digest'"
                                " order by created_at desc limit 1"), {"created_at": ""})["created_at"]
    parts = []
    for plan in plans:
        sections = _sections(plan, ledger, cals[plan.plan.id], today, last)
        if sections:
            parts.append(f"KẾ HOẠCH {plan.plan.id}: {plan.plan.title}\n\n" + "\n\n".join(
                f"{title} ({len(lines)}):\n" + "\n".join(lines) for title, lines in sections))
    triage = ledger.inbound("triage")
    if triage:
        parts.append(f"Thư chờ phân loại (dondoc triage) ({len(triage)}):\n" + "\n".join(
            f"- #{r['rowid']} {r['from_addr']}: {r['reason']}" for r in triage))
    if not parts:
        return None
    body = {"subject": f"Tình hình báo cáo ngày {today:%d/%m/%Y}",
            "text": f"Tình hình thực hiện các kế hoạch, ngày {today:%d/%m/%Y}.\n\n" + "\n\n".join(parts) + "\n"}
    to = first.issuer.secretariat_email or first.issuer.email
    key = str(Key(pid, today.isoformat(), stage="digest"))
    return Action(key, "digest", pid, today.isoformat(), None, None, 0, today, None, (to,), plan_hash=first.digest,
                  body=json.dumps(body, ensure_ascii=False))
