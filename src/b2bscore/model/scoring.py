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
    """Scores of already-built feature rows (keeps their keys and as-of)."""
    keys = [c for c in ("lead_id", "account_id", "as_of") if c in features.columns]
    out = features[keys].copy()
    prediction = model.predict(features)
    if model.task == "classification":
        out["probability"] = prediction
        out["score"] = np.rint(100 * prediction).astype(np.int64)
        out["grade"] = model.grade(prediction)
    else:
        out["value"] = prediction
    return out


def score(model: ScoringModel, data: Dataset, entities: pd.DataFrame | None = None,
          as_of: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the model's features for ``entities`` and score them; returns (scores, features)."""
    features = build_features(data, entities, as_of, entity=model.entity, config=model.feature_config)
    return score_features(model, features), features
