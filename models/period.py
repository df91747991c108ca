"""Reporting periods: what a task's `due:` schedule means, and the label of each cycle.

Pure: no clock, no I/O. A deadline falls inside the period it reports on (the 20th of a
quarter's last month closes that quarter), and each deadline opens one cycle whose key is the
period's label:

| schedule in the plan            | kind     | labels                       |
|---------------------------------|----------|------------------------------|
| `"05/12"`                       | year     | `2026`                       |
| `["15/06", "15/12"]`            | half     | `2026-H1`, `2026-H2`         |
| `["20/03", "20/06", …]` (four)  | quarter  | `2026-Q1` … `2026-Q4`        |
| `{every: quarter, day: 20}`     | quarter  | `2026-Q1` … (20/03, 20/06 …) |
| `{every: month, day: 5}`        | month    | `2026-01` … `2026-12`        |
| `"20/10/2026"`                  | once     | `2026-10-20`                 |
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["year", "half", "quarter", "month", "once"]
KINDS: tuple[Kind, ...] = ("year", "half", "quarter", "month", "once")
MONTHS = {"year": 12, "half": 6, "quarter": 3, "month": 1}
ROMAN = ("I", "II", "III", "IV")
LABEL = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]|\d{2})(?:-(\d{2}))?)?$")
LABEL_PATTERN = r"\d{4}(?:-(?:H[12]|Q[1-4]|\d{2}(?:-\d{2})?))?"


@dataclass(frozen=True, order=True)
class Period:
    """A span of time a report covers: `2026`, `2026-H1`, `2026-Q3`, `2026-10` or a one-off day."""
    start: dt.date
    end: dt.date          # inclusive
    kind: Kind
    label: str

    @property
    def year(self) -> int:
        return self.start.year

    def __str__(self) -> str:
        return self.label

    @property
    def text(self) -> str:
        """In Vietnamese, as a document says it: "quý III năm 2026", "6 tháng đầu năm 2026"."""
        y = self.start.year
        if self.kind == "year":
            return f"năm {y}"
        if self.kind == "half":
            return f"6 tháng {'đầu' if self.start.month == 1 else 'cuối'} năm {y}"
        if self.kind == "quarter":
            return f"quý {ROMAN[(self.start.month - 1) // 3]} năm {y}"
        if self.kind == "month":
            return f"tháng {self.start.month} năm {y}"
        return f"đợt ngày {self.start:%d/%m/%Y}"

    def contains(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end and self != other


def period_of(kind: Kind, day: dt.date) -> Period:
    """The period of `kind` that contains `day`."""
    y, m = day.year, day.month
    if kind == "once":
        return Period(day, day, "once", day.isoformat())
    span = MONTHS[kind]
    first = (m - 1) // span * span + 1
    last = first + span - 1
    start, end = dt.date(y, first, 1), dt.date(y, last, calendar.monthrange(y, last)[1])
    label = {"year": f"{y}", "half": f"{y}-H{(first + 5) // 6}", "quarter": f"{y}-Q{(first + 2) // 3}",
             "month": f"{y}-{first:02d}"}[kind]
    return Period(start, end, kind, label)


def parse_label(label: str) -> Period:
    """The period a label names; ValueError for anything else."""
    m = LABEL.match(label)
    if not m:
        raise ValueError(f"{label!r} không phải một kỳ báo cáo (2026, 2026-H1, 2026-Q3, 2026-10, 2026-10-20)")
    year, part, day = int(m[1]), m[2], m[3]
    if part is None:
        return period_of("year", dt.date(year, 1, 1))
    if day is not None:
        return period_of("once", dt.date(year, int(part), int(day)))
    if part[0] == "H":
        return period_of("half", dt.date(year, 6 * int(part[1]) - 5, 1))
    if part[0] == "Q":
        return period_of("quarter", dt.date(year, 3 * int(part[1]) - 2, 1))
    if not 1 <= int(part) <= 12:
        raise ValueError(f"{label!r}: không có tháng {part}")
    return period_of("month", dt.date(year, int(part), 1))


def _day_in(year: int, month: int, day: int) -> dt.date:
    """Day `day` of the month, or its last day when the month is shorter."""
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Schedule:
    """A task's deadlines. `days`: (day, month) pairs repeated every year; `once`: one date."""
    kind: Kind
    days: tuple[tuple[int, int], ...] = ()
    once: dt.date | None = None

    def deadlines(self, year: int) -> list[tuple[Period, dt.date]]:
        """Each (period, deadline) whose deadline falls in `year`, in date order."""
        if self.once is not None:
            return [(period_of("once", self.once), self.once)] if self.once.year == year else []
        out = [(period_of(self.kind, d), d) for d in (_day_in(year, m, day) for day, m in self.days)]
        return sorted(out, key=lambda p: p[1])


def parse_due(value: object) -> Schedule:
    """Read the `due:` field (already plain data: str, list or dict); ValueError with a
    message a clerk can act on."""
    if isinstance(value, str):
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value.strip()):
            try:
                return Schedule("once", once=dt.date(int(m[3]), int(m[2]), int(m[1])))
            except ValueError:
                raise ValueError(f"{value} không phải ngày có thật") from None
        return Schedule("year", (_day_month(value),))
    if isinstance(value, list):
        days = tuple(_day_month(v) for v in value)
        kinds: dict[int, Kind] = {1: "year", 2: "half", 4: "quarter", 12: "month"}
        kind = kinds.get(len(days))
        if kind is None:
            raise ValueError("danh sách hạn gồm 2 (nửa năm), 4 (quý) hoặc 12 (tháng) ngày")
        periods = {period_of(kind, dt.date(2023, mo, d)).label for d, mo in days}
        if len(periods) != len(days):
            raise ValueError(f"với {len(days)} ngày, mỗi ngày phải thuộc một "
                             f"{ {'half': 'nửa năm', 'quarter': 'quý', 'month': 'tháng'}.get(kind, 'năm') } khác nhau")
        return Schedule(kind, days)
    if isinstance(value, dict):
        every, day = value.get("every"), value.get("day")
        unknown = set(value) - {"every", "day", "month"}
        if unknown:
            raise ValueError(f"khóa {sorted(unknown)[0]!r} không dùng được (chỉ every, day, month)")
        names: dict[str, Kind] = {"year": "year", "half-year": "half", "quarter": "quarter", "month": "month"}
        if every not in names:
            raise ValueError("every: một trong year, half-year, quarter, month")
        kind = names[str(every)]
        if not (isinstance(day, str) and day.isdigit() and 1 <= int(day) <= 31):
            raise ValueError("day: ngày trong tháng, từ 1 đến 31")
        span = MONTHS[kind]
        month = value.get("month", str(span))
        if not (isinstance(month, str) and month.isdigit() and 1 <= int(month) <= span):
            raise ValueError(f"month: tháng thứ mấy của kỳ, từ 1 đến {span} (mặc định: tháng cuối kỳ)")
        return Schedule(kind, tuple((int(day), first + int(month) - 1) for first in range(1, 13, span)))
    raise ValueError('cần "DD/MM", "DD/MM/YYYY", một danh sách "DD/MM", hoặc {every: quarter, day: 20}')


def _day_month(value: object) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", str(value).strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"{value!r}: cần ngày và tháng dạng DD/MM, ví dụ 05/12")
    day, month = int(m[1]), int(m[2])
    try:
        dt.date(2023, month, day)  # a non-leap year: 29/02 does not exist every year
    except ValueError:
        raise ValueError(f"{value} không phải ngày có trong mọi năm") from None
    return day, month


def with_period(text: str, period: Period) -> str:
    """A plan string as a document prints it for `period`: `{year}` and `{period}` replaced."""
    return text.replace("{period}", period.text).replace("{year}", str(period.year))


def title_for(text: str, period: Period) -> str:
    """`text` followed by the period ("… năm 2026"), unless it already ends with it."""
    text = with_period(text, period)
    return text if text.rstrip(" .”\"").endswith(period.text) else f"{text} {period.text}"
