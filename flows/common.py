"""What the sending flows share: record what is due, then send it stage by stage.

Prefect tasks are coarse (one to record, one per stage to send) and never cached: the
ledger, not Prefect, knows what was sent, and no flow retries by itself.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from dondoc.issuing import prepare_drafts
from dondoc.outbox import Summary, decide, deliver, mail_domain
from dondoc.runtime import Runtime
from dondoc.smtp import DeliveryError, RunIncomplete
from models.renames import held_back, orphans


def step(prefect_task, *args):
    """Run a step as a Prefect task inside a flow run, or as the plain function when the flow's
    body is called directly (`flow.fn`: the demo, which plays a year in a minute)."""
    return prefect_task(*args) if FlowRunContext.get() else prefect_task.fn(*args)


def logger() -> logging.Logger | logging.LoggerAdapter:
    return get_run_logger() if FlowRunContext.get() else logging.getLogger("dondoc")


@asynccontextmanager
async def recorded(flow: str, runtimes: list[Runtime]) -> AsyncIterator[None]:
    """Write the run's start (its flow, plans and clock) and its end (`completed`, or `failed`
    with the error's first line) to the ledger's event log, which models/health reads to tell
    a failed run or a schedule that did not run. The error is raised on; a ledger that cannot
    record the end only logs a warning."""
    rt = runtimes[0]
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else uuid.uuid4().hex
    rt.ledger.log("run-start", run_id, flow=flow, plans=[r.plan.plan.id for r in runtimes], now=rt.now.isoformat())
    end: dict = {"state": "completed"}
    try:
        yield
    except BaseException as e:
        end = {"state": "failed", "error": (str(e).strip().splitlines() or [type(e).__name__])[0][:300]}
        raise
    finally:
        try:
            rt.ledger.log("run-end", run_id, flow=flow, **end)
        except Exception as e:   # the run's own outcome matters more than its record
            logger().warning("không ghi được kết thúc lượt chạy %s: %s", run_id, e)


class RenamePending(RunIncomplete):
    """Tasks held back because the ledger holds history under a name no plan defines."""


@task(name="record", cache_policy=NO_CACHE)
def record(rt: Runtime, stages: tuple[str, ...]) -> tuple[int, set[str]]:
    """Decide what is due and write it to the ledger as pending (or held, with its document
    drafted and the draft's email to the secretariat recorded). Returns how many, and the
    tasks held back (no first request) while a rename is not declared."""
    held = held_back(rt.plan, orphans(list(rt.all_plans or (rt.plan,)), rt.ledger.history()))
    n = len(decide(rt.plan, rt.ledger, rt.cal, rt.today, stages, held))
    prepare_drafts(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.out, mail_domain(rt.plan),
                   rt.settings.accept_new_ledger)
    return n, held


@task(name="send", cache_policy=NO_CACHE)
async def send(rt: Runtime, stage: str, summary: Summary) -> Summary:
    """Build and send every unsent letter of one stage (a batch, not a task per unit)."""
    return await deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                         rt.settings.out, (stage,), rt.now, summary, accept_new=rt.settings.accept_new_ledger)


async def run_stages(rt: Runtime, stages: tuple[str, ...], send_stages: tuple[str, ...] | None = None) -> dict:
    """Record `stages`, then send stage by stage (`send_stages`, default the same) and the
    drafts waiting for the secretariat; raise DeliveryError (the flow fails) when the
    server could not be reached or refused the session, and RunIncomplete when some letter
    of this run was refused or left for later, after logging what was done."""
    log = logger()
    decided, held = step(record, rt, stages)
    summary = Summary(decided=decided)
    error = None
    for stage in ("draft", *(stages if send_stages is None else send_stages)):
        try:
            await step(send, rt, stage, summary)
        except DeliveryError as e:
            error = e
            break
    log.info("%s %s: %s", rt.plan.plan.id, rt.today.isoformat(), summary.as_dict())
    for key, why in summary.failures:
        log.warning("gửi thất bại %s: %s", key, why)
    for key, why in summary.deferred:
        log.warning("tạm chưa gửi được %s: %s", key, why)
    for key, why in summary.partial:
        log.warning("đã gửi %s nhưng có người nhận bị từ chối: %s", key, why)
    if error:
        raise error
    if problem := summary.problem():
        raise RunIncomplete(problem, summary.as_dict())
    if held:
        raise RenamePending(f"{rt.plan.plan.id}: chưa gửi đề nghị báo cáo cho nhiệm vụ {', '.join(sorted(held))}: "
                            "sổ cái còn lịch sử dưới mã không kế hoạch nào định nghĩa (xem `dondoc validate`)")
    return summary.as_dict()


async def each_plan(runtimes: list[Runtime], stages: tuple[str, ...],
                    send_stages: tuple[str, ...] | None = None) -> dict:
    """run_stages for every plan; a plan whose run is incomplete (a letter refused or left for
    later, a rename not declared) does not stop the others, and the flow still fails at the
    end, with every plan's reason. Returns the totals, and each plan's own under "plans"."""
    results, problems = {}, []
    for rt in runtimes:
        try:
            results[rt.plan.plan.id] = await run_stages(rt, stages, send_stages)
        except RunIncomplete as e:
            problems.append(str(e))
            results[rt.plan.plan.id] = e.summary or {}
    totals: dict = {}
    for r in results.values():   # numbers add up, lists (failures, stuck, …) join
        for k, v in r.items():
            totals[k] = totals.get(k, [] if isinstance(v, list) else 0) + v
    totals["plans"] = results
    if problems:
        raise RunIncomplete("; ".join(problems), totals)
    return totals
