"""The `collect` flow: keep every new reply, read and match it, acknowledge reports.

Thin: the clock is read once; keeping, reading and acknowledging are one Prefect task each
(never one per message), never cached. Whether a report is on time depends on when it
arrived, not on when this flow runs.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dondoc.collector import CollectSummary, keep_new, processing
from dondoc.outbox import Summary, Ticks, deliver
from dondoc.runtime import Runtime, open_runtimes
from flows.common import logger, recorded, step
from models.inbound import Limits


@task(name="keep", cache_policy=NO_CACHE)
def keep(rt: Runtime, summary: CollectSummary) -> None:
    """Store each new message and record it before marking it on the server."""
    source = rt.settings.inbox_source()
    try:
        keep_new(source, rt.ledger, rt.settings.data, summary)
    finally:
        getattr(source, "close", lambda: None)()


@task(name="read", cache_policy=NO_CACHE)
async def read(runtimes: list[Runtime], summary: CollectSummary) -> int:
    """Classify and match what was kept, each reply under the plan it answers; record reports,
    bounces, absences, triage. Each report's acknowledgement is sent while the next replies
    are read. Returns how many acknowledgements went out."""
    return await read_and_acknowledge(runtimes, summary)


async def read_and_acknowledge(runtimes: list[Runtime], summary: CollectSummary, group: int = 20) -> int:
    """`read` without Prefect. One sender per plan (`deliver`, fed by `Ticks`) sends the
    acknowledgements as they are committed, while the next replies are read: after each
    message the event loop runs, so the SMTP server's work overlaps the reading. Messages are
    committed `group` at a time, and at once when a sender has marked a letter (its mark joins
    the open transaction, and is on disk as soon as without the overlap). A sender that fails
    (the server refuses the session, cannot be reached…) stops sending; the reading goes on,
    and its error is raised once every reply is recorded."""
    rt = runtimes[0]
    limits = Limits(max_bytes=rt.settings.max_attachment_mb * 1024 * 1024)
    ticks = [Ticks() for _ in runtimes]
    sums = [Summary() for _ in runtimes]
    senders = [asyncio.create_task(deliver(r.plan, r.ledger, r.cal, r.templates, r.settings.smtp(), r.mail_from,
                                           r.settings.out, ("ack",), r.now, summary=u,
                                           accept_new=r.settings.accept_new_ledger, feed=t))
               for r, t, u in zip(runtimes, ticks, sums, strict=True)]

    def marks() -> int:
        return sum(u.sent + u.failed + u.retry for u in sums)
    steps = processing({r.plan.plan.id: r.plan for r in runtimes}, rt.ledger, {r.plan.plan.id: r.cal for r in runtimes},
                       rt.settings.data, limits, summary)
    stopped: BaseException | None = None
    try:
        more = True
        while more and stopped is None:
            more = False
            with rt.ledger.batch():
                try:
                    for i, _ in enumerate(steps, 1):
                        before = marks()
                        for _ in range(2):   # an SMTP answer wakes its sender one loop turn after it is read
                            await asyncio.sleep(0)
                        if i == group or marks() != before:
                            more = True
                            break
                except BaseException as e:   # cancelled…: what is done stands (a message is whole or undone)
                    stopped = e
            for t in ticks:   # what was just committed can be sent
                t.tick()
        if stopped is not None:
            raise stopped
    finally:
        for t in ticks:
            t.close()
        results = await asyncio.gather(*senders, return_exceptions=True)
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:   # raised once every reply is recorded, as the acknowledge step would
        raise failed
    return sum(u.sent for u in sums)


@task(name="acknowledge", cache_policy=NO_CACHE)
async def acknowledge(runtimes: list[Runtime], summary: CollectSummary) -> int:
    """Send every acknowledgement not yet sent (each was recorded with its report), per plan."""
    n = 0
    for rt in runtimes:
        sent = await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                             rt.settings.out, ("ack",), rt.now, accept_new=rt.settings.accept_new_ledger)
        n += sent.sent
    return n


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
    acked = await step(read, runtimes, summary)
    acked += await step(acknowledge, runtimes, summary)
    result = summary.as_dict() | {"acks_sent": acked}
    logger().info("collect %s: %s", rt.today.isoformat(), result)
    return result
