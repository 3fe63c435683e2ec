"""The metrics a practitioner asks for: ranking, calibration, lift and capture, per segment too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

KINDS = ("classification", "regression")


def _check(y: npt.ArrayLike, p: npt.ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 1-d float arrays; raises ValueError on a length mismatch, no rows or a missing value."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"{what}: labels and predictions must be 1-d of the same length, got {y.shape} and {p.shape}")
    if len(y) == 0:
        raise ValueError(f"{what}: nothing to evaluate (0 rows)")
    if np.isnan(p).any() or np.isnan(y).any():
        missing = int(np.isnan(p).sum() + np.isnan(y).sum())
        raise ValueError(f"{what}: {missing} missing value(s) in labels or predictions")
    return y, p


def _top_count(n: int, percent: int) -> int:
    """ceil(percent% * n), at least 1 (integer maths: no float ceil slips)."""
    return max(1, -(-percent * n // 100))


def _top_sum(y: np.ndarray, score: np.ndarray, percent: int) -> tuple[float, int]:
    """(expected sum of ``y`` over the top ``percent``% of ``score``, the number of rows k taken).

    Tied scores are one block: when the cut falls inside a block of equal scores, the rows taken from it are worth
    the block's average (the expected value over every ordering of the tie), so the result never depends on the
    rows' order. A constant score thus has lift 1 and captures exactly k/n.
    """
    k = _top_count(len(score), percent)
    cut = np.partition(score, len(score) - k)[len(score) - k]  # the k-th highest score
    above, tied = score > cut, score == cut
    taken_from_tie = k - int(above.sum())
    return float(y[above].sum() + y[tied].sum() * taken_from_tie / int(tied.sum())), k


@dataclass(frozen=True)
class ClassificationMetrics:
    """Ranking, probability and targeting metrics of one set of scored 0/1 outcomes.

    ``lift_topK`` is the positive rate among the top K% of scores over the base rate, ``capture_topK`` the share of
    all positives found there (tied scores at the cut count as one block: the expected value over their orderings);
    both, like the AUCs, are NaN when only one class is present.
    """

    n: int
    positives: int
    base_rate: float
    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float
    ece: float
    lift_top10: float
    capture_top10: float
    lift_top20: float
    capture_top20: float

    def as_dict(self) -> dict[str, float]:
        """Every field as a float, in declaration order."""
        return {k: float(v) for k, v in asdict(self).items()}


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean predicted| over equal-mass bins of the prediction."""
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        if len(chunk):
            total += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return total / len(y)


def classification_metrics(y: npt.ArrayLike, p: npt.ArrayLike) -> ClassificationMetrics:
    """Metrics of calibrated probabilities ``p`` for 0/1 labels ``y``; ranking metrics are NaN for one class."""
    y, p = _check(y, p, "classification metrics")
    positives = int(y.sum())
    both = 0 < positives < len(y)
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    log_loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    base = positives / len(y)
    lifts = {}
    for percent in (10, 20):
        hits, k = _top_sum(y, p, percent)
        lifts[percent] = (hits / k / base if both else np.nan, hits / positives if both else np.nan)
    return ClassificationMetrics(
        n=len(y), positives=positives, base_rate=base,
        roc_auc=float(roc_auc_score(y, p)) if both else np.nan,
        pr_auc=float(average_precision_score(y, p)) if both else np.nan,
        brier=float(np.mean((p - y) ** 2)), log_loss=log_loss, ece=expected_calibration_error(y, p),
        lift_top10=lifts[10][0], capture_top10=lifts[10][1], lift_top20=lifts[20][0], capture_top20=lifts[20][1],
    )


@dataclass(frozen=True)
class RegressionMetrics:
    """Error, rank and value-capture metrics of one set of predicted values.

    ``capture_topK`` is the share of the total actual value held by the top K% of predictions; ``spearman`` and
    ``gini_normalised`` are NaN when there is no ordering to measure.
    """

    n: int
    mean_actual: float
    mean_predicted: float
    mae: float
    rmse: float
    spearman: float
    gini_normalised: float
    capture_top10: float
    capture_top20: float

    def as_dict(self) -> dict[str, float]:
        """Every field as a float, in declaration order."""
        return {k: float(v) for k, v in asdict(self).items()}


def _gini(actual: np.ndarray, score: np.ndarray) -> float:
    """Kaggle's (unnormalised) Gini: area between the cumulative-share curve ordered by ``score`` and the diagonal."""
    order = np.argsort(-score, kind="stable")
    cumulative = np.cumsum(actual[order]) / actual.sum()
    n = len(actual)
    return float(cumulative.sum() / n - (n + 1) / (2 * n))


def normalised_gini(actual: np.ndarray, score: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``score`` over the Gini of the perfect order (1 = perfect, 0 = random)."""
    if actual.sum() == 0 or np.ptp(actual) == 0:
        return np.nan
    return _gini(actual, score) / _gini(actual, actual)


def regression_metrics(y: npt.ArrayLike, pred: npt.ArrayLike) -> RegressionMetrics:
    """Error, rank and value-capture metrics of predicted values ``pred`` for actual values ``y``."""
    y, pred = _check(y, pred, "regression metrics")
    constant = np.ptp(y) == 0 or np.ptp(pred) == 0
    total = y.sum()
    capture = {percent: _top_sum(y, pred, percent)[0] / total if total > 0 else np.nan for percent in (10, 20)}
    return RegressionMetrics(
        n=len(y), mean_actual=float(y.mean()), mean_predicted=float(pred.mean()),
        mae=float(np.mean(np.abs(y - pred))), rmse=float(np.sqrt(np.mean((y - pred) ** 2))),
        spearman=np.nan if constant else float(spearmanr(y, pred).statistic),
        gini_normalised=normalised_gini(y, pred), capture_top10=capture[10], capture_top20=capture[20],
    )


def _wilson(successes: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``successes / n`` (95% for the default ``z``); stays inside [0, 1] at rates 0 and 1."""
    rate = successes / n
    centre = (rate + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    # exact maths puts the rate inside the interval; rounding can leave 1.0 a hair above the upper bound at rate 1
    return np.clip(np.minimum(centre - half, rate), 0.0, 1.0), np.clip(np.maximum(centre + half, rate), 0.0, 1.0)


def reliability_curve(y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Observed rate vs mean predicted probability in equal-mass bins, with Wilson 95% intervals."""
    y, p = _check(y, p, "reliability curve")
    order = np.argsort(p, kind="stable")
    rows = [(len(c), p[c].mean(), y[c].sum()) for c in np.array_split(order, min(bins, len(order))) if len(c)]
    count, mean_predicted, hits = (np.array(v, dtype=np.float64) for v in zip(*rows))
    lower, upper = _wilson(hits, count)
    return pd.DataFrame({"bin": np.arange(len(rows)), "count": count.astype(int), "mean_predicted": mean_predicted,
                         "observed_rate": hits / count, "lower": lower, "upper": upper})


def lift_table(y: npt.ArrayLike, score: npt.ArrayLike, groups: int = 10) -> pd.DataFrame:
    """Equal-size groups by descending score (group 1 = best): mean actual, lift over the mean, cumulative capture.

    ``y`` may be 0/1 labels (mean actual is then the positive rate) or values (then the mean value).
    """
    y, score = _check(y, score, "lift table")
    order = np.argsort(-score, kind="stable")
    chunks = [c for c in np.array_split(order, min(groups, len(order))) if len(c)]
    total, overall = y.sum(), y.mean()
    count = np.array([len(c) for c in chunks])
    actual = np.array([y[c].sum() for c in chunks])
    mean_actual = actual / count
    return pd.DataFrame({
        "group": np.arange(1, len(chunks) + 1), "count": count,
        "mean_score": [score[c].mean() for c in chunks], "mean_actual": mean_actual,
        "lift": mean_actual / overall if overall else np.nan,
        "cumulative_share_of_rows": np.cumsum(count) / len(y),
        "cumulative_capture": np.cumsum(actual) / total if total else np.nan,
    })


def metrics_by_segment(frame: pd.DataFrame, segment_columns: list[str], y_col: str, p_col: str, kind: str,
                       min_rows: int = 30) -> pd.DataFrame:
    """The same metrics for every value of every segment column; missing values form the slice "(missing)".

    Slices with fewer than ``min_rows`` rows are kept with their ``n`` and a ``note`` but NaN metrics. Rows are sorted
    by segment column, then by ``n`` descending.
    """
    if kind not in KINDS:
        raise ValueError(f"metrics by segment: unknown kind {kind!r}; valid kinds are {', '.join(KINDS)}")
    absent = [c for c in [*segment_columns, y_col, p_col] if c not in frame.columns]
    if absent:
        raise ValueError(f"metrics by segment: column(s) {absent} not in the frame (it has {list(frame.columns)})")
    metric, result = (classification_metrics, ClassificationMetrics) if kind == "classification" else (
        regression_metrics, RegressionMetrics)
    columns = ["segment_column", "segment", "n", *[f.name for f in fields(result) if f.name != "n"], "note"]
    rows = []
    for column in segment_columns:
        labels = frame[column].astype(object).where(frame[column].notna(), "(missing)").astype(str)
        for value, part in frame.groupby(labels, sort=True):
            row = {"segment_column": column, "segment": value, "n": len(part)}
            if len(part) < min_rows:
                row["note"] = f"fewer than {min_rows} rows"
            else:
                row |= {k: v for k, v in metric(part[y_col], part[p_col]).as_dict().items() if k != "n"}
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["segment_column", "segment", "n"])
    out = pd.DataFrame(rows).reindex(columns=columns)
    return out.sort_values(["segment_column", "n"], ascending=[True, False], kind="stable").reset_index(drop=True)
