"""The `escalate` flow: urging letters and overdue notices, on working days within working
hours only, for every plan; then the day's internal memo to the leader (one per leader and
drafting division, covering every plan and task with units still missing, and the drafts
waiting to be signed for more than 2 working days); then the secretariat's one daily digest."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

from prefect import flow

from dondoc.digest import LATE_DRAFT, describe, digest_actions, waiting
from dondoc.outbox import deliver, mail_domain
from dondoc.runtime import Runtime, open_runtimes
from dondoc.smtp import RunIncomplete
from flows.common import each_plan, logger, recorded
from models.calendar import BusinessCalendar

STAGES = ("urging", "escalation", "overdue")


def group_memos(ledger, plans: dict, today: dt.date) -> int:
    """Gather today's escalation rows not yet in an email into one memo per leader and
    drafting division (the lead: the first in plan and task order). Returns how many memos."""
    rows = list(ledger.db.query("select key, plan_id, to_addrs from outbound where stage = 'escalation'"
                                " and decided_on = ? and mail_key is null and status = 'pending' order by rowid",
                                [today.isoformat()]))
    groups: dict[tuple, list[str]] = {}
    for r in rows:
        plan = plans.get(r["plan_id"])
        who = (plan.issuer.email, plan.issuer.division) if plan else (r["plan_id"],)
        groups.setdefault((*who, *json.loads(r["to_addrs"])), []).append(r["key"])
    ledger.group({keys[0]: keys for keys in groups.values()}, [])
    return len(groups)


@flow(name="escalate", retries=0)
async def escalate(today: dt.date | None = None, plans: list[str] | None = None) -> dict:
    """Send what the rules propose for `today`; nothing outside working hours."""
    runtimes = open_runtimes(today, plans=plans)
    async with recorded("escalate", runtimes):
        return await _escalate(runtimes)


async def _escalate(runtimes: list[Runtime]) -> dict:
    rt = runtimes[0]
    if not rt.cal.is_working_time(rt.now):
        why = rt.cal.day_off_name(rt.today) or f"ngoài giờ làm việc ({rt.now:%H:%M})"
        logger().info("escalate %s: nothing sent: %s", rt.today, why)
        return {"skipped": why}
    incomplete = None
    try:
        result = await each_plan(runtimes, STAGES, ("urging", "overdue"))
    except RunIncomplete as e:
        incomplete, result = e, e.summary or {}
    every = {p.plan.id: p for p in rt.all_plans}
    cals = {p.plan.id: BusinessCalendar(p.calendar) for p in rt.all_plans}
    group_memos(rt.ledger, every, rt.today)
    late = [describe(d, n) for d, n in waiting(rt.ledger, cals, rt.today) if n > LATE_DRAFT]
    memos = 0
    for one in runtimes:
        memos += (await deliver(one.plan, one.ledger, one.cal, one.templates, one.settings.smtp(), one.mail_from,
                                one.settings.out, ("escalation",), one.now, plans=every, drafts=late,
                                accept_new=one.settings.accept_new_ledger)).sent
    # One digest a day per secretariat, about every plan it serves, from its first plan's identity.
    digests = digest_actions(list(rt.all_plans), rt.ledger, cals, rt.today, rt.now, rt.settings.smtp_attempts)
    digested = 0
    for plan in [p for p in rt.all_plans if any(a.plan_id == p.plan.id for a in digests)]:
        one = replace(rt, plan=plan, cal=cals[plan.plan.id])
        one.ledger.record_actions([a for a in digests if a.plan_id == plan.plan.id], one.today, mail_domain(plan))
        digested += (await deliver(plan, one.ledger, one.cal, one.templates, one.settings.smtp(), one.mail_from,
                                   one.settings.out, ("digest",), one.now,
                                   accept_new=one.settings.accept_new_ledger)).sent
    if incomplete:
        raise incomplete
    return result | {"sent": result.get("sent", 0) + memos, "memos": memos, "digest": digested}
