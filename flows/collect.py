"""The `collect` flow: keep every new reply, read and match it, acknowledge reports.

Thin: the clock is read once; keeping, reading and acknowledging are one Prefect task each
(never one per message), never cached. Whether a report is on time depends on when it
arrived, not on when this flow runs.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dondoc.acker import beside
from dondoc.collector import CollectSummary, keep_new, process
from dondoc.outbox import deliver
from dondoc.runtime import Runtime, open_runtimes
from flows.common import logger, recorded, step
from models.inbound import Limits


@task(name="keep", cache_policy=NO_CACHE)
def keep(rt: Runtime, summary: CollectSummary) -> None:
    """Store each new message and record it before marking it on the server."""
    source = rt.settings.inbox_source()
    try:
        keep_new(source, rt.ledger, rt.settings.data, summary, rt.today)
    finally:
        getattr(source, "close", lambda: None)()


@task(name="read", cache_policy=NO_CACHE)
def read(runtimes: list[Runtime], summary: CollectSummary) -> None:
    """Classify and match what was kept, each reply under the plan it answers; record reports,
    bounces, absences, triage."""
    rt = runtimes[0]
    limits = Limits(max_bytes=rt.settings.max_attachment_mb * 1024 * 1024)
    with beside(runtimes, rt.ledger.count_inbound("new")) as ahead:   # many replies: acknowledged meanwhile
        process({r.plan.plan.id: r.plan for r in runtimes}, rt.ledger, {r.plan.plan.id: r.cal for r in runtimes},
                rt.settings.data, limits, summary, ahead=ahead)
    summary.acks_sent += ahead.sent if ahead else 0


@task(name="acknowledge", cache_policy=NO_CACHE)
async def acknowledge(runtimes: list[Runtime], summary: CollectSummary) -> None:
    """Send every acknowledgement not yet sent (each was recorded with its report), per plan:
    all of them, or what the sender beside the reading left."""
    for rt in runtimes:
        sent = await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                             rt.settings.out, ("ack",), rt.now, accept_new=rt.settings.accept_new_ledger)
        summary.acks_sent += sent.sent


@flow(name="collect", retries=0)
async def collect(today: dt.date | None = None) -> dict:
    """Read the mailbox once for every plan and record what came in (default date: today in
    Asia/Ho_Chi_Minh)."""
    runtimes = open_runtimes(today)
    async with recorded("collect", runtimes):
        return await _collect(runtimes)


async def _collect(runtimes: list[Runtime]) -> dict:
    rt = runtimes[0]
    summary = CollectSummary()
    step(keep, rt, summary)
    step(read, runtimes, summary)
    await step(acknowledge, runtimes, summary)
    result = summary.as_dict()
    logger().info("collect %s: %s", rt.today.isoformat(), result)
    return result
