"""The business calendar: which days the Sở works, in Asia/Ho_Chi_Minh.

Pure: built from the plan's calendar section and the `holidays` package's tables for
Vietnam (Tết, Hùng Kings' day, 30/4, 1/5, 2/9 and their extra and swapped days).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from models.plan import CalendarConfig


def vietnam(**options) -> holidays.HolidayBase:
    """`holidays.VN(**options)`, without importing the module of every country the package knows
    (`holidays.countries` imports 300 modules: most of a read-only command's start-up). Loads
    Vietnam's module alone, under its usual name, unless it is already imported."""
    name = "holidays.countries.vietnam"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(holidays.__file__).parent / "countries" / "vietnam.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module.Vietnam(**options)


class BusinessCalendar:
    def __init__(self, config: CalendarConfig | None = None):
        config = config or CalendarConfig()
        self.tz = ZoneInfo(config.timezone)
        self.extra_days_off = frozenset(config.days_off)
        self.extra_working_days = frozenset(config.working_days)
        self.opens = config.working_hours.start
        self.closes = config.working_hours.end

    @cached_property
    def _vn(self) -> holidays.HolidayBase:
        return vietnam(language="vi")  # fills years lazily as they are asked for

    def day_off_name(self, day: dt.date) -> str | None:
        """The reason `day` is off, or None on a working day."""
        if day in self.extra_working_days:
            return None
        if day in self.extra_days_off:
            return "Ngày nghỉ theo kế hoạch"
        if name := self._vn.get(day):
            return name
        if day.weekday() >= 5 and day not in self._vn.weekend_workdays:
            return "Thứ Bảy" if day.weekday() == 5 else "Chủ nhật"
        return None

    def is_working_day(self, day: dt.date) -> bool:
        return self.day_off_name(day) is None

    def previous_working_day(self, day: dt.date) -> dt.date:
        """`day` itself when it is a working day, else the last working day before it."""
        while not self.is_working_day(day):
            day -= dt.timedelta(days=1)
        return day

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after `day` (n > 0) or before it (n < 0); `day` itself is not counted."""
        step = dt.timedelta(days=1 if n > 0 else -1)
        left = abs(n)
        while left:
            day += step
            if self.is_working_day(day):
                left -= 1
        return day

    def is_working_time(self, moment: dt.datetime) -> bool:
        """True within working hours of a working day, in the calendar's time zone."""
        local = moment.astimezone(self.tz)
        return self.is_working_day(local.date()) and self.opens <= local.time() < self.closes
