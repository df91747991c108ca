"""The `escalate` flow: urging letters, the escalation to the deputy director and overdue
notices, on working days within working hours only; then the secretariat's daily digest."""
from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger

from dondoc.digest import digest_action
from dondoc.outbox import deliver, mail_domain
from dondoc.runtime import open_runtime
from flows.common import run_stages

STAGES = ("urging", "escalation", "overdue")


@flow(name="escalate", retries=0)
async def escalate(today: dt.date | None = None) -> dict:
    """Send what the rules propose for `today`; nothing outside working hours."""
    rt = open_runtime(today)
    if not rt.cal.is_working_time(rt.now):
        why = rt.cal.day_off_name(rt.today) or f"ngoài giờ làm việc ({rt.now:%H:%M})"
        get_run_logger().info("escalate %s: nothing sent: %s", rt.today, why)
        return {"skipped": why}
    result = await run_stages(rt, STAGES)
    digest = digest_action(rt.plan, rt.ledger, rt.cal, rt.today)
    if digest:
        rt.ledger.record_actions([digest], rt.today, mail_domain(rt.plan))
    sent = await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                         rt.settings.out, ("digest",), rt.now)
    return result | {"digest": sent.sent}
