"""The calendar of a world: week grid, month starts and the drift date, as epoch seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

DAY = 86_400
WEEK = 7 * DAY
EXTRA_MONTHS = 13
"""Months simulated past the end so realised 180-/365-day outcomes exist for every as_of."""


def _epoch(d: date) -> int:
    return int((d - date(1970, 1, 1)).days) * DAY


def add_months(d: date, months: int) -> date:
    """First-of-month arithmetic without day overflow (keeps ``d.day`` when valid)."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, 1) if d.day == 1 else date(year, month + 1, min(d.day, 28))


@dataclass(frozen=True)
class Timeline:
    """Times are int64 seconds since 1970-01-01 (UTC); weeks start on Mondays.

    Weeks cover ``[week_starts[w], week_starts[w] + 7d)`` and may begin before ``start``;
    events outside ``[start, end)`` are dropped when tables are assembled. Month ``m`` starts
    at ``month_starts[m]``; the first month is the one containing ``start``.
    """

    start: date
    end: date
    months: int
    week_starts: np.ndarray
    month_starts: np.ndarray  # months + EXTRA_MONTHS + 1 entries
    drift_month: int

    @property
    def start_s(self) -> int:
        return _epoch(self.start)

    @property
    def end_s(self) -> int:
        return _epoch(self.end)

    @property
    def weeks(self) -> int:
        return len(self.week_starts)

    @property
    def drift_date(self) -> date:
        return date(1970, 1, 1) + timedelta(seconds=int(self.month_starts[self.drift_month]))

    @property
    def drift_s(self) -> int:
        return int(self.month_starts[self.drift_month])

    def month_of(self, seconds: np.ndarray) -> np.ndarray:
        """Index of the month containing each time (may exceed ``months`` past the end)."""
        return np.searchsorted(self.month_starts, seconds, side="right") - 1

    def week_month(self) -> np.ndarray:
        """Month index of each week's midpoint, clipped to the simulated months."""
        return np.clip(self.month_of(self.week_starts + WEEK // 2), 0, len(self.month_starts) - 1)


def build_timeline(start: date, months: int) -> Timeline:
    """Week and month grids for ``months`` months from ``start``; drift begins at 2/3 of the window."""
    end = add_months(start, months)
    first_month = date(start.year, start.month, 1)
    month_starts = np.array([_epoch(add_months(first_month, m)) for m in range(months + EXTRA_MONTHS + 1)],
                            dtype=np.int64)
    monday = start - timedelta(days=start.weekday())
    n_weeks = -(-(end - monday).days // 7)
    week_starts = _epoch(monday) + WEEK * np.arange(n_weeks, dtype=np.int64)
    return Timeline(start=start, end=end, months=months, week_starts=week_starts, month_starts=month_starts,
                    drift_month=int(round(months * 2 / 3)))
