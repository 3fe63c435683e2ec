"""A single-feature leakage screen: features that alone give the training labels away.

A feature that ranks the labels almost perfectly by itself (a status field exported after the outcome, a date
filled in at closing) is far more likely to be recorded after the fact than to be a true signal. Two tests:

* ranking: ROC AUC of the feature alone, at least ``max_auc`` (or at most ``1 - max_auc``). Numbers rank by their
  value, a missing value as a level of its own placed where it ranks best. Categories rank by their label rate,
  computed out of fold (5 folds) so that a many-valued category cannot score by memorising the rows.
* agreement: one value (or category, or being missing) marks the label: its balanced agreement with the label
  (the mean of the shares of positive rows that have the value and of negative rows that do not, or the reverse)
  is at least ``max_agreement``. Balanced, so that with a rare label a near-constant column does not agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from b2bscore.errors import DataError

FOLDS = 5
SMOOTHING = 10.0
"""Rows' worth of the overall label rate mixed into each category's out-of-fold rate."""
_SEED = 0


@dataclass(frozen=True)
class LeakyFeature:
    """A feature the screen flags: ``reason`` completes "feature <name> ...", ``figure`` is its ROC AUC or agreement."""

    name: str
    reason: str
    figure: float

    @property
    def sentence(self) -> str:
        return f"Feature {self.name} {self.reason}."


def screen_leaky_features(features: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], categorical: Sequence[str],
                          *, max_auc: float = 0.95, max_agreement: float = 0.99) -> list[LeakyFeature]:
    """The features among ``numeric`` and ``categorical`` (columns of ``features``) that alone predict the 0/1
    labels ``y`` (one per row) too well, in the order given; constant features are never flagged."""
    labels = _check_labels(features, y, [*numeric, *categorical])
    if labels.min() == labels.max():
        return []
    folds = np.random.default_rng(_SEED).permutation(len(labels)) % FOLDS
    flagged = []
    for name, is_category in [*((n, False) for n in numeric), *((n, True) for n in categorical)]:
        codes = _level_codes(features[name], is_category)
        if codes.max() == 0:  # constant: a single value (or all missing) tells nothing
            continue
        found = _agreement(name, codes, labels, max_agreement, features[name])
        if found is None:
            score = _oof_rate(codes, labels, folds) if is_category else features[name].to_numpy(dtype=np.float64)
            found = _ranking(name, score, labels, max_auc)
        if found is not None:
            flagged.append(found)
    return flagged


def _check_labels(features: pd.DataFrame, y: np.ndarray, names: list[str]) -> np.ndarray:
    labels = np.asarray(y, dtype=np.float64).ravel()
    if len(labels) != len(features):
        raise DataError(f"the leakage screen got {len(labels):,} labels for {len(features):,} feature rows; "
                        "pass one label per row")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError("the leakage screen needs 0/1 labels (a classification task); the labels hold other values")
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise DataError(f"the leakage screen was asked about {', '.join(missing)}, which the feature frame lacks")
    return labels.astype(np.int64)


def _level_codes(values: pd.Series, is_category: bool) -> np.ndarray:
    """An integer per distinct value, missing values as one level of their own."""
    data = values.to_numpy(dtype=object if is_category else np.float64)
    codes, uniques = pd.factorize(data, use_na_sentinel=True)
    return np.where(codes < 0, len(uniques), codes)


def _agreement(name: str, codes: np.ndarray, labels: np.ndarray, threshold: float,
               values: pd.Series) -> LeakyFeature | None:
    n_levels = int(codes.max()) + 1
    positives = np.bincount(codes, weights=labels, minlength=n_levels) / labels.sum()
    negatives = np.bincount(codes, weights=1 - labels, minlength=n_levels) / (len(labels) - labels.sum())
    agreement = 0.5 + np.abs(positives - negatives) / 2
    best = int(np.argmax(agreement))
    if agreement[best] < threshold:
        return None
    shown = values.to_numpy(dtype=object)[np.flatnonzero(codes == best)[0]]
    value = "missing" if pd.isna(shown) else repr(shown)
    reason = (f"is {value} on {positives[best]:.1%} of the positive rows and {negatives[best]:.1%} of the negative "
              f"ones of the training period (agreement {agreement[best]:.3f} with the label)")
    return LeakyFeature(name=name, reason=reason, figure=float(agreement[best]))


def _oof_rate(codes: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each row's category label rate, learnt on the other folds and shrunk towards the overall rate."""
    n_levels = int(codes.max()) + 1
    cells = folds * n_levels + codes
    fold_pos = np.bincount(cells, weights=labels, minlength=FOLDS * n_levels).reshape(FOLDS, n_levels)
    fold_all = np.bincount(cells, minlength=FOLDS * n_levels).reshape(FOLDS, n_levels).astype(np.float64)
    other_pos, other_all = fold_pos.sum(axis=0) - fold_pos, fold_all.sum(axis=0) - fold_all
    prior = labels.mean()
    rate = (other_pos + SMOOTHING * prior) / (other_all + SMOOTHING)
    return rate[folds, codes]


def _ranking(name: str, score: np.ndarray, labels: np.ndarray, threshold: float) -> LeakyFeature | None:
    auc = _auc_missing_as_level(score, labels)
    if (1 - threshold) < auc < threshold:
        return None
    direction = "" if auc >= 0.5 else " in reverse"
    reason = f"alone predicts the label{direction} with ROC AUC {auc:.3f} on the training period"
    return LeakyFeature(name=name, reason=reason, figure=float(auc))


def _auc_missing_as_level(score: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``score``, missing values tied with each other and ranked lowest or highest, whichever is further
    from 0.5 (Mann-Whitney U from average ranks)."""
    missing = np.isnan(score)
    n_pos = labels.sum()
    n_neg = len(labels) - n_pos
    ranks = rankdata(score[~missing])  # 1..m, ties averaged
    m, k = len(ranks), int(missing.sum())
    k_pos = labels[missing].sum()
    rank_sum = ranks[labels[~missing] == 1].sum()
    low = rank_sum + k * (n_pos - k_pos) + k_pos * (k + 1) / 2
    high = rank_sum + k_pos * (m + (k + 1) / 2)
    aucs = [(s - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) for s in (low, high)]
    return max(aucs, key=lambda a: abs(a - 0.5))
