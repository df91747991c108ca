"""What the sending flows share: record what is due, then send it stage by stage.

Prefect tasks are coarse (one to record, one per stage to send) and never cached: the
ledger, not Prefect, knows what was sent, and no flow retries by itself.
"""
from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dondoc.outbox import Summary, decide, deliver
from dondoc.runtime import Runtime
from dondoc.smtp import DeliveryError, RunIncomplete


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
    server could not be reached or refused the session, and RunIncomplete when some letter
    of this run was refused or left for later, after logging what was done."""
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
    for key, why in summary.deferred:
        log.warning("tạm chưa gửi được %s: %s", key, why)
    for key, why in summary.partial:
        log.warning("đã gửi %s nhưng có người nhận bị từ chối: %s", key, why)
    if error:
        raise error
    if summary.problem():
        raise RunIncomplete(summary.problem(), summary.as_dict())
    return summary.as_dict()


