"""The daily digest to the secretariat: what came in, who is late, bounced addresses,
contacts away, what waits in triage, what could not be sent.

Side effect: reads the ledger. `digest_action` returns the digest as an action to record
(its text decided now), or None when there is nothing to say.
"""
from __future__ import annotations

import datetime as dt
import json

from dondoc.ledger import Ledger
from models.calendar import BusinessCalendar
from models.plan import Plan
from models.rules import Action
from models.status import status_rows


def digest_action(plan: Plan, ledger: Ledger, cal: BusinessCalendar, today: dt.date) -> Action | None:
    pid = plan.plan.id
    key = f"{pid}/digest/{today.isoformat()}"
    last = next(ledger.db.query("select created_at from outbound where plan_id = ? and stage = 'digest'"
                                " order by created_at desc limit 1", [pid]), {"created_at": ""})["created_at"]
    name = {u.id: u.name for u in plan.units}
    came = [f"- {name.get(r['unit_id'], r['unit_id'])} — {r['task_id']} — nhận ngày "
            f"{dt.date.fromisoformat(r['received_on']):%d/%m/%Y} ({'giấy' if r['source'] == 'paper' else 'thư'})"
            for r in ledger.db.query("select * from reports where plan_id = ? and created_at > ? order by created_at",
                                     [pid, last])]
    rows = status_rows(plan, ledger.state(pid), today, cal=cal)
    late = [f"- {r.unit_name} — {r.task_id} (hạn {r.deadline:%d/%m/%Y})" for r in rows if r.status == "overdue"]
    bounced = [f"- {name.get(r['unit_id'], r['unit_id'] or '')}: {r['last_error']}" for r in ledger.outbound(pid, "bounced")]
    failed = [f"- {r['key']}: {r['last_error']}" for r in ledger.outbound(pid, "failed")]
    away = sorted({name.get(r["unit_id"], r["unit_id"]) for r in ledger.inbound("ooo") if r["unit_id"]})
    triage = ledger.inbound("triage")
    sections = [("Báo cáo nhận được từ lần tổng hợp trước", came), ("Đơn vị quá hạn chưa báo cáo", late),
                ("Địa chỉ thư bị trả lại (cần sửa trong kế hoạch)", bounced), ("Thư không gửi được", failed),
                ("Đơn vị có người liên hệ vắng mặt", [f"- {a}" for a in away]),
                ("Thư chờ phân loại (dondoc triage)", [f"- #{r['rowid']} {r['from_addr']}: {r['reason']}" for r in triage])]
    sections = [(title, lines) for title, lines in sections if lines]
    if not sections:
        return None
    text = "\n\n".join(f"{title} ({len(lines)}):\n" + "\n".join(lines) for title, lines in sections)
    body = {"subject": f"[{pid}] Tình hình báo cáo ngày {today:%d/%m/%Y}",
            "text": f"Tình hình thực hiện {plan.plan.type.lower()} {plan.plan.title}, ngày {today:%d/%m/%Y}.\n\n"
                    + text + "\n"}
    to = plan.issuer.secretariat_email or plan.issuer.email
    return Action(key, "digest", pid, today.year, None, None, 0, today, None, (to,), plan_hash=plan.digest,
                  body=json.dumps(body, ensure_ascii=False))
