"""Out-of-time splits: train on older as-of times, validate and test on the most recent ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.errors import DataError
from b2bscore.training.config import SplitConfig


@dataclass(frozen=True)
class OutOfTimeSplit:
    """Row positions of each part, with the boundaries that define them."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    valid_start: pd.Timestamp
    test_start: pd.Timestamp
    purged: int

    def describe(self) -> dict[str, object]:
        return {"valid_start": str(self.valid_start), "test_start": str(self.test_start), "purged_rows": self.purged,
                "train_rows": len(self.train), "valid_rows": len(self.valid), "test_rows": len(self.test)}


@dataclass(frozen=True)
class _Counts:
    """Rows, positives and negatives of each part for every pair of boundaries (valid_start i, test_start j)."""

    rows: np.ndarray  # (3, i, j)
    positives: np.ndarray
    purged: np.ndarray  # (i,) training rows purged at valid_start i


_GRID = 200  # candidate boundaries are at most this many quantiles of the as-of times (plus the configured ones)


def _candidates(as_of: pd.Series, config: SplitConfig) -> np.ndarray:
    """Boundaries to try: every distinct as-of time when there are few (monthly snapshots), else a quantile grid;
    always with the configured quantiles, so that an unconstrained split is exactly the configured one."""
    values = np.unique(as_of.to_numpy(dtype="datetime64[ns]"))
    if len(values) > _GRID:
        grid = as_of.quantile(np.linspace(0, 1, _GRID + 1), interpolation="higher").to_numpy(dtype="datetime64[ns]")
        values = np.unique(np.concatenate([grid, _configured(as_of, config)]))
    return values[values > values.min()]


def _configured(as_of: pd.Series, config: SplitConfig) -> np.ndarray:
    quantiles = [1 - config.test_fraction - config.valid_fraction, 1 - config.test_fraction]
    return as_of.quantile(quantiles, interpolation="higher").to_numpy(dtype="datetime64[ns]")


def _counts(rows: pd.DataFrame, bounds: np.ndarray, purge: bool) -> _Counts:
    as_of = np.sort(rows["as_of"].to_numpy(dtype="datetime64[ns]"))
    order = np.argsort(rows["as_of"].to_numpy(dtype="datetime64[ns]"), kind="stable")
    positive = (rows["label"].to_numpy()[order] > 0).astype(np.int64)
    cum_pos = np.concatenate([[0], np.cumsum(positive)])
    before = np.searchsorted(as_of, bounds, side="left")  # rows with as_of < bound
    total, total_pos = len(as_of), int(cum_pos[-1])
    if purge:  # a training row is kept when its label window closes by valid_start
        ends = rows["label_end"].to_numpy(dtype="datetime64[ns]")
        end_order = np.argsort(ends, kind="stable")
        end_pos = np.concatenate([[0], np.cumsum((rows["label"].to_numpy()[end_order] > 0).astype(np.int64))])
        known = np.searchsorted(ends[end_order], bounds, side="right")
        train_rows, train_pos = known, end_pos[known]
    else:
        train_rows, train_pos = before, cum_pos[before]
    a, b = before[:, None], before[None, :]
    rows_ = np.stack([np.broadcast_to(train_rows[:, None], (len(bounds), len(bounds))), b - a,
                      np.broadcast_to(total - b, (len(bounds), len(bounds)))])
    pos_ = np.stack([np.broadcast_to(train_pos[:, None], (len(bounds), len(bounds))), cum_pos[b] - cum_pos[a],
                     np.broadcast_to(total_pos - cum_pos[b], (len(bounds), len(bounds)))])
    return _Counts(rows=rows_, positives=pos_, purged=before - train_rows)


def split_out_of_time(rows: pd.DataFrame, config: SplitConfig, *, min_positives: int | None = None,
                      what: str = "labelled rows") -> OutOfTimeSplit:
    """Split labelled ``rows`` (with ``as_of``, ``label`` and ``label_end``) by time.

    Boundaries are as-of times (so snapshot dates never straddle two parts). With ``config.purge``, training rows
    whose label window reaches past the start of the validation period are dropped: the fitted model has seen no
    outcome from the validation or test periods. (Validation labels may overlap the test period; they only choose
    the number of boosting rounds, the candidate and the calibration.)

    The test period is the latest ``test_fraction`` of the rows, as configured, whenever that leaves a valid split.
    The validation period then starts where the parts' shares of the rows *left after purging* are as close as they
    can be to ``1 - valid - test``, ``valid_fraction`` and ``test_fraction`` while every part keeps at least
    ``min_positives`` positive and as many negative labels (classification; ``None``: at least one row). Without a
    purge and with enough labels that is (about) the configured quantiles; with one, the validation period starts
    later, by the rows the purge takes. When no placement works, a DataError says why: too few labels in all, the
    rows the purge takes, or positives too unevenly spread over time.
    """
    if rows.empty:
        raise DataError("no labelled rows to split: the data's history is shorter than the label horizon")
    bounds = _candidates(rows["as_of"], config)
    if len(bounds) < 2:
        raise DataError(
            f"all {len(rows):,} {what} share too few as-of times ({rows['as_of'].nunique()}) for an out-of-time split "
            "into train, validation and test; provide a longer history")
    counts = _counts(rows, bounds, config.purge)
    ok = _feasible(counts, min_positives)
    if not ok.any():
        raise DataError(_infeasible_message(rows, bounds, counts, config, min_positives, what))
    usable = counts.rows.sum(axis=0)
    target = np.array([1 - config.valid_fraction - config.test_fraction, config.valid_fraction, config.test_fraction])
    shares = counts.rows / np.maximum(usable, 1)
    deviation = np.abs(shares - target[:, None, None]).sum(axis=0)
    deviation[~ok] = np.inf
    configured_test = np.flatnonzero(bounds == _configured(rows["as_of"], config)[1])
    if len(configured_test) and ok[:, configured_test[0]].any():  # the test period stays the latest test_fraction
        deviation[:, np.arange(len(bounds)) != configured_test[0]] = np.inf
    i, j = np.unravel_index(np.argmin(deviation), deviation.shape)
    return _split_at(rows, pd.Timestamp(bounds[i]), pd.Timestamp(bounds[j]), config.purge)


def _feasible(counts: _Counts, min_positives: int | None) -> np.ndarray:
    i = np.arange(counts.rows.shape[1])
    ordered = i[:, None] < i[None, :]
    if min_positives is None:
        return ordered & (counts.rows > 0).all(axis=0)
    negatives = counts.rows - counts.positives
    return ordered & (counts.positives >= min_positives).all(axis=0) & (negatives >= min_positives).all(axis=0)


def _split_at(rows: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp, purge: bool) -> OutOfTimeSplit:
    as_of = rows["as_of"]
    part = np.where(as_of >= test_start, 2, np.where(as_of >= valid_start, 1, 0))
    keep = np.ones(len(rows), dtype=bool)
    if purge:
        keep &= ~((part == 0) & (rows["label_end"] > valid_start)).to_numpy()
    return OutOfTimeSplit(
        train=np.flatnonzero((part == 0) & keep), valid=np.flatnonzero((part == 1) & keep), test=np.flatnonzero(part == 2),
        valid_start=valid_start, test_start=test_start, purged=int((~keep).sum()),
    )


def _infeasible_message(rows: pd.DataFrame, bounds: np.ndarray, counts: _Counts, config: SplitConfig,
                        min_positives: int | None, what: str) -> str:
    positives = int((rows["label"] > 0).sum())
    first, last = rows["as_of"].min(), rows["as_of"].max()
    head = (f"the {len(rows):,} {what} (as of {first:%Y-%m-%d} to {last:%Y-%m-%d}"
            + (f", {positives:,} positive" if min_positives is not None else "") + ") cannot be split into train, "
            "validation and test periods")
    need = (f" with at least {min_positives} positive and {min_positives} negative labels in each"
            if min_positives is not None else "")
    if min_positives is not None and min(positives, len(rows) - positives) < 3 * min_positives:
        return (f"{head}{need}: there are too few {'positive' if positives < len(rows) - positives else 'negative'} "
                "labels in all. Provide a longer history (or lower min_positives of this model, which makes every "
                "figure noisier)")
    if config.purge and _feasible(_counts(rows, bounds, purge=False), min_positives).any():
        configured = _configured(rows["as_of"], config)
        at = int(np.searchsorted(bounds, configured[0]))
        purged = int(counts.purged[min(at, len(bounds) - 1)])
        horizon = (rows["label_end"] - rows["as_of"]).median().days
        return (f"{head}{need}: the purge takes too many training rows. A training row's outcome must be known before "
                f"the validation period starts, and with {horizon}-day outcome windows the purge removes {purged:,} of "
                "the training rows at the configured split. A shorter horizon (horizon_days of this model) or a "
                "longer history helps; split.purge = false would let the model learn from outcomes of the validation "
                "period")
    return (f"{head}{need}: the positive labels are too unevenly spread over time. Provide a longer history, or "
            "change split.valid_fraction / split.test_fraction")
