"""Until when an out-of-office reply says its writer is away. Pure."""
from __future__ import annotations

import datetime as dt
import re

_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})\s*[/.-]\s*(\d{1,2})(?:\s*[/.-]\s*(\d{4}|\d{2}))?(?!\d)")
_WORDS = re.compile(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})(?:\s+năm\s+(\d{4}))?", re.IGNORECASE)


def away_until(text: str, received_on: dt.date) -> dt.date | None:
    """The last date an out-of-office `text` names (`20/11`, `20/11/2026`, `20-11-26`,
    `ngày 20 tháng 11 năm 2026`): the day its writer is back by, at the latest. A date without
    a year is taken in the year it was received, or the next one when that would put it more
    than a month before the reply. None when the text names no date."""
    found = []
    for m in (*_NUMERIC.finditer(text), *_WORDS.finditer(text)):
        day, month, year = int(m[1]), int(m[2]), m[3]
        y = (int(year) + (2000 if len(year) == 2 else 0)) if year else received_on.year
        try:
            when = dt.date(y, month, day)
        except ValueError:
            continue
        if not year and when < received_on - dt.timedelta(days=31):
            when = when.replace(year=y + 1)
        found.append(when)
    return max(found, default=None)
