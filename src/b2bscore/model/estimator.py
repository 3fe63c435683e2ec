"""The scoring model: declared features -> encoding -> LightGBM -> calibration, in one object.

``ScoringModel`` holds everything needed to go from a feature frame to a score, so that the
registered MLflow model (see ``b2bscore.model.pyfunc``) is self-sufficient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from b2bscore.features import FeatureConfig, feature_specs
from b2bscore.model.settings import LightGBMConfig

Task = Literal["classification", "regression"]
GRADES = ("A", "B", "C", "D")
GRADE_SHARES = (0.10, 0.20, 0.30)  # A: top 10% of the validation period, B: next 20%, C: next 30%, D: the rest


@dataclass(frozen=True)
class ModelInputs:
    """Which declared features the model reads, split by kind."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @classmethod
    def declared(cls, config: FeatureConfig, entity: str) -> ModelInputs:
        specs = [s for s in feature_specs(config, entity) if s.model_input]
        return cls(numeric=tuple(s.name for s in specs if s.dtype in ("float", "int", "bool")),
                   categorical=tuple(s.name for s in specs if s.dtype == "category"))


class ScoringModel:
    """LightGBM on point-in-time features, with early stopping and (for classifiers) calibration.

    Follows the scikit-learn habits: ``__init__`` stores settings, ``fit`` returns self,
    learned state ends in ``_``.
    """

    def __init__(self, *, task: Task, entity: str, feature_config: FeatureConfig, lgbm: LightGBMConfig,
                 calibration: Literal["isotonic", "sigmoid"] = "isotonic") -> None:
        self.task = task
        self.entity = entity
        self.feature_config = feature_config
        self.lgbm = lgbm
        self.calibration = calibration

    # -- encoding ---------------------------------------------------------------------
    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """Numeric features as float, categories as their fitted code (unseen or missing -> NaN)."""
        numeric = features[list(self.inputs_.numeric)].to_numpy(dtype=np.float64)
        codes = [
            pd.Categorical(features[name], categories=self.categories_[name]).codes.astype(np.float64)
            for name in self.inputs_.categorical
        ]
        matrix = np.column_stack([numeric, *codes]) if codes else numeric
        matrix[:, numeric.shape[1]:][matrix[:, numeric.shape[1]:] < 0] = np.nan
        return matrix

    # -- fitting ----------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, y_train: np.ndarray, valid: pd.DataFrame, y_valid: np.ndarray) -> ScoringModel:
        self.inputs_ = ModelInputs.declared(self.feature_config, self.entity)
        self.categories_ = {name: sorted(pd.unique(train[name].dropna())) for name in self.inputs_.categorical}
        x_train, x_valid = self._matrix(train), self._matrix(valid)
        objective = {"classification": "binary", "regression": "tweedie"}[self.task]
        params = {
            "objective": objective, "num_leaves": self.lgbm.num_leaves, "max_depth": self.lgbm.max_depth,
            "learning_rate": self.lgbm.learning_rate, "min_child_samples": self.lgbm.min_child_samples,
            "feature_fraction": self.lgbm.feature_fraction, "bagging_fraction": self.lgbm.bagging_fraction,
            "bagging_freq": 1, "lambda_l2": self.lgbm.lambda_l2, "num_threads": self.lgbm.num_threads,
            "seed": self.lgbm.seed, "deterministic": True, "verbosity": -1,
        }
        names = list(self.inputs_.names)
        categorical = list(self.inputs_.categorical)
        train_set = lgb.Dataset(x_train, label=y_train, feature_name=names, categorical_feature=categorical, free_raw_data=True)
        valid_set = lgb.Dataset(x_valid, label=y_valid, reference=train_set)
        self.booster_ = lgb.train(
            params, train_set, num_boost_round=self.lgbm.max_rounds, valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(self.lgbm.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.calibrator_ = None
        if self.task == "classification":
            raw = self._raw(x_valid)
            self.calibrator_ = _fit_calibrator(raw, y_valid, self.calibration)
            calibrated = self.calibrator_.transform(raw)
            self.grade_cuts_ = _grade_cuts(calibrated)
        return self

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        return self.booster_.predict(matrix, num_iteration=self.best_iteration_)

    # -- scoring ----------------------------------------------------------------------
    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability (classification) or expected value (regression)."""
        raw = self._raw(self._matrix(features))
        return self.calibrator_.transform(raw) if self.calibrator_ is not None else raw

    def grade(self, probability: np.ndarray) -> np.ndarray:
        """A-D: A is the top 10% of the validation period's scores, then 20%, 30% and the rest."""
        position = np.searchsorted(-np.asarray(self.grade_cuts_), -np.asarray(probability), side="left")
        return np.asarray(GRADES, dtype=object)[position]

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Exact per-feature contributions (SHAP values of the trees, in raw-score units) plus 'bias'."""
        values = self.booster_.predict(self._matrix(features), num_iteration=self.best_iteration_, pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.inputs_.names, "bias"], index=features.index)

    def feature_importance(self) -> pd.Series:
        gain = self.booster_.feature_importance(importance_type="gain", iteration=self.best_iteration_)
        return pd.Series(gain, index=list(self.inputs_.names)).sort_values(ascending=False)


class _Calibrator:
    """Maps raw model probabilities to calibrated ones (isotonic or Platt)."""

    def __init__(self, method: str, model) -> None:
        self.method = method
        self.model = model

    def transform(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.model.predict(raw)
        logit = np.log(np.clip(raw, 1e-9, 1 - 1e-9) / np.clip(1 - raw, 1e-9, None))
        return self.model.predict_proba(logit.reshape(-1, 1))[:, 1]


def _fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str) -> _Calibrator:
    if method == "isotonic":
        return _Calibrator(method, IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y))
    logit = np.log(np.clip(raw, 1e-9, 1 - 1e-9) / np.clip(1 - raw, 1e-9, None))
    return _Calibrator(method, LogisticRegression(C=1e6).fit(logit.reshape(-1, 1), y))


def _grade_cuts(probability: np.ndarray) -> tuple[float, ...]:
    cumulative = np.cumsum(GRADE_SHARES)
    return tuple(float(np.quantile(probability, 1 - share)) for share in cumulative)
