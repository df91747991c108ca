"""The `dispatch` flow: first requests and reminders, decided, recorded and sent.

Thin: reads the clock once (open_runtime), asks the rules, and calls the outbox. Prefect
tasks are coarse (one to record, one per stage to send) and never cached: the ledger, not
Prefect, knows what was sent, and the flow has no retries of its own.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow

from dondoc.runtime import open_runtime
from flows.common import run_stages

STAGES = ("request", "reminder")


@flow(name="dispatch", retries=0)
async def dispatch(today: dt.date | None = None) -> dict:
    """Send the first requests and reminders due on `today` (default: today in Asia/Ho_Chi_Minh)."""
    return await run_stages(open_runtime(today), STAGES)
