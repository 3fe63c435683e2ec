"""The estimator's settings: LightGBM's hyper-parameters as a typed, frozen configuration, and the calibrations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Calibration = Literal["isotonic", "sigmoid"]
"""How a classifier's raw probabilities are calibrated on the validation period (see ``estimator._fit_calibrator``)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LightGBMConfig(_Frozen):
    """Defaults from ``training/tune_lightgbm.py`` (see BENCHMARKS.md): small trees with strong regularisation
    matched or beat larger ones on every out-of-time metric, and keep per-record reasons (``pred_contrib``) cheap."""

    num_leaves: int = Field(default=7, ge=2)
    max_depth: int = Field(default=4, ge=-1)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_rounds: int = Field(default=2000, ge=1)
    early_stopping_rounds: int = Field(default=100, ge=1)
    min_child_samples: int = Field(default=40, ge=1)
    feature_fraction: float = Field(default=0.5, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    lambda_l2: float = Field(default=5.0, ge=0)
    num_threads: int = Field(default=2, ge=1)
    seed: int = 7
