"""The `dispatch` flow: first requests and reminders, decided, recorded and sent.

Thin: reads the clock once (open_runtime), asks the rules, and calls the outbox. Prefect
tasks are coarse (one to record, one per stage to send) and never cached: the ledger, not
Prefect, knows what was sent, and the flow has no retries of its own.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dondoc.outbox import Summary, decide, deliver
from dondoc.runtime import Runtime, open_runtime
from dondoc.smtp import DeliveryError

STAGES = ("request", "reminder")


@task(name="record", cache_policy=NO_CACHE)
def record(rt: Runtime, stages: tuple[str, ...]) -> int:
    """Decide what is due and write it to the ledger as pending."""
    return len(decide(rt.plan, rt.ledger, rt.cal, rt.today, stages))


@task(name="send", cache_policy=NO_CACHE)
async def send(rt: Runtime, stage: str, summary: Summary) -> Summary:
    """Build and send every unsent letter of one stage (a batch, not a task per unit)."""
    return await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                         rt.settings.out, (stage,), rt.now, summary)


async def run_stages(rt: Runtime, stages: tuple[str, ...]) -> dict:
    """Record, then send stage by stage; raise DeliveryError (the flow fails) when the
    server could not be reached, after logging what was done."""
    log = get_run_logger()
    summary = Summary(decided=record(rt, stages))
    error = None
    for stage in stages:
        try:
            await send(rt, stage, summary)
        except DeliveryError as e:
            error = e
            break
    log.info("%s: %s", rt.today.isoformat(), summary.as_dict())
    for key, why in summary.failures:
        log.warning("gửi thất bại %s: %s", key, why)
    if error:
        raise error
    return summary.as_dict()


@flow(name="dispatch", retries=0)
async def dispatch(today: dt.date | None = None) -> dict:
    """Send the first requests and reminders due on `today` (default: today in Asia/Ho_Chi_Minh)."""
    return await run_stages(open_runtime(today), STAGES)
