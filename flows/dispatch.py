"""The `dispatch` flow: first requests and reminders, decided, recorded and sent, for every plan.

Thin: reads the clock once (open_runtimes), asks the rules, and calls the outbox. Prefect
tasks are coarse (one to record, one per stage to send) and never cached: the ledger, not
Prefect, knows what was sent, and the flow has no retries of its own.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow

from dondoc.runtime import open_runtimes
from flows.common import each_plan, recorded

STAGES = ("request", "reminder")


@flow(name="dispatch", retries=0)
async def dispatch(today: dt.date | None = None, plans: list[str] | None = None) -> dict:
    """Send the first requests and reminders due on `today` (default: today in Asia/Ho_Chi_Minh),
    per plan (default: every plan)."""
    runtimes = open_runtimes(today, plans=plans)
    async with recorded("dispatch", runtimes):
        return await each_plan(runtimes, STAGES)
