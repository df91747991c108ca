"""The `report` flow: build the yearly report (.docx, and .pdf with LibreOffice) and email
it to the deputy director with a short summary. A rerun rebuilds the draft; it is emailed
again only when asked (`resend`)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

from prefect import flow, get_run_logger

from dondoc.outbox import deliver, mail_domain
from dondoc.reportdoc import report_mail_body, write_report
from dondoc.runtime import open_runtime
from models.report import compile_report
from models.rules import Action, action_key, compile_day, due_actions


def report_year(plan, cal, today: dt.date) -> int:
    """The cycle being reported: the last one whose compile day has come, else this year's."""
    past = [y for y in (today.year, today.year - 1) if compile_day(plan, cal, y) <= today]
    return past[0] if past else today.year


@flow(name="report", retries=0)
async def report(today: dt.date | None = None, year: int | None = None, resend: bool = False,
                 when_due: bool = False) -> dict:
    """Build the report of `year` (default: the last cycle compiled) and email it when its
    compile day has come. `when_due` (the schedule's setting): do nothing on other days."""
    rt = open_runtime(today)
    pid = rt.plan.plan.id
    year = year or report_year(rt.plan, rt.cal, rt.today)
    state = rt.ledger.state(pid)
    due = [a for a in due_actions(rt.plan, state, rt.today, rt.cal) if a.stage == "compile" and a.year == year]
    if when_due and not due:
        return {"year": year, "skipped": "chưa đến ngày tổng hợp"}
    reports = list(rt.ledger.db.query("select * from reports where plan_id = ?", [pid]))
    data = compile_report(rt.plan, state, reports, rt.today, year, rt.cal)
    files = write_report(rt.plan, data, rt.templates, rt.today, rt.settings.out)
    body = json.dumps(report_mail_body(rt.plan, data) | {"files": [str(f) for f in files]}, ensure_ascii=False)
    if resend:
        n = sum(1 for r in rt.ledger.outbound(pid) if r["stage"] == "compile" and r["year"] == year)
        due = [Action(f"{action_key(pid, year, stage='compile')}-{n + 1}", "compile", pid, year, None, None, n + 1,
                      rt.today, None, (rt.plan.signer.email,), plan_hash=rt.plan.digest)]
    rt.ledger.record_actions([replace(a, body=body) for a in due], rt.today,
                             mail_domain(rt.plan))
    sent = await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                         rt.settings.out, ("compile",), rt.now)
    result = {"year": year, "files": [str(f) for f in files], "emailed": sent.sent, "asked": data.asked,
              **data.counts}
    get_run_logger().info("report %s: %s", year, result)
    return result
