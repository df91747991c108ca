"""The business calendar: Vietnam's days off, swapped days, the plan's own days, working hours."""
from __future__ import annotations

import datetime as dt

import pytest

from models.calendar import BusinessCalendar
from models.plan import CalendarConfig

D = dt.date
CAL = BusinessCalendar()


@pytest.mark.parametrize("day,off", [
    (D(2026, 2, 13), False),   # Friday before Tết
    (D(2026, 2, 16), True),    # Giao thừa
    (D(2026, 2, 17), True),    # Mùng một Tết
    (D(2026, 2, 20), True),    # Mùng bốn
    (D(2026, 2, 23), False),   # back to work
    (D(2026, 4, 30), True),
    (D(2026, 5, 1), True),
    (D(2026, 9, 1), True),     # the extra day of 2/9
    (D(2026, 9, 2), True),
    (D(2026, 8, 31), True),    # swapped day off (worked on Saturday 22/8)
    (D(2026, 8, 22), False),   # that Saturday is a working day
    (D(2026, 11, 24), True),   # Ngày Văn hóa Việt Nam, a day off from 2026
    (D(2026, 11, 23), False),  # Ngày Di sản: an observance, not a day off
    (D(2026, 12, 5), True),    # Saturday: the seed plan's deadline
    (D(2026, 12, 6), True),    # Sunday
    (D(2026, 12, 7), False),
])
def test_days_off(day, off):
    assert CAL.is_working_day(day) is (not off)


def test_yaml_days_off_and_make_up_days():
    cal = BusinessCalendar(CalendarConfig(days_off=["07/12/2026"], working_days=["12/12/2026"]))
    assert not cal.is_working_day(D(2026, 12, 7))
    assert cal.day_off_name(D(2026, 12, 7)) == "Ngày nghỉ theo kế hoạch"
    assert cal.is_working_day(D(2026, 12, 12))  # a Saturday made a working day
    assert CAL.day_off_name(D(2026, 2, 17)) == "Tết Nguyên Đán"


def test_counting_working_days():
    # 24/11/2026 is a day off, so ten working days before Saturday 05/12 is Friday 20/11.
    assert CAL.add_working_days(D(2026, 12, 5), -10) == D(2026, 11, 20)
    assert CAL.add_working_days(D(2026, 12, 5), -1) == D(2026, 12, 4)
    assert CAL.add_working_days(D(2026, 12, 5), 5) == D(2026, 12, 11)
    assert CAL.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 23)  # across Tết
    assert CAL.previous_working_day(D(2026, 2, 20)) == D(2026, 2, 13)
    assert CAL.previous_working_day(D(2026, 12, 7)) == D(2026, 12, 7)


def test_working_hours_are_in_vietnam_time():
    utc = dt.UTC
    assert CAL.is_working_time(dt.datetime(2026, 12, 7, 1, 0, tzinfo=utc))       # 08:00 in Hà Nội
    assert not CAL.is_working_time(dt.datetime(2026, 12, 7, 0, 15, tzinfo=utc))   # 07:15
    assert not CAL.is_working_time(dt.datetime(2026, 12, 7, 10, 0, tzinfo=utc))   # 17:00
    assert not CAL.is_working_time(dt.datetime(2026, 12, 5, 3, 0, tzinfo=utc))    # Saturday
    late = BusinessCalendar(CalendarConfig(working_hours={"start": "08:00", "end": "11:30"}))
    assert not late.is_working_time(dt.datetime(2026, 12, 7, 0, 45, tzinfo=utc))  # 07:45
