"""The `escalate` flow: urging letters, the escalation to the deputy director and overdue
notices, on working days within working hours only, for every plan; then the secretariat's
one daily digest, grouped by plan."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

from prefect import flow

from dondoc.digest import digest_action
from dondoc.outbox import deliver, mail_domain
from dondoc.runtime import open_runtimes
from flows.common import each_plan, logger
from models.calendar import BusinessCalendar

STAGES = ("urging", "escalation", "overdue")


@flow(name="escalate", retries=0)
async def escalate(today: dt.date | None = None, plans: list[str] | None = None) -> dict:
    """Send what the rules propose for `today`; nothing outside working hours."""
    runtimes = open_runtimes(today, plans=plans)
    rt = runtimes[0]
    if not rt.cal.is_working_time(rt.now):
        why = rt.cal.day_off_name(rt.today) or f"ngoài giờ làm việc ({rt.now:%H:%M})"
        logger().info("escalate %s: nothing sent: %s", rt.today, why)
        return {"skipped": why}
    result = await each_plan(runtimes, STAGES)
    # One digest a day for the secretariat, about every plan, from the default plan's identity.
    rt = replace(rt, plan=rt.all_plans[0], cal=BusinessCalendar(rt.all_plans[0].calendar))
    cals = {p.plan.id: BusinessCalendar(p.calendar) for p in rt.all_plans}
    digest = digest_action(list(rt.all_plans), rt.ledger, cals, rt.today)
    if digest:
        rt.ledger.record_actions([digest], rt.today, mail_domain(rt.plan))
    sent = await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                         rt.settings.out, ("digest",), rt.now, accept_new=rt.settings.accept_new_ledger)
    return result | {"digest": sent.sent}
