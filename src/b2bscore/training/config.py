"""Typed configuration of the training jobs (one file, YAML or TOML, every field optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from b2bscore.config_io import load_model_file
from b2bscore.features.config import FeatureConfig
from b2bscore.model.settings import Calibration, LightGBMConfig
from b2bscore.model.tasks import TASK_NAMES, TASKS


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SplitConfig(_Frozen):
    """Out-of-time split: the most recent as-of times are the test set, the ones before validation.

    With ``purge`` (default), no training label window may reach into the validation
    period, so the fitted trees never saw an outcome from the validation or test periods.
    """

    valid_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    purge: bool = True


class ConversionConfig(_Frozen):
    """Does a lead reach a won opportunity within ``horizon_days`` of its creation?

    ``attribution="lead"`` counts only opportunities carrying the lead's id; ``"account"``
    counts any won opportunity of the lead's account created after the lead.
    """

    horizon_days: int = Field(default=90, ge=1)
    attribution: Literal["lead", "account"] = "lead"
    min_positives: int = Field(default=50, ge=1)
    lightgbm: dict[str, float] = Field(default_factory=dict, description="Overrides of the shared LightGBM settings "
                                       "for this model, e.g. {num_leaves: 31}.")


class PropensityConfig(_Frozen):
    """Does a prospect account -- one that has never won a deal nor paid -- win its first deal within
    ``horizon_days`` of a snapshot date?

    The account-level view tiers and call lists rank every prospect on, whether or not it has an open lead (a
    lead's own chance stays the conversion model's). *Winning* rather than opening a deal, because the call list
    multiplies this probability by what a won customer is worth. Snapshots every ``snapshot_months`` (3 by default:
    with a 90-day horizon an account's outcome windows then do not overlap)."""

    horizon_days: int = Field(default=90, ge=1)
    snapshot_months: int = Field(default=3, ge=1, description="Months between rolling snapshot dates.")
    min_positives: int = Field(default=30, ge=1)
    lightgbm: dict[str, float] = Field(default_factory=dict, description="Overrides of the shared LightGBM settings "
                                       "for this model, e.g. {num_leaves: 31}.")


class ChurnConfig(_Frozen):
    """Does a paying customer stop within the horizon?

    ``definition``: ``revenue_drop`` -- a subscriber's revenue in the ``customer_lookback_days`` after the horizon
    falls to ``drop_fraction`` of its level before the snapshot (a plan ended or shrank); ``silence`` -- a buyer
    without a contract places no order within the horizon (the observable side of a silent stop, which is what a
    buy-till-you-die model's P(alive) estimates); ``auto`` picks from the revenue table's billing pattern
    (:func:`b2bscore.training.labels.billing_pattern`): irregular orders -> ``silence``, a billing cycle ->
    ``revenue_drop``."""

    horizon_days: int = Field(default=180, ge=1)
    definition: Literal["auto", "revenue_drop", "silence"] = "auto"
    drop_fraction: float = Field(default=0.0, ge=0, lt=1)
    snapshot_months: int = Field(default=1, ge=1, description="Months between rolling snapshot dates.")
    min_positives: int = Field(default=30, ge=1)
    lightgbm: dict[str, float] = Field(default_factory=dict, description="Overrides of the shared LightGBM settings "
                                       "for this model, e.g. {num_leaves: 31}.")


class CltvConfig(_Frozen):
    """Revenue a customer brings in the next ``horizon_days``."""

    horizon_days: int = Field(default=365, ge=1)
    snapshot_months: int = Field(default=1, ge=1)
    min_rows: int = Field(default=200, ge=10)
    form: Literal["auto", "tweedie", "two_part"] = Field(
        default="auto", description="The model's form: one Tweedie LightGBM, or two parts -- P(any revenue in the "
        "horizon) x the revenue of those with some (gamma, from the buy-till-you-die expected revenue), scaled to "
        "the validation period's total; auto: two parts for buyers who order at will (when the buy-till-you-die "
        "features are built), Tweedie otherwise.")
    # revenue is multiplicative in size and plan: larger trees did better here (training/tune_lightgbm.py)
    lightgbm: dict[str, float] = Field(
        default_factory=lambda: {"num_leaves": 15, "max_depth": 6, "feature_fraction": 0.8, "lambda_l2": 1.0},
        description="Overrides of the shared LightGBM settings for this model.")


class BtydConfig(_Frozen):
    """The buy-till-you-die model of buyers who order at will: BG/NBD x Gamma-Gamma from PyMC-Marketing, fitted by
    MAP on the orders before each as-of time. It is the reference every churn and CLTV run on such buyers is
    reported beside, its outputs (and what it reads: repeat orders, recency, order values and gaps) are features
    of those models, and its expected revenue is the CLTV model's baseline candidate.

    ``use``: ``auto`` when the revenue table looks like orders placed at will (see
    :func:`b2bscore.training.labels.billing_pattern`), ``always``, or ``never``. ``refit_months``: months between
    fits over the labelled period (each row uses the latest fit on data before its as-of time; one more fit on the
    whole history serves scoring)."""

    use: Literal["auto", "always", "never"] = "auto"
    refit_months: int = Field(default=3, ge=1, description="Months between buy-till-you-die fits.")


class PromotionConfig(_Frozen):
    """Champion/challenger rule per model: the metric compared on the same test set, and the margin."""

    conversion_metric: str = TASKS["conversion"].primary_metric
    propensity_metric: str = TASKS["propensity"].primary_metric
    churn_metric: str = TASKS["churn"].primary_metric
    cltv_metric: str = TASKS["cltv"].primary_metric
    margin: float = Field(default=0.0, ge=0)
    auto_promote: bool = Field(default=True, description="Promote a winning challenger automatically (the first "
                               "model of a name always becomes champion).")


class CandidatesConfig(_Frozen):
    """The models a run fits and chooses from on the validation period (see ``b2bscore.training.candidates``)."""

    include: tuple[Literal["lightgbm", "baseline", "blend"], ...] = Field(
        default=("lightgbm", "baseline", "blend"), min_length=1,
        description="Candidates fitted in every run: LightGBM, the baseline (logistic regression for classifiers, the "
                    "revenue run-rate for CLTV), and blends of the two.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="How sure a candidate must be to rank better "
                              "than chance on the validation period (one-sided) to be registered.")


class LeakageConfig(_Frozen):
    """The single-feature leakage screen (classifiers): a feature that alone predicts the training labels almost
    perfectly is left out of the model, named in a warning and in the run's tags (see ``b2bscore.training.leakage``)."""

    enabled: bool = True
    max_auc: float = Field(default=0.95, gt=0.5, le=1, description="A feature whose ROC AUC alone reaches this (or "
                           "falls to 1 - this) is a leak.")
    max_agreement: float = Field(default=0.99, gt=0.5, le=1, description="A feature with a value that agrees with the "
                                 "label on this share of rows (balanced over the two classes) is a leak.")
    allow: tuple[str, ...] = Field(default=(), description="Features known before the outcome that the screen must "
                                   "not exclude, by feature name (e.g. custom_partner_code).")


class TrainConfig(_Frozen):
    features: FeatureConfig = FeatureConfig()
    split: SplitConfig = SplitConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    conversion: ConversionConfig = ConversionConfig()
    propensity: PropensityConfig = PropensityConfig()
    churn: ChurnConfig = ChurnConfig()
    cltv: CltvConfig = CltvConfig()
    calibration: Calibration = "isotonic"
    promotion: PromotionConfig = PromotionConfig()
    candidates: CandidatesConfig = CandidatesConfig()
    leakage: LeakageConfig = LeakageConfig()
    btyd: BtydConfig = BtydConfig()
    segment_columns: tuple[str, ...] = ("industry", "size_band", "region")
    history_days: int = Field(default=90, ge=0, description="History required before the first snapshot date.")
    baseline_max_rows: int = Field(default=200_000, ge=1000, description="Training rows the logistic baseline sees at most.")

    def lightgbm_for(self, task: str) -> LightGBMConfig:
        """The shared LightGBM settings with ``task``'s overrides applied."""
        overrides = getattr(self, task).lightgbm
        merged = {**self.lightgbm.model_dump(), **overrides}
        for name in ("num_leaves", "max_depth", "max_rounds", "early_stopping_rounds", "min_child_samples",
                     "num_threads", "seed"):
            if name in overrides:
                merged[name] = int(merged[name])
        return LightGBMConfig(**merged)

    @model_validator(mode="after")
    def _overrides_are_valid(self) -> TrainConfig:
        for task in TASK_NAMES:
            try:
                self.lightgbm_for(task)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"{task}.lightgbm overrides are not valid LightGBM settings ({problems})") from None
        return self


def load_train_config(path: Path | None) -> TrainConfig:
    return TrainConfig() if path is None else load_model_file(path, TrainConfig)
