"""The `report` flow: build each plan's report of a period (.docx, and .pdf with LibreOffice)
and email it to the deputy director with a short summary. A rerun rebuilds the draft; it is
emailed again only when asked (`resend`)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

from prefect import flow

from dondoc.outbox import deliver, mail_domain
from dondoc.reportdoc import report_mail_body, write_report
from dondoc.runtime import Runtime, open_runtimes
from flows.common import logger, recorded
from models.period import Period, parse_label
from models.report import compile_report
from models.rules import Action, action_key, due_actions, report_periods, tracked


class NoSuchReport(ValueError):
    """A period the plan compiles no report for, or one dondoc never tracked."""


def periods_to_build(rt: Runtime, period: str | None, due: list[Action]) -> list[Period]:
    """The named period; else the reports due today; else the latest whose compile day has
    come and that dondoc tracked (a rebuild). Never a period dondoc asked nothing about."""
    state = rt.ledger.state(rt.plan.plan.id)
    if period:
        p = parse_label(period)
        if not any(q == p for _, q, _ in report_periods(rt.plan, rt.cal, p.end.year)):
            raise NoSuchReport(f"{rt.plan.plan.id}: kế hoạch không lập báo cáo cho kỳ {period}")
        if not tracked(rt.plan, state, p):
            raise NoSuchReport(f"{rt.plan.plan.id}: kỳ {period} chưa được theo dõi: không có báo cáo để tổng hợp")
        return [p]
    if due:
        return [parse_label(a.period) for a in due]
    past = [(day, p) for y in (rt.today.year, rt.today.year - 1) for _, p, day in report_periods(rt.plan, rt.cal, y)
            if day <= rt.today and tracked(rt.plan, state, p)]
    return [max(past, key=lambda dp: (dp[0], dp[1].end))[1]] if past else []


async def report_plan(rt: Runtime, period: str | None, resend: bool, when_due: bool) -> list[dict]:
    pid = rt.plan.plan.id
    state = rt.ledger.state(pid)
    due = [a for a in due_actions(rt.plan, state, rt.today, rt.cal) if a.stage == "compile"]
    if when_due and not due:
        return []
    results, actions = [], []
    for p in periods_to_build(rt, period, due):
        data = compile_report(rt.plan, state, rt.ledger.report_rows(pid), rt.today, p, rt.cal)
        files = write_report(rt.plan, data, rt.templates, rt.today, rt.settings.out)
        for note in files.notes:
            logger().warning("report %s/%s: %s", pid, p.label, note)
        mail = report_mail_body(rt.plan, data, files.notes)
        body = json.dumps(mail | {"files": [str(f) for f in files]}, ensure_ascii=False)
        mine = [a for a in due if a.period == p.label]
        if resend:
            n = sum(1 for r in rt.ledger.outbound(pid) if r["stage"] == "compile" and r["period"] == p.label)
            mine = [Action(action_key(pid, p.label, stage="compile", seq=n + 1), "compile", pid, p.label, None, None,
                           n + 1, rt.today, None, (rt.plan.signer.email,), plan_hash=rt.plan.digest)]
        actions += [replace(a, body=body) for a in mine]
        results.append({"period": p.label, "files": [str(f) for f in files], "notes": files.notes, "asked": data.asked,
                        **data.counts})
    rt.ledger.record_actions(actions, rt.today, mail_domain(rt.plan))
    sent = await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                         rt.settings.out, ("compile",), rt.now, accept_new=rt.settings.accept_new_ledger)
    for r in results:
        r["emailed"] = sent.sent
    return results


@flow(name="report", retries=0)
async def report(today: dt.date | None = None, plans: list[str] | None = None, period: str | None = None,
                 resend: bool = False, when_due: bool = False) -> dict:
    """Build the reports due (or of `period`) for every plan (or those named) and email the
    due ones. `when_due` (the schedule's setting): do nothing on other days."""
    runtimes = open_runtimes(today, plans=plans)
    async with recorded("report", runtimes):
        return await _report(runtimes, period, resend, when_due)


async def _report(runtimes: list[Runtime], period: str | None, resend: bool, when_due: bool) -> dict:
    out = {}
    for rt in runtimes:
        out[rt.plan.plan.id] = await report_plan(rt, period, resend, when_due)
    logger().info("report: %s", out)
    return out
