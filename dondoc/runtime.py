"""What every flow starts from: settings, the plans, the ledger, the calendars and the clock,
each read once at the entry and passed down. One `Runtime` per plan, sharing one ledger."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dondoc.plans import read_plan, read_plans
from dondoc.settings import Settings
from models.calendar import BusinessCalendar
from models.plan import Plan

__all__ = ["Runtime", "open_runtime", "open_runtimes", "read_plan"]

if TYPE_CHECKING:   # imported where used, so read-only commands load neither docxtpl nor the ledger
    from dondoc.ledger import Ledger
    from dondoc.render import Templates


@dataclass
class Runtime:
    """One plan's view of a run: the shared ledger and clock, the plan's calendar and templates."""
    settings: Settings
    plan: Plan
    ledger: Ledger
    cal: BusinessCalendar
    today: dt.date
    now: dt.datetime
    all_plans: tuple[Plan, ...] = ()    # every plan file's plan, selected or not (renames, routing)

    @cached_property
    def templates(self) -> Templates:
        from dondoc.render import Templates
        override = self.plan.templates and (self.settings.config.parent / self.plan.templates)
        return Templates(Path(override) if override else None)

    @property
    def mail_from(self) -> str:
        return self.settings.mail_from or self.plan.issuer.email


def open_runtimes(today: dt.date | None = None, settings: Settings | None = None,
                  plans: list[str] | None = None) -> list[Runtime]:
    """Read the settings, every plan (or those named) and the clock, once. With `today` other
    than the real day, the day is replayed as seen at the opening of working hours (letters
    are dated `today`)."""
    from dondoc.ledger import Ledger
    settings = settings or Settings()
    loaded = read_plans(settings.config)
    first = BusinessCalendar(loaded[0].calendar)
    now = dt.datetime.now(first.tz)
    if today is not None and today != now.date():
        now = dt.datetime.combine(today, first.opens, tzinfo=first.tz)
    ledger = Ledger(settings.db)
    if plans:
        read_plans(settings.config, plans)   # raises PlanInvalid for an unknown id
    return [Runtime(settings, plan, ledger, BusinessCalendar(plan.calendar), now.date(), now, tuple(loaded))
            for plan in loaded if not plans or plan.plan.id in plans]


def open_runtime(today: dt.date | None = None, settings: Settings | None = None) -> Runtime:
    """The default plan's runtime (the plan `DONDOC_CONFIG` names)."""
    return open_runtimes(today, settings)[0]
