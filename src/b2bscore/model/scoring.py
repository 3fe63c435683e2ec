"""The one scoring function: raw data -> point-in-time features -> model -> scores.

Used by training (evaluation), by the registered MLflow model, by batch scoring and by the
service, so that none of them can compute a score differently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.features import build_features
from b2bscore.model.estimator import ScoringModel


def score_features(model: ScoringModel, features: pd.DataFrame) -> pd.DataFrame:
    """Scores of already-built feature rows (keeps their keys and as-of).

    A classifier's rows hold its calibrated ``probability``, the 0-100 ``score`` and how it compares with the base
    rate: a lead's ``grade`` (A-D, A the best), a customer's churn ``risk_level`` (high, medium, low)."""
    keys = [c for c in ("lead_id", "account_id", "as_of") if c in features.columns]
    out = features[keys].copy()
    prediction = model.predict(features)
    if model.task == "classification":
        out["probability"] = prediction
        out["score"] = shown_score(prediction)
        if model.task_name == "churn":
            out["risk_level"] = model.risk_level(prediction)
        else:
            out["grade"] = model.grade(prediction)
    else:
        out["value"] = prediction
    return out


def score(model: ScoringModel, data: Dataset, entities: pd.DataFrame | None = None,
          as_of: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the model's features for ``entities`` and score them; returns (scores, features)."""
    features = build_features(data, entities, as_of, entity=model.entity, config=model.feature_config)
    return score_features(model, features), features


class FeatureCache:
    """Features of the same entities for several models (churn and CLTV score the same accounts): built once per
    distinct feature configuration. Each model may have resolved the customer's own columns on its own training
    period; configurations that differ only in the features they keep out of the model (``excluded``) build the
    same frame."""

    def __init__(self, data: Dataset, entities: pd.DataFrame | None = None, as_of: pd.Timestamp | None = None, *,
                 entity: str) -> None:
        self.data, self.entities, self.as_of, self.entity = data, entities, as_of, entity
        self._built: list[tuple[object, pd.DataFrame]] = []

    def features(self, config) -> pd.DataFrame:
        key = config.model_copy(update={"excluded": ()}) if "excluded" in type(config).model_fields else config
        for known, frame in self._built:
            if known == key:
                return frame
        frame = build_features(self.data, self.entities, self.as_of, entity=self.entity, config=config)
        self._built.append((key, frame))
        return frame


def prospect_mask(features: pd.DataFrame) -> np.ndarray:
    """Accounts that have never bought: no won deal and no invoice so far (the propensity model's population)."""
    return ((features["won_deals"].to_numpy(dtype=np.float64) == 0) & ~features["is_customer"].to_numpy(dtype=bool)
            & features["customer_tenure_days"].isna().to_numpy())


def shown_score(probability) -> np.ndarray:
    """The 0-100 score of a probability: its percentage, rounded, except that a chance strictly between 0 and 1 is
    never scored 0 or 100 (at least 1, at most 99) -- like :func:`shown_probability`, a score of 0 reads as "no
    chance"."""
    p = np.asarray(probability, dtype=np.float64)
    score = np.rint(100 * p)
    score = np.where((p > 0) & (p < 1), np.clip(score, 1, 99), score)
    return score.astype(np.int64)


def shown_probability(values) -> np.ndarray:
    """Probabilities as the CSV files show them: to 3 decimals, except that a probability strictly between 0 and 1
    is never shown as 0 or 1 (a rep reads 0.000 as "no chance"): where 3 decimals would, it gets a 4th, and at least
    0.0001 (at most 0.9999) -- plain decimals a CRM imports, never scientific notation. Missing stays missing."""
    p = np.asarray(values, dtype=np.float64)
    shown = np.round(p, 3)
    low = (p > 0) & (shown <= 0)
    high = (p < 1) & (shown >= 1)
    shown[low] = np.maximum(np.round(p[low], 4), 0.0001)
    shown[high] = np.minimum(np.round(p[high], 4), 0.9999)
    return shown
