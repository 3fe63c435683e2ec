"""Simple baselines fitted in the same run as every model, so each run shows its lift over them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from b2bscore.model.estimator import ModelInputs


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def logistic_baseline(inputs: ModelInputs) -> Pipeline:
    """Logistic regression on the same features: log-scaled, standardised numbers and one-hot categories."""
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                            FunctionTransformer(_signed_log1p), StandardScaler())
    categorical = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False)
    columns = ColumnTransformer([("numeric", numeric, list(inputs.numeric)), ("categorical", categorical, list(inputs.categorical))])
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=2000, C=0.5))])


def fit_logistic_baseline(inputs: ModelInputs, train: pd.DataFrame, y: np.ndarray, *, max_rows: int | None = None,
                          seed: int = 0) -> Pipeline:
    """Fit on the training rows (a seeded random ``max_rows`` of them when there are more: a baseline
    needs no more, and it keeps the run's overhead small on large tables)."""
    if max_rows is not None and len(train) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(train), size=max_rows, replace=False))
        train, y = train.iloc[keep], np.asarray(y)[keep]
    frame = train[list(inputs.names)].copy()
    frame[list(inputs.numeric)] = frame[list(inputs.numeric)].astype(np.float64)
    return logistic_baseline(inputs).fit(frame, y)


def predict_logistic_baseline(pipeline: Pipeline, inputs: ModelInputs, features: pd.DataFrame) -> np.ndarray:
    frame = features[list(inputs.names)].copy()
    frame[list(inputs.numeric)] = frame[list(inputs.numeric)].astype(np.float64)
    return pipeline.predict_proba(frame)[:, 1]


def run_rate_baseline(features: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """RFM run-rate: the last 90 days' revenue, extended over the horizon."""
    return features["revenue_90d"].to_numpy(dtype=np.float64) * horizon_days / 90.0
