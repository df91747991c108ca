"""What every command and flow starts from: settings, the plan, the ledger, the calendar and
the clock, each read once at the entry and passed down."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dondoc.settings import Settings
from models.calendar import BusinessCalendar
from models.plan import Plan

if TYPE_CHECKING:   # imported where used, so read-only commands load neither docxtpl nor the ledger
    from dondoc.ledger import Ledger
    from dondoc.render import Templates


def read_plan(path: Path) -> Plan:
    """Load and validate the plan file, from the cache under var/cache when the file and the
    code are unchanged (raises models.loader.PlanInvalid, OSError)."""
    from dondoc.plancache import read_plan as cached
    return cached(path)


@dataclass
class Runtime:
    settings: Settings
    plan: Plan
    ledger: Ledger
    cal: BusinessCalendar
    today: dt.date
    now: dt.datetime

    @cached_property
    def templates(self) -> Templates:
        from dondoc.render import Templates
        override = self.plan.templates and (self.settings.config.parent / self.plan.templates)
        return Templates(Path(override) if override else None)

    @property
    def mail_from(self) -> str:
        return self.settings.mail_from or self.plan.issuer.email


def open_runtime(today: dt.date | None = None, settings: Settings | None = None) -> Runtime:
    """Read the settings, the plan and the clock. With `today` other than the real day, the
    day is replayed as seen at the opening of working hours (letters are dated `today`)."""
    from dondoc.ledger import Ledger
    settings = settings or Settings()
    plan = read_plan(settings.config)
    cal = BusinessCalendar(plan.calendar)
    now = dt.datetime.now(cal.tz)
    if today is not None and today != now.date():
        now = dt.datetime.combine(today, cal.opens, tzinfo=cal.tz)
    return Runtime(settings, plan, Ledger(settings.db), cal, now.date(), now)
