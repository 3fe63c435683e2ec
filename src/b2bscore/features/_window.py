"""Point-in-time window queries over event tables, vectorised.

Events are sorted once by (key, time). A query is a (key, as_of) pair and a look-back;
it sees the events of its key with ``as_of - lookback <= time < as_of`` -- strictly
before ``as_of``, so nothing at or after the as-of time can reach a feature. Queries
may each carry their own as-of time, which is what training sets need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Times are whole seconds since the epoch; the key occupies the bits above them.
_TIME_BITS = 34  # ~544 years of seconds
_TIME_SPAN = np.int64(1) << _TIME_BITS
_SECONDS_PER_DAY = 86_400.0
_SUM_SCALE = 1_000_000  # window sums are exact in millionths of the summed unit
_SUM_LIMIT = 1e12  # one value's bound in the sum (a window's total must stay below ~9.2e12 units)


def to_seconds(times: pd.Series | np.ndarray | pd.DatetimeIndex) -> np.ndarray:
    """Datetimes (tz-naive UTC) as int64 seconds since 1970; NaT becomes the minimum int64."""
    values = np.asarray(times, dtype="datetime64[ns]")
    # floor division of the nanoseconds, as numpy's datetime64[ns] -> [s] cast does, at a twentieth of its cost
    seconds = values.view(np.int64) // np.int64(1_000_000_000)
    seconds[np.isnat(values)] = np.iinfo(np.int64).min
    return seconds


def stable_argsort(keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``np.argsort(keys * 2**34 + times, kind="stable")`` for non-negative keys and times below 2**34, computed as
    a least-significant-digit radix sort in 16-bit digits (numpy sorts 16-bit integers by radix).

    A stable sort has one result, so this equals numpy's timsort of the composite exactly; the time digits are
    skipped when the times are already in order (event tables usually come sorted by time), leaving one or two
    passes over the keys.
    """
    keys, times = np.asarray(keys, dtype=np.int64), np.asarray(times, dtype=np.int64)
    if len(keys) < 2:
        return np.arange(len(keys))
    order: np.ndarray | None = None
    digits: list[tuple[np.ndarray, int]] = []
    if not bool((times[1:] >= times[:-1]).all()):
        low = int(times.min())
        digits.append((times - low, int(times.max()) - low))
    low = int(keys.min())
    digits.append((keys - low, int(keys.max()) - low))
    for values, span in digits:
        shift = 0
        while True:
            digit = ((values if order is None else values[order]) >> shift & 0xFFFF).astype(np.uint16)
            step = np.argsort(digit, kind="stable")
            order = step if order is None else order[step]
            shift += 16
            if span >> shift == 0:
                break
    return order


@dataclass(frozen=True)
class Window:
    """Per query: the slice ``order[lo:hi]`` of the sorted events inside its window."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return (self.hi - self.lo).astype(np.float64)


class EventIndex:
    """Events of one table sorted by (key, time), ready for window queries.

    ``keys`` are non-negative integer codes of the entity (e.g. account codes); events with
    a negative key (unknown entity) or no time are left out.
    """

    def __init__(self, keys: np.ndarray, times: pd.Series | np.ndarray, *, origin: int = 0) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        seconds = to_seconds(times)
        self.origin = origin
        valid = (keys >= 0) & (seconds != np.iinfo(np.int64).min)
        self.rows = np.flatnonzero(valid)
        clipped = np.clip(seconds[self.rows] - origin, 0, _TIME_SPAN - 1)
        # stable: events of the same key and second keep their table order, so ties (e.g. two topics with the same
        # surge) resolve the same way whichever other events are indexed with them
        order = stable_argsort(keys[self.rows], clipped)
        self.rows = self.rows[order]
        self.keys = keys[self.rows]
        self.composite = self.keys * _TIME_SPAN + clipped[order]
        self.seconds = seconds[self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def _position(self, q_keys: np.ndarray, q_seconds: np.ndarray) -> np.ndarray:
        offset = np.clip(q_seconds - self.origin, 0, _TIME_SPAN - 1)
        return np.searchsorted(self.composite, q_keys * _TIME_SPAN + offset, side="left")

    def window(self, q_keys: np.ndarray, q_seconds: np.ndarray, lookback_days: float | None) -> Window:
        """Events with ``as_of - lookback <= time < as_of`` (all history when lookback is None)."""
        q_keys = np.asarray(q_keys, dtype=np.int64)
        hi = self._position(q_keys, q_seconds)
        if lookback_days is None:
            lo = np.searchsorted(self.composite, q_keys * _TIME_SPAN, side="left")
        else:
            start = q_seconds - np.int64(round(lookback_days * _SECONDS_PER_DAY))
            lo = self._position(q_keys, start)
        return Window(lo=lo, hi=hi)

    def window_sum(self, values: np.ndarray, window: Window) -> np.ndarray:
        """Sum of ``values`` (aligned with the original event rows) over each window, exact to a millionth.

        A float running sum would make a window's sum depend on where the running sum started, i.e. on which other
        events are indexed with it (one account scored alone vs in a batch differed in the 13th digit). The sum is
        taken in integer millionths instead: int64 running sums may wrap around, their differences stay exact.
        """
        sorted_values = np.nan_to_num(np.asarray(values, dtype=np.float64)[self.rows], posinf=0.0, neginf=0.0)
        units = np.rint(np.clip(sorted_values, -_SUM_LIMIT, _SUM_LIMIT) * _SUM_SCALE).astype(np.int64)
        cumulative = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(units)])
        return (cumulative[window.hi] - cumulative[window.lo]) / _SUM_SCALE

    def last_seconds(self, window: Window) -> np.ndarray:
        """Time of the latest event in each window (float seconds; NaN when empty)."""
        out = np.full(len(window.hi), np.nan)
        has = window.hi > window.lo
        out[has] = self.seconds[window.hi[has] - 1]
        return out

    def first_seconds(self, window: Window) -> np.ndarray:
        """Time of the earliest event in each window (float seconds; NaN when empty)."""
        out = np.full(len(window.hi), np.nan)
        has = window.hi > window.lo
        out[has] = self.seconds[window.lo[has]]
        return out

    def pairs(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Expand windows into (query index, sorted position) pairs -- a range join.

        ``self.rows[position]`` is the event's row, ``self.seconds[position]`` its time.
        """
        sizes = window.hi - window.lo
        query = np.repeat(np.arange(len(sizes)), sizes)
        if len(query) == 0:
            return query, np.empty(0, dtype=np.int64)
        starts = np.repeat(window.lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        positions = starts + np.arange(len(query))
        return query, positions


def days_between(later_seconds: np.ndarray, earlier_seconds: np.ndarray) -> np.ndarray:
    return (np.asarray(later_seconds, dtype=np.float64) - earlier_seconds) / _SECONDS_PER_DAY
