"""Simple baselines fitted in the same run as every model, so each run shows its lift over them (they live in
:mod:`b2bscore.model.baseline`, since a run may register one; these are the training job's shorthands)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.model.baseline import LogisticBaseline, RunRateBaseline, logistic_pipeline
from b2bscore.model.estimator import ModelInputs

logistic_baseline = logistic_pipeline


def fit_logistic_baseline(inputs: ModelInputs, train: pd.DataFrame, y: np.ndarray, *, max_rows: int | None = None,
                          seed: int = 0) -> LogisticBaseline:
    return LogisticBaseline(inputs).fit(train, y, max_rows=max_rows, seed=seed)


def predict_logistic_baseline(baseline: LogisticBaseline, inputs: ModelInputs, features: pd.DataFrame) -> np.ndarray:
    return baseline.probability(features)


def run_rate_baseline(features: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """RFM run-rate: the last 90 days' revenue, extended over the horizon."""
    return RunRateBaseline(horizon_days).value(features)
