"""The scoring model: declared features -> encoding -> LightGBM -> calibration, in one scikit-learn estimator.

``ScoringModel`` holds everything needed to go from a feature frame to a score, so that the
registered MLflow model (see ``b2bscore.model.pyfunc``) is self-sufficient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, get_args

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, TargetEncoder
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from b2bscore.errors import ConfigError
from b2bscore.features import FeatureConfig, feature_specs
from b2bscore.model.settings import Calibration, LightGBMConfig
from b2bscore.model.tasks import TASK_NAMES, TASKS, Entity, Kind, TaskName

TARGET_ENCODED_FROM = 32
"""A categorical input with more training categories than this (a customer's 500-value partner code) is target
encoded: each category becomes its smoothed label mean, cross-fitted on the training rows (scikit-learn's
``TargetEncoder``), so that rare categories shrink toward the overall rate instead of being memorised."""

GRADES = ("A", "B", "C", "D")
GRADE_LIFTS = (3.0, 1.5, 0.75)
"""A lead's grade is its calibrated probability against the base rate: A at least 3x the base rate, B at least
1.5x, C at least 0.75x (about average or better), D below. Fixed multiples, so a grade means the same in every run
and every release, and a grade can be empty when no lead is that likely."""
RISK_LEVELS = ("high", "medium", "low")
RISK_LIFTS = (2.0, 0.75)
"""A customer's churn risk level, the same way: high at least 2x the base rate, medium at least 0.75x, low below."""
MONOTONE_METHOD = "intermediate"
"""LightGBM's ``monotone_constraints_method`` for the declared directions. 'intermediate': 'advanced' made the
conversion model of a small (500-account) world miscalibrated in one industry of another world of the same process
(realised 22% vs predicted 12%, a false monitoring alert in tests/integration/test_monitoring_detection.py);
'intermediate' does not, and keeps every declared feature monotone."""
Form = Literal["auto", "tweedie", "two_part"]
_OPTIONS = {"task": get_args(Kind), "entity": get_args(Entity), "calibration": get_args(Calibration),
            "form": get_args(Form)}
OFFSET_COLUMN = "btyd_expected_revenue"
"""A two-part regressor's value model starts from the log of this input (the buy-till-you-die expected revenue of
the horizon, floored at 1) and learns its corrections."""
_TASK_OF_KIND = {("classification", "lead"): "conversion", ("classification", "account"): "churn",
                 ("regression", "account"): "cltv"}
"""The business task of a model not told its ``business_task`` (those fitted before it existed): the one task of its
kind and entity when it was fitted."""


@dataclass(frozen=True)
class ModelInputs:
    """Which declared features the model reads, split by kind, and how they become LightGBM's matrix."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    directions: tuple[int, ...] = ()
    """Per input of ``names``: +1 when the prediction may only rise with it, -1 when it may only fall, 0 free (the
    directions its feature spec declares for the task; empty: none, as in models fitted before they were declared)."""

    @property
    def names(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @property
    def constraints(self) -> list[int]:
        """``directions`` as LightGBM's ``monotone_constraints``, one per input (all 0 when none is declared)."""
        return list(self.directions) if self.directions else [0] * len(self.names)

    @classmethod
    def declared(cls, config: FeatureConfig, entity: str, task: str | None = None) -> ModelInputs:
        """The model inputs of ``entity`` and, given ``task``, the directions their specs declare for it."""
        specs = [s for s in feature_specs(config, entity) if s.model_input]
        numeric = [s for s in specs if s.dtype in ("float", "int", "bool")]
        categorical = [s for s in specs if s.dtype == "category"]
        sign = {"up": 1, "down": -1, None: 0}
        directions = tuple(sign[s.direction(task)] for s in numeric) + (0,) * len(categorical)
        return cls(numeric=tuple(s.name for s in numeric), categorical=tuple(s.name for s in categorical),
                   directions=directions if any(directions) else ())

    def categories(self, features: pd.DataFrame) -> dict[str, list]:
        """Each categorical input's values in ``features``, sorted (missing values left out)."""
        return {name: sorted(pd.unique(features[name].dropna())) for name in self.categorical}

    def encode(self, features: pd.DataFrame, categories: dict[str, list]) -> np.ndarray:
        """Numeric inputs as float, categorical ones as their code in ``categories`` (unseen or missing -> NaN)."""
        numeric = features[list(self.numeric)].to_numpy(dtype=np.float64)
        codes = [
            pd.Categorical(features[name], categories=categories[name]).codes.astype(np.float64)
            for name in self.categorical
        ]
        matrix = np.column_stack([numeric, *codes]) if codes else numeric
        matrix[:, numeric.shape[1]:][matrix[:, numeric.shape[1]:] < 0] = np.nan
        return matrix


def _is_classifier(model: ScoringModel) -> bool:
    return model.task == "classification"


class ScoringModel(BaseEstimator):
    """LightGBM on point-in-time features, with early stopping and (for classifiers) calibration.

    A scikit-learn estimator: ``__init__`` stores the settings, ``fit(X, y, eval_set=(X_valid, y_valid))`` returns
    self, learned state ends in ``_``. ``X`` is a frame of the declared features of ``entity`` (as built by
    ``b2bscore.features.build_features``), not an arbitrary array.

    One class serves both tasks, chosen by ``task``, rather than a classifier and a regressor class: the registered
    models, the scoring function and the monitoring all hold one type and call ``predict``, which returns the
    calibrated probability of the positive class for a classifier (not a class label, so scikit-learn's
    ``ClassifierMixin`` contract would not fit) and the expected value for a regressor. ``predict_proba`` exists
    only when ``task="classification"``.

    Learned: ``inputs_`` (the declared inputs, numeric and categorical), ``categories_`` (each categorical input's
    categories in the training rows), ``target_encoders_`` (the categorical inputs of more than
    ``TARGET_ENCODED_FROM`` categories, each with its fitted ``TargetEncoder``), ``booster_`` and ``best_iteration_`` (the LightGBM trees, cut where early
    stopping found the best validation score), ``calibrator_`` (classification: maps the booster's probability to a
    calibrated one; None for regression), ``base_rate_`` (classification: the validation period's positive rate),
    ``grade_cuts_`` (classification: the A/B/C probability cut-offs, ``GRADE_LIFTS`` x ``base_rate_``),
    ``medians_`` (each input with a declared direction: its median over the training rows, the typical value a
    reason compares with) and, derived from ``inputs_``, ``feature_names_in_`` and ``n_features_in_``.

    A regressor is one Tweedie LightGBM, or -- ``form="two_part"``, or ``"auto"`` when the buy-till-you-die
    expected revenue (``OFFSET_COLUMN``) is an input -- two (``two_part_``): ``occurrence_`` (binary: any revenue in
    the horizon; None when every row had some) times ``booster_`` (gamma, on the rows with revenue, from the log of
    ``OFFSET_COLUMN``), times ``level_`` (the validation period's actual over predicted total); see
    :meth:`_fit_two_part`.

    Grades mean the same in every run: a lead's grade is its calibrated probability against the base rate (A at
    least 3x, B at least 1.5x, C at least 0.75x, D below; :meth:`grade`), a customer's churn risk level the same
    way (high at least 2x, medium at least 0.75x, low below; :meth:`risk_level`). Models fitted before
    ``base_rate_`` was kept keep the cut-offs they were fitted with (``grade_cuts_``: the top 10% of their validation
    period's scores, the next 20% and the next 30%).

    ``business_task`` names the task of :data:`TASKS` the model predicts ('conversion', 'propensity', 'churn',
    'cltv'), which ``task`` and ``entity`` alone no longer tell apart (propensity and churn are both account
    classifiers); without it (None, and in models fitted before it existed) :attr:`task_name` is 'conversion' for
    a lead classifier, 'churn' for an account classifier and 'cltv' for a regressor.

    Features whose spec declares a direction for the model's task (:attr:`task_name`) are monotone in the model: the
    trees through LightGBM's ``monotone_constraints`` (method ``MONOTONE_METHOD``), the logistic baseline through
    sign-bounded coefficients (``b2bscore.model.baseline``), so a blend of them is monotone too.

    The trees alone are one candidate. :meth:`with_candidate` makes the model a blend of the trees with a baseline
    fitted on the same rows (``baseline_``, weighted ``1 - blend_weight_``; ``blend_weight_ = 0`` is the baseline
    alone), recalibrated on the validation period: the training job registers whichever candidate ranks the
    validation period best (``b2bscore.training.candidates``). ``candidate_`` names it.
    """

    business_task: TaskName | None = None  # the default of models pickled before the parameter existed
    form: Form = "auto"  # ditto

    def __init__(self, *, task: Kind, entity: Entity, feature_config: FeatureConfig, lgbm: LightGBMConfig,
                 calibration: Calibration = "isotonic", business_task: TaskName | None = None,
                 form: Form = "auto") -> None:
        self.task = task
        self.entity = entity
        self.feature_config = feature_config
        self.lgbm = lgbm
        self.calibration = calibration
        self.business_task = business_task
        self.form = form

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # LightGBM routes missing values; unseen categories become missing
        tags.input_tags.categorical = True
        return tags

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The declared features the model reads, in the order of its matrix (and of ``contributions``)."""
        return np.asarray(self.inputs_.names, dtype=object)

    @property
    def n_features_in_(self) -> int:
        return len(self.inputs_.names)

    @property
    def task_name(self) -> TaskName:
        """The business task the model predicts: ``business_task``, or the one of its kind and entity before
        ``business_task`` existed."""
        return self.business_task or _TASK_OF_KIND[(self.task, self.entity)]  # type: ignore[return-value]

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: np.ndarray, *, eval_set: tuple[pd.DataFrame, np.ndarray]) -> ScoringModel:
        """Fit on ``X`` and ``y`` (0/1 labels, or values for regression), stopping early on ``eval_set`` =
        (X_valid, y_valid), which also fits the calibration and the grade cut-offs: a later period than ``X``'s."""
        self._check_options()
        X_valid, y_valid = eval_set
        self.inputs_ = ModelInputs.declared(self.feature_config, self.entity, self.task_name)
        self.medians_ = {name: float(X[name].astype(np.float64).median())
                         for name, sign in zip(self.inputs_.names, self.inputs_.constraints) if sign}
        self.categories_ = self.inputs_.categories(X)
        self.target_encoders_ = {}
        x_train = self._fit_target_encoders(X, y)
        x_valid = self._matrix(X_valid)
        objective = {"classification": "binary", "regression": "tweedie"}[self.task]
        params = {
            "objective": objective, "num_leaves": self.lgbm.num_leaves, "max_depth": self.lgbm.max_depth,
            "learning_rate": self.lgbm.learning_rate, "min_child_samples": self.lgbm.min_child_samples,
            "feature_fraction": self.lgbm.feature_fraction, "bagging_fraction": self.lgbm.bagging_fraction,
            "bagging_freq": 1, "lambda_l2": self.lgbm.lambda_l2, "num_threads": self.lgbm.num_threads,
            "seed": self.lgbm.seed, "deterministic": True, "verbosity": -1,
        }
        if self.inputs_.directions:
            params |= {"monotone_constraints": self.inputs_.constraints, "monotone_constraints_method": MONOTONE_METHOD}
        names = list(self.inputs_.names)
        categorical = [name for name in self.inputs_.categorical if name not in self.target_encoders_]
        train_set = lgb.Dataset(x_train, label=y, feature_name=names, categorical_feature=categorical, free_raw_data=True)
        valid_set = lgb.Dataset(x_valid, label=y_valid, reference=train_set)
        self.occurrence_, self.level_ = None, 1.0
        self.two_part_ = self._wants_two_part()
        if self.two_part_:
            self._fit_two_part(params, x_train, y, x_valid, y_valid, names, categorical)
            return self
        self.booster_ = lgb.train(
            params, train_set, num_boost_round=self.lgbm.max_rounds, valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(self.lgbm.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.calibrator_ = None
        if self.task == "classification":
            self.calibrator_ = _fit_calibrator(self._raw(x_valid), y_valid, self.calibration)
            self._fit_grades(y_valid)
        return self

    def _wants_two_part(self) -> bool:
        """Whether to fit the regressor in two parts: ``form='two_part'``, or ``'auto'`` when the buy-till-you-die
        expected revenue is an input (buyers who order at will)."""
        if self.task != "regression":
            return False
        if self.form == "auto":
            return OFFSET_COLUMN in self.inputs_.names
        return self.form == "two_part"

    def _fit_two_part(self, params: dict, x_train: np.ndarray, y: np.ndarray, x_valid: np.ndarray,
                      y_valid: np.ndarray, names: list[str], categorical: list[str]) -> None:
        """Value = level x P(any revenue in the horizon) x E[revenue | some], the usual two-part model of zero-heavy,
        heavy-tailed revenue: a binary LightGBM for the first factor (whoever has stopped buying has none: the B2B
        signals see that better than an order history), a gamma LightGBM on the rows with revenue for the second,
        starting from the log of ``OFFSET_COLUMN`` when it is an input (so a customer's scale comes from its own
        history and the trees learn corrections), and ``level_``, the validation period's actual over predicted
        total: the horizon of the training rows can fall in another season than the latest ones."""
        stop = [lgb.early_stopping(self.lgbm.early_stopping_rounds, verbose=False)]
        some, some_valid = y > 0, y_valid > 0
        if 0 < some.mean() < 1 and 0 < some_valid.mean() < 1:
            occurs = lgb.Dataset(x_train, label=some.astype(np.float64), feature_name=names,
                                 categorical_feature=categorical, free_raw_data=True)
            self.occurrence_ = lgb.train(
                params | {"objective": "binary"}, occurs, num_boost_round=self.lgbm.max_rounds, callbacks=stop,
                valid_sets=[lgb.Dataset(x_valid, label=some_valid.astype(np.float64), reference=occurs)])
            self.occurrence_iteration_ = int(self.occurrence_.best_iteration or self.occurrence_.current_iteration())
        if some.sum() < 2 or some_valid.sum() < 1:
            raise ConfigError(f"a two-part revenue model needs rows with revenue in the training and validation "
                              f"periods ({int(some.sum())} and {int(some_valid.sum())} here); set form: tweedie")
        value = lgb.Dataset(x_train[some], label=y[some], init_score=self._offset(x_train[some]), feature_name=names,
                            categorical_feature=categorical, free_raw_data=True)
        value_valid = lgb.Dataset(x_valid[some_valid], label=y_valid[some_valid],
                                  init_score=self._offset(x_valid[some_valid]), reference=value)
        self.booster_ = lgb.train(params | {"objective": "gamma"}, value, num_boost_round=self.lgbm.max_rounds,
                                  valid_sets=[value_valid], callbacks=stop)
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.calibrator_ = None
        predicted = self._raw(x_valid).sum()
        self.level_ = float(y_valid.sum() / predicted) if predicted > 0 and y_valid.sum() > 0 else 1.0

    def _offset(self, matrix: np.ndarray) -> np.ndarray:
        """The value model's starting log-value per row: log of ``OFFSET_COLUMN`` floored at 1 (0 without it)."""
        if OFFSET_COLUMN not in self.inputs_.names:
            return np.zeros(len(matrix))
        column = matrix[:, self.inputs_.names.index(OFFSET_COLUMN)].astype(np.float64)
        return np.log(np.maximum(np.nan_to_num(column, nan=1.0), 1.0))

    def _log_occurrence(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The occurrence model's log-odds and its SHAP values (features and bias), or zeros without it."""
        if getattr(self, "occurrence_", None) is None:
            return np.full(len(matrix), np.inf), np.zeros((len(matrix), len(self.inputs_.names) + 1))
        shap = self.occurrence_.predict(matrix, num_iteration=self.occurrence_iteration_, pred_contrib=True)
        return shap.sum(axis=1), shap

    def _fit_grades(self, y_valid: np.ndarray) -> None:
        """The base rate of the validation period, the one the calibration is fitted on (so a lead as likely as
        the average one there has a probability of the base rate), and the grade cut-offs from it."""
        self.base_rate_ = float(np.mean(y_valid))
        self.grade_cuts_ = tuple(lift * self.base_rate_ for lift in GRADE_LIFTS)

    def _check_options(self) -> None:
        for name, valid in _OPTIONS.items():
            if getattr(self, name) not in valid:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r} for ScoringModel; "
                                  f"choose one of: {', '.join(valid)}")
        if self.business_task is None:
            return
        if self.business_task not in TASK_NAMES:
            raise ConfigError(f"unknown business_task {self.business_task!r} for ScoringModel; "
                              f"choose one of: {', '.join(TASK_NAMES)}")
        declared = TASKS[self.business_task]
        if (declared.kind, declared.entity) != (self.task, self.entity):
            raise ConfigError(f"business_task {self.business_task!r} is a {declared.kind} of {declared.entity}s, "
                              f"not a {self.task} of {self.entity}s")

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self.inputs_.encode(X, self.categories_)
        for name, encoder in getattr(self, "target_encoders_", {}).items():
            matrix[:, self.inputs_.names.index(name)] = encoder.transform(_category_column(X[name]))[:, 0]
        return matrix

    def _fit_target_encoders(self, X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        """The training matrix, with every many-valued categorical input target encoded out of fold (the encoder
        kept for later rows is fitted on all training rows)."""
        matrix = self.inputs_.encode(X, self.categories_)
        for name in self.inputs_.categorical:
            if len(self.categories_[name]) <= TARGET_ENCODED_FROM:
                continue
            encoder = TargetEncoder(target_type="binary" if self.task == "classification" else "continuous",
                                    cv=KFold(5, shuffle=True, random_state=self.lgbm.seed))
            matrix[:, self.inputs_.names.index(name)] = encoder.fit_transform(_category_column(X[name]), y)[:, 0]
            self.target_encoders_[name] = encoder
        return matrix

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        """The booster's output: the uncalibrated probability (classification) or the expected value (regression;
        a two-part regressor's level x P(some) x value)."""
        if not getattr(self, "two_part_", False):  # models fitted before two parts existed have none
            return self.booster_.predict(matrix, num_iteration=self.best_iteration_)
        margin = self.booster_.predict(matrix, num_iteration=self.best_iteration_, raw_score=True)
        log_odds = self._log_occurrence(matrix)[0] if getattr(self, "occurrence_", None) is not None else np.inf
        return self.level_ * _sigmoid(log_odds) * np.exp(margin + self._offset(matrix))

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        return self.calibrator_.predict_proba(raw.reshape(-1, 1))

    # -- candidates -------------------------------------------------------------------
    @property
    def candidate(self) -> str:
        """Which candidate the model is: 'lightgbm', 'baseline' or 'blend' (models before 0.3 are 'lightgbm')."""
        return getattr(self, "candidate_", "lightgbm")

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated score: probability (classification) or expected value (regression) of the candidate."""
        check_is_fitted(self)
        trees = self._raw(self._matrix(X))
        baseline = getattr(self, "baseline_", None)
        if baseline is None:
            return trees
        return combine_scores(self.task, trees, baseline_score(baseline, X), self.blend_weight_)

    def with_candidate(self, name: str, baseline, weight: float, *,
                       eval_set: tuple[pd.DataFrame, np.ndarray]) -> ScoringModel:
        """A copy of this fitted model that scores ``weight`` x the trees + ``(1 - weight)`` x ``baseline`` (log-odds
        for a classifier, values for a regressor), recalibrated and re-graded on ``eval_set`` (the validation period).
        ``weight = 1`` (or no baseline) keeps the trees alone."""
        check_is_fitted(self)
        model = copy.copy(self)
        model.candidate_ = name
        model.baseline_ = None if baseline is None or weight >= 1 else baseline
        model.blend_weight_ = 1.0 if model.baseline_ is None else float(weight)
        if model.task == "classification":
            X_valid, y_valid = eval_set
            model.calibrator_ = _fit_calibrator(model.raw_score(X_valid), y_valid, model.calibration)
            model._fit_grades(y_valid)
        return model

    # -- scoring ----------------------------------------------------------------------
    @available_if(_is_classifier)
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, one row per row of ``X``: columns (negative, positive)."""
        check_is_fitted(self)
        return self._calibrated(self.raw_score(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class (classification) or expected value (regression)."""
        check_is_fitted(self)
        if self.task == "classification":
            return self.predict_proba(X)[:, 1]
        return self.raw_score(X)

    def grade(self, probability: np.ndarray) -> np.ndarray:
        """A-D from calibrated probabilities: A at least ``GRADE_LIFTS[0]`` (3) x the base rate, B at least 1.5x,
        C at least 0.75x, D below (a model fitted before the base rate was kept: its validation quantiles)."""
        check_is_fitted(self)
        return _rate(probability, self.grade_cuts_, GRADES)

    def risk_level(self, probability: np.ndarray) -> np.ndarray:
        """'high', 'medium' or 'low' from calibrated probabilities of churn: high at least ``RISK_LIFTS[0]`` (2) x
        the base rate, medium at least 0.75x, low below. A model fitted before the base rate was kept: high is its
        grade A (top 10% of its validation period), medium B or C, low D."""
        check_is_fitted(self)
        base_rate = getattr(self, "base_rate_", None)
        if base_rate is None:
            cuts = (self.grade_cuts_[0], self.grade_cuts_[-1])
        else:
            cuts = tuple(lift * base_rate for lift in RISK_LIFTS)
        return _rate(probability, cuts, RISK_LEVELS)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact per-feature contributions plus 'bias'; a row's contributions add up to its uncalibrated raw score
        (log-odds for a classifier, the log of the expected value for a regressor).

        The trees' are their SHAP values (LightGBM's ``pred_contrib``), a linear baseline's its coefficients times
        the distance from the training mean; a blend of a classifier weighs the two like its log-odds. A regressor's
        blend ``V = w x trees + (1 - w) x run-rate`` gives the trees the share ``a = w x trees / V`` of their
        contributions and the run-rate's input (``revenue_90d``) the rest, ``log V - a x log(trees)``."""
        check_is_fitted(self)
        matrix = self._matrix(X)
        values = self.booster_.predict(matrix, num_iteration=self.best_iteration_, pred_contrib=True)
        if getattr(self, "two_part_", False):
            values = self._two_part_contributions(matrix, values)
        baseline = getattr(self, "baseline_", None)
        if baseline is not None:
            values = self._blend_contributions(values, baseline, X)
        return pd.DataFrame(values, columns=[*self.inputs_.names, "bias"], index=X.index)

    def _two_part_contributions(self, matrix: np.ndarray, value: np.ndarray) -> np.ndarray:
        """log(level x P(some) x value), feature by feature: the value trees' SHAP values, the offset on its input,
        and log P(some) = log sigmoid(m) spread over the occurrence trees' SHAP values in proportion (exact: with
        ``m0`` their bias, each gets ``(log sigmoid(m) - log sigmoid(m0)) / (m - m0)`` x its own, the bias keeps
        ``log sigmoid(m0)``; the factor is positive, so every sign is kept); ``log(level)`` joins the bias."""
        out = value.copy()
        if OFFSET_COLUMN in self.inputs_.names:
            out[:, self.inputs_.names.index(OFFSET_COLUMN)] += self._offset(matrix)
        if getattr(self, "occurrence_", None) is not None:
            m, shap = self._log_occurrence(matrix)
            m0 = shap[:, -1]
            step = m - m0
            near = np.abs(step) < 1e-9
            factor = np.where(near, _sigmoid(-m0), (_log_sigmoid(m) - _log_sigmoid(m0)) / np.where(near, 1.0, step))
            out[:, :-1] += factor[:, None] * shap[:, :-1]
            out[:, -1] += _log_sigmoid(m0)
        out[:, -1] += np.log(self.level_)
        return out

    def _blend_contributions(self, trees: np.ndarray, baseline, X: pd.DataFrame) -> np.ndarray:
        w = self.blend_weight_
        if self.task == "classification":
            return w * trees + (1 - w) * baseline.contributions(X)
        tree_value = np.exp(trees.sum(axis=1))
        value = np.maximum(combine_scores(self.task, tree_value, baseline_score(baseline, X), w), _TINY_VALUE)
        share = w * tree_value / value
        out = trees * share[:, None]
        out[:, self.inputs_.names.index(baseline.column)] += np.log(value) - share * np.log(tree_value)
        return out

    def feature_importance(self) -> pd.Series:
        """Total gain of each input over the trees used, largest first."""
        check_is_fitted(self)
        gain = self.booster_.feature_importance(importance_type="gain", iteration=self.best_iteration_)
        if getattr(self, "occurrence_", None) is not None:  # a two-part regressor: both models' trees
            gain = gain + self.occurrence_.feature_importance(importance_type="gain",
                                                              iteration=self.occurrence_iteration_)
        return pd.Series(gain, index=list(self.inputs_.names)).sort_values(ascending=False)


def _category_column(values: pd.Series) -> np.ndarray:
    """One categorical input as the one-column object array ``TargetEncoder`` reads (missing as NaN)."""
    column = values.astype(object).to_numpy()
    column[pd.isna(column)] = np.nan
    return column.reshape(-1, 1)


_TINY_VALUE = 1e-9  # a regressor's expected value is floored here before its log is taken (a run-rate can be 0)


def baseline_score(baseline, X: pd.DataFrame) -> np.ndarray:
    """A baseline's uncalibrated score: probability (classification) or value (regression)."""
    return baseline.probability(X) if baseline.kind == "classification" else baseline.value(X)


def combine_scores(task: str, trees: np.ndarray, baseline: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` x the trees' score + ``(1 - weight)`` x the baseline's: on log-odds for probabilities (so a blend
    of calibrated-looking scores stays a probability), on values for a regressor."""
    if weight >= 1:
        return trees
    if task == "classification":
        if weight <= 0:
            return baseline
        margin = weight * _logit(trees) + (1 - weight) * _logit(baseline)
        return 1.0 / (1.0 + np.exp(-margin))
    return weight * trees + (1 - weight) * baseline


# -- calibration ----------------------------------------------------------------------
# ``calibrator_`` maps the booster's raw probability, as one column, to calibrated (negative, positive) probabilities.

class _RawProbability(ClassifierMixin, BaseEstimator):
    """The fitted booster's uncalibrated probability, read from the one column it is given: the already fitted
    classifier that ``CalibratedClassifierCV`` calibrates, frozen (``fit`` only records the classes)."""

    def fit(self, raw: np.ndarray, y: np.ndarray) -> _RawProbability:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, raw: np.ndarray) -> np.ndarray:
        return np.column_stack([1 - raw[:, 0], raw[:, 0]])

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self.classes_[(raw[:, 0] > 0.5).astype(int)]


def _sigmoid(margin) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(margin, dtype=np.float64)))


def _log_sigmoid(margin: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -margin)


def _logit(raw: np.ndarray) -> np.ndarray:
    return np.log(np.clip(raw, 1e-9, 1 - 1e-9) / np.clip(1 - raw, 1e-9, None))


def _fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Calibration):
    """A fitted classifier of the raw probability column: isotonic regression through scikit-learn's
    ``CalibratedClassifierCV``, or Platt scaling on the logit of the raw probability.

    Platt scaling stays ours, to keep the scores of ``calibration="sigmoid"`` models as they were: scikit-learn's
    ``method="sigmoid"`` fits the sigmoid on the raw probability itself, not on its logit, which on generated worlds
    moved scores by up to 0.2 and calibrated worse more often than not (a sigmoid of the logit is exact when the
    booster's log-odds are off by a scale and a shift, a sigmoid of the probability is not); given the logit, it
    still moves them by up to 0.01 (it fits Platt's smoothed targets rather than the 0/1 labels).
    """
    column = raw.reshape(-1, 1)
    if method == "isotonic":
        # frozen, the classifier is not refitted per fold: the folds only split its predictions, and every row
        # calibrates one IsotonicRegression(out_of_bounds="clip"), as b2bscore 0.1 fitted it
        frozen = FrozenEstimator(_RawProbability().fit(column, y))
        calibrator = CalibratedClassifierCV(frozen, method="isotonic").fit(column, y)
    else:
        calibrator = make_pipeline(FunctionTransformer(_logit), LogisticRegression(C=1e6)).fit(column, y)
    return _Bounded.around(calibrator, column, method)


class _Bounded:
    """A calibrator whose probabilities stay strictly inside (0, 1): isotonic regression gives the lowest raw scores
    the rate of the bottom block of the validation period, which is exactly 0 when none of its rows converted (and
    the top block 1 when all did) -- no lead has no chance, and a rep reads 0 as "never call". An end block at 0
    of ``n`` rows gets Jeffreys' posterior mean ``0.5 / (n + 1)`` instead (1 of ``n``: ``1 - 0.5 / (n + 1)``), or
    half the lowest probability above it when that is smaller, so that it stays below every other one; every other
    probability is unchanged (a clip: the order of the scores is kept). A Platt sigmoid reaches 0 or 1
    only by rounding, far in its tails: it is kept inside ``0.5 / (N + 1)`` of them, ``N`` the validation rows."""

    def __init__(self, calibrator, low: float, high: float) -> None:
        self.calibrator = calibrator
        self.low = low
        self.high = high

    @classmethod
    def around(cls, calibrator, column: np.ndarray, method: Calibration) -> _Bounded:
        """Bounds from the validation period's own calibrated probabilities (``column``: its raw scores)."""
        fitted = calibrator.predict_proba(column)[:, 1]
        if method != "isotonic":
            edge = 0.5 / (len(fitted) + 1)
            return cls(calibrator, edge, 1 - edge)
        lowest, highest = float(fitted.min()), float(fitted.max())
        low, high = lowest, highest
        if lowest <= 0:  # Jeffreys, but strictly below every probability above it: nothing else moves
            above = fitted[fitted > 0]
            low = min(0.5 / (int((fitted <= 0).sum()) + 1), 0.5 * float(above.min()) if len(above) else 0.5)
        if highest >= 1:
            below = fitted[fitted < 1]
            high = max(1 - 0.5 / (int((fitted >= 1).sum()) + 1), 1 - 0.5 * (1 - float(below.max())) if len(below)
                       else 0.5)
        return cls(calibrator, low, high)

    def predict_proba(self, raw: np.ndarray) -> np.ndarray:
        probability = np.clip(self.calibrator.predict_proba(raw)[:, 1], self.low, self.high)
        return np.column_stack([1 - probability, probability])


class _Calibrator:
    """The calibrator of models registered by b2bscore 0.1 (their pickles hold it); new models hold a scikit-learn
    calibrator (see ``_fit_calibrator``) with the same ``predict_proba``."""

    def __init__(self, method: str, model) -> None:
        self.method = method
        self.model = model

    def transform(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.model.predict(raw)
        return self.model.predict_proba(_logit(raw).reshape(-1, 1))[:, 1]

    def predict_proba(self, raw: np.ndarray) -> np.ndarray:
        probability = self.transform(raw[:, 0])
        return np.column_stack([1 - probability, probability])


def _rate(probability: np.ndarray, cuts: tuple[float, ...], labels: tuple[str, ...]) -> np.ndarray:
    """``labels[k]`` for a probability at least ``cuts[k]`` (cuts descending), the last label below them all."""
    position = np.searchsorted(-np.asarray(cuts, dtype=np.float64), -np.asarray(probability), side="left")
    return np.asarray(labels, dtype=object)[position]
