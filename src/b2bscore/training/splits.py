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


def split_out_of_time(rows: pd.DataFrame, config: SplitConfig) -> OutOfTimeSplit:
    """Split labelled ``rows`` (with ``as_of`` and ``label_end``) by time.

    Boundaries are quantiles of ``as_of`` (so snapshot dates never straddle two parts).
    With ``config.purge``, training rows whose label window reaches past the start of the
    validation period are dropped: the fitted model has seen no outcome from the validation
    or test periods. (Validation labels may overlap the test period; they only choose the
    number of boosting rounds and fit the calibrator.)
    """
    if rows.empty:
        raise DataError("no labelled rows to split: the data's history is shorter than the label horizon")
    as_of = rows["as_of"]
    valid_start = as_of.quantile(1 - config.test_fraction - config.valid_fraction, interpolation="higher")
    test_start = as_of.quantile(1 - config.test_fraction, interpolation="higher")
    if not as_of.min() < valid_start < test_start:
        raise DataError(
            f"all {len(rows):,} labelled rows share too few as-of times ({as_of.nunique()}) for an out-of-time split "
            "into train, validation and test; provide a longer history"
        )
    part = np.where(as_of >= test_start, 2, np.where(as_of >= valid_start, 1, 0))
    keep = np.ones(len(rows), dtype=bool)
    if config.purge:
        keep &= ~((part == 0) & (rows["label_end"] > valid_start)).to_numpy()
    split = OutOfTimeSplit(
        train=np.flatnonzero((part == 0) & keep), valid=np.flatnonzero((part == 1) & keep), test=np.flatnonzero(part == 2),
        valid_start=pd.Timestamp(valid_start), test_start=pd.Timestamp(test_start), purged=int((~keep).sum()),
    )
    for name in ("train", "valid", "test"):
        if len(getattr(split, name)) == 0:
            raise DataError(
                f"the out-of-time split leaves no {name} rows (validation from {split.valid_start:%Y-%m-%d}, "
                f"test from {split.test_start:%Y-%m-%d}, {split.purged:,} rows purged because their label window "
                "reaches a later part); provide a longer history or set split.purge = false"
            )
    return split
