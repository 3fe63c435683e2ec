"""The statistics behind a check: Evidently's drift tests per column, and realised-vs-predicted figures
with their standard errors (so that a small segment's noise is not read as a change).

Pure functions on arrays and series; nothing here knows about models, files or segments.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, spearmanr
from sklearn.metrics import roc_auc_score

from b2bscore.monitoring.config import DriftTestConfig

NUMERIC = "numeric"
CATEGORICAL = "categorical"
RATIO_PRIOR = 100.0
"""Pseudo-rows (at the segment's mean prediction, realised as predicted) added to a segment's reference ratio."""


@dataclass(frozen=True)
class ColumnDrift:
    """One column compared between reference and current rows.

    ``amount`` is Evidently's drift amount (``amount_method``), ``p_value`` its significance test's;
    ``drifted`` when the amount reaches ``threshold`` and ``p_value`` is below the configured level.
    """

    column: str
    kind: str
    amount_method: str
    amount: float
    threshold: float
    test_method: str
    p_value: float
    drifted: bool
    reference_rows: int
    current_rows: int

    @property
    def severity(self) -> float:
        """The amount in multiples of its threshold (1.0 = just drifted)."""
        return self.amount / self.threshold

    def to_dict(self) -> dict[str, object]:
        return {"column": self.column, "kind": self.kind, "method": self.amount_method, "amount": _round(self.amount),
                "threshold": self.threshold, "test": self.test_method, "p_value": _round(self.p_value, 6),
                "drifted": self.drifted, "reference_rows": self.reference_rows, "current_rows": self.current_rows}


def _round(value: float, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _clean(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.replace([np.inf, -np.inf], np.nan).dropna()
    return values.dropna()


def _constant(values: pd.Series) -> bool:
    array = values.to_numpy()
    return bool((array == array[0]).all())


def column_kind(reference: pd.Series, current: pd.Series, *, categorical: bool, max_categories: int) -> str:
    """Categorical when declared so, boolean, or numeric with at most ``max_categories`` distinct values."""
    if categorical or pd.api.types.is_bool_dtype(reference) or not pd.api.types.is_numeric_dtype(reference):
        return CATEGORICAL
    distinct = pd.concat([reference, current], ignore_index=True).nunique()
    return CATEGORICAL if distinct <= max_categories else NUMERIC


def column_drift(column: str, reference: pd.Series, current: pd.Series, *, categorical: bool, config: DriftTestConfig,
                 test_reference: pd.Series | None = None, test_current: pd.Series | None = None,
                 kind: str | None = None) -> ColumnDrift | None:
    """Compare one column with Evidently's stat tests; None when either side has no value to compare.

    ``kind`` (numeric or categorical) is decided from the data when not given; a check decides it once on the
    whole population so that a column is tested the same way in every segment.

    The amount is measured on every row; the significance test on ``test_reference`` / ``test_current`` when
    given (one row per account: rows of one account share its features, so they are not independent evidence).
    """
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    reference, current = _clean(reference), _clean(current)
    if reference.empty or current.empty:
        return None
    test_reference = reference if test_reference is None else _clean(test_reference)
    test_current = current if test_current is None else _clean(test_current)
    if test_reference.empty or test_current.empty:
        return None
    kind = kind or column_kind(reference, current, categorical=categorical, max_categories=config.max_categories)
    if kind == CATEGORICAL:
        reference, current = reference.astype(str), current.astype(str)
        test_reference, test_current = test_reference.astype(str), test_current.astype(str)
        column_type = ColumnType.Categorical
        amount_name, threshold = config.categorical_amount, config.categorical_threshold
        distinct = pd.concat([test_reference, test_current], ignore_index=True).nunique()
        test_name = config.categorical_test if distinct > 2 or config.categorical_test != "chisquare" else "z"
    else:
        reference, current = reference.astype(np.float64), current.astype(np.float64)
        test_reference, test_current = test_reference.astype(np.float64), test_current.astype(np.float64)
        column_type = ColumnType.Numerical
        amount_name, threshold, test_name = config.numeric_amount, config.numeric_threshold, config.numeric_test
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        amount = get_registered_stattest(amount_name, column_type)(reference, current, column_type, threshold)
    if _constant(test_reference) and _constant(test_current) and test_reference.iloc[0] == test_current.iloc[0]:
        return ColumnDrift(column=column, kind=kind, amount_method=amount_name, amount=float(amount.drift_score),
                           threshold=threshold, test_method=test_name, p_value=1.0, drifted=False,
                           reference_rows=len(reference), current_rows=len(current))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a category absent from one side: chi-square says p = 0
        if test_name == "ks":
            # Evidently's KS asks scipy for the exact p-value up to 10,000 rows a side, which costs O(n x m) and
            # dominated a check; the asymptotic one is as good from the minimum segment size up
            p_value = float(ks_2samp(test_reference.to_numpy(), test_current.to_numpy(), method="asymp").pvalue)
        else:
            test = get_registered_stattest(test_name, column_type)(test_reference, test_current, column_type,
                                                                   config.p_value)
            p_value = float(test.drift_score)
    value = float(amount.drift_score)
    if not math.isfinite(p_value):  # e.g. a constant column on both sides
        p_value = 1.0
    return ColumnDrift(column=column, kind=kind, amount_method=amount_name, amount=value, threshold=threshold,
                       test_method=test_name, p_value=p_value, drifted=bool(value >= threshold and p_value < config.p_value),
                       reference_rows=len(reference), current_rows=len(current))


@dataclass(frozen=True)
class SegmentShare:
    """The segment's share of the accounts scored, then and now; ``factor`` = the larger of now/then and then/now;
    ``z`` = the change over its standard error, the larger of the two-proportion test's and the share's own
    variation between reference windows as long as the current one (``window_sd``, when there are enough)."""

    reference: float
    current: float
    factor: float
    z: float
    window_sd: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"reference": _round(self.reference), "current": _round(self.current), "factor": _round(self.factor, 2),
                "z": _round(self.z, 2), "window_sd": None if self.window_sd is None else _round(self.window_sd)}


def segment_share(reference_count: int, reference_total: int, current_count: int, current_total: int, *,
                  window_shares: np.ndarray | None = None) -> SegmentShare:
    """``window_shares``: the segment's share in each reference window as long as the current one (used when there
    are at least 3): the reference share is then their mean -- an account with many leads over the whole reference
    has a lead from more sources than in one window -- and a share that swings from one window to the next (leads
    come in bursts) needs a larger change to count."""
    then, now = reference_count / reference_total, current_count / current_total
    window_sd = None
    if window_shares is not None and len(window_shares) >= 3:
        then = float(np.mean(window_shares))
    pooled = (then * reference_total + current_count) / (reference_total + current_total)
    se = math.sqrt(pooled * (1 - pooled) * (1 / reference_total + 1 / current_total))
    if window_shares is not None and len(window_shares) >= 3:
        window_sd = float(np.std(window_shares, ddof=1))
        se = max(se, window_sd * math.sqrt(1 + 1 / len(window_shares)))
    factor = max(now / then, then / now) if then > 0 and now > 0 else float("inf")
    return SegmentShare(then, now, factor, (now - then) / se if se > 0 else 0.0, window_sd)


@dataclass(frozen=True)
class Calibration:
    """Realised against predicted on rows whose outcome is known, relative to the same segment at reference time.

    ``reference_ratio`` = realised / predicted on the segment's reference rows (1.0: calibrated then), shrunk
    towards 1 by ``RATIO_PRIOR`` pseudo-rows;
    ``gap`` = realised / (predicted x reference_ratio) - 1 (0.5: half as many outcomes again as expected);
    ``z`` = (realised - expected) totals over their standard error under "nothing changed" (binomial for 0/1
    outcomes, from the residuals for values), including the uncertainty of the reference ratio.
    """

    rows: int
    realised: float
    predicted: float
    reference_ratio: float
    gap: float
    z: float

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "realised": _round(self.realised, 6), "predicted": _round(self.predicted, 6),
                "reference_ratio": _round(self.reference_ratio), "gap": _round(self.gap), "z": _round(self.z, 2)}


def calibration(label: np.ndarray, prediction: np.ndarray, *, reference_label: np.ndarray,
                reference_prediction: np.ndarray, kind: str) -> Calibration:
    y, p = np.asarray(label, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    yr, pr = np.asarray(reference_label, dtype=np.float64), np.asarray(reference_prediction, dtype=np.float64)
    ratio, ratio_var = 1.0, 0.0
    if len(yr) > 1 and pr.sum() > 0:
        # shrunk towards 1 (the model is calibrated overall) by RATIO_PRIOR rows realised as predicted, so a small
        # reference segment with a handful of outcomes cannot set an extreme baseline
        prior = RATIO_PRIOR * pr.mean()
        ratio = float((yr.sum() + prior) / (pr.sum() + prior))
        ratio_var = float(len(yr) * np.var(yr - ratio * pr, ddof=1) / (pr.sum() + prior) ** 2)  # delta method
    expected = ratio * p.sum()
    if kind == "classification":
        q = np.clip(ratio * p, 0.0, 1.0)
        observed_var = float((q * (1 - q)).sum())
    else:
        observed_var = float(len(y) * np.var(y - ratio * p, ddof=1)) if len(y) > 1 else 0.0
    se = math.sqrt(observed_var + p.sum() ** 2 * ratio_var)
    z = float((y.sum() - expected) / se) if se > 0 else 0.0
    gap = float(y.sum() / expected - 1) if expected > 0 else float("nan")
    return Calibration(rows=len(y), realised=float(y.mean()), predicted=float(p.mean()), reference_ratio=ratio, gap=gap, z=z)


@dataclass(frozen=True)
class Ranking:
    """How well the scores order the outcomes: ROC AUC (0/1 outcomes) or Spearman (values), with a standard error."""

    metric: str
    value: float
    se: float
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "value": _round(self.value), "se": _round(self.se), "rows": self.rows}


def ranking(label: np.ndarray, prediction: np.ndarray, *, kind: str, min_outcomes: int) -> Ranking | None:
    """ROC AUC with the Hanley-McNeil standard error, or Spearman with the Fisher one; None when there are fewer
    than ``min_outcomes`` positives or negatives (classification) or rows (regression)."""
    y, p = np.asarray(label, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    if kind == "classification":
        positives = int((y > 0).sum())
        negatives = len(y) - positives
        if min(positives, negatives) < min_outcomes:
            return None
        auc = float(roc_auc_score(y > 0, p))
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
            positives * negatives)
        return Ranking("roc_auc", auc, math.sqrt(max(variance, 0.0)), len(y))
    if len(y) < max(min_outcomes, 4) or np.ptp(p) == 0 or np.ptp(y) == 0:
        return None
    rho = float(spearmanr(y, p).statistic)
    return Ranking("spearman", rho, (1 - rho * rho) / math.sqrt(len(y) - 3), len(y))


def ranking_drop(reference: Ranking, current: Ranking) -> tuple[float, float]:
    """(reference - current, that drop in standard errors of the difference)."""
    drop = reference.value - current.value
    se = math.hypot(reference.se, current.se)
    return drop, (drop / se if se > 0 else 0.0)
