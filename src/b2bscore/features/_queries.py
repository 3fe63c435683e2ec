"""The rows features are computed for: an account and an as-of time each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.features._window import EventIndex, to_seconds


def index_codes(index: pd.Index, values: pd.Series | np.ndarray) -> np.ndarray:
    """``index.get_indexer(values)`` for a long column of repeated values: each distinct value is looked up once
    (hashing a few million ids once, not once per lookup, halves the cost; the codes are the same)."""
    values = np.asarray(values, dtype=object)
    if len(values) < 4 * len(index):
        return index.get_indexer(values)
    codes, distinct = pd.factorize(values)
    found = index.get_indexer(distinct)
    out = found[codes] if len(found) else np.full(len(codes), -1, dtype=np.intp)
    missing = codes < 0  # None / NaN: looked up as they are, as get_indexer would
    if missing.any():
        out[missing] = index.get_indexer(values[missing])
    return out


@dataclass(frozen=True)
class Queries:
    """One entry per output row: the account's row in ``accounts`` and its as-of time.

    ``account_ids`` is the accounts table's id column as an Index: event tables are
    mapped onto it, so every account in every table gets the same integer code.
    """

    account_ids: pd.Index
    account_rows: np.ndarray
    as_of: np.ndarray  # datetime64[ns]

    @property
    def seconds(self) -> np.ndarray:
        return to_seconds(self.as_of)

    def __len__(self) -> int:
        return len(self.account_rows)

    def codes(self, account_id: pd.Series | np.ndarray) -> np.ndarray:
        """Integer account codes of an event table's ``account_id`` column (-1: unknown)."""
        return index_codes(self.account_ids, account_id)

    def index_events(self, table: pd.DataFrame, time: pd.Series | np.ndarray, *, lookback_days: float | None) -> tuple[EventIndex, np.ndarray]:
        """Index the events that can reach some query: before the latest as-of, within the look-back.

        Returns the index and the positions (into ``table``) of the rows it covers; pass
        per-row arrays already restricted to those positions to the index's methods.
        """
        seconds = to_seconds(time)
        latest = self.seconds.max() if len(self) else 0
        keep = seconds < latest
        if lookback_days is not None and len(self):
            keep &= seconds >= self.seconds.min() - int(lookback_days * 86_400)
        positions = np.flatnonzero(keep)
        if len(positions) == len(table):
            codes = self.codes(table["account_id"])
        elif len(positions):
            codes = self.codes(table["account_id"].to_numpy(dtype=object)[positions])
        else:
            codes = np.empty(0, dtype=np.int64)
        times = np.asarray(time, dtype="datetime64[ns]")
        index = EventIndex(codes, times if len(positions) == len(table) else times[positions], origin=0)
        return index, positions

    def window(self, index: EventIndex, lookback_days: float | None):
        return index.window(self.account_rows, self.seconds, lookback_days)
