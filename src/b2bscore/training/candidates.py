"""Which model a run registers: LightGBM, its baseline or a blend of both, chosen on the validation period.

Every run fits LightGBM and a baseline on the training period. Each candidate (the trees, the baseline, and blends
of the two) is scored on the validation period by the task's primary metric; the best one that is not blind is
registered. A candidate is blind when its validation scores are (nearly) constant, or when they do not rank the
validation period better than chance with confidence (the one-sided lower bound of its ROC AUC, or of its Spearman
correlation for a regressor, is not above chance; the confidence is shared by the candidates tried, Bonferroni's
way, so that trying five does not make one of them pass by luck). When every candidate is blind the run registers nothing and says
why. The test period is left alone: it reports on the chosen model honestly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from b2bscore.errors import DataError
from b2bscore.model.estimator import ScoringModel, baseline_score, combine_scores
from b2bscore.training.config import CandidatesConfig
from b2bscore.training.evaluate import classification_metrics, regression_metrics

BLEND_WEIGHTS = (0.75, 0.5, 0.25)
"""LightGBM's share in the blends tried (the baseline has the rest)."""

_CONSTANT_SHARE = 0.99  # one score on this share of the validation rows makes a candidate near-constant


@dataclass(frozen=True)
class Candidate:
    """One candidate's validation figures: its primary metric, ROC AUC (or Spearman) and their lower bound."""

    name: str  # "lightgbm", "baseline" or "blend"
    weight: float  # LightGBM's share of the score
    metric: float
    rank: float  # ROC AUC (classification) or Spearman correlation (regression)
    rank_lower: float  # its one-sided lower confidence bound
    blind: str | None  # why it may not be registered, or None

    @property
    def label(self) -> str:
        return f"blend {self.weight:.2f}" if self.name == "blend" else self.name


@dataclass(frozen=True)
class Choice:
    chosen: Candidate
    candidates: tuple[Candidate, ...]
    metric: str

    def best(self, name: str) -> Candidate | None:
        """The best candidate called ``name`` (blends: the best weight)."""
        found = [c for c in self.candidates if c.name == name]
        return max(found, key=_order) if found else None

    def reason(self) -> str:
        """One sentence: which candidate won, on what, against what."""
        others = ", ".join(f"{c.label} {c.metric:.3f}" for c in self.candidates if c is not self.chosen
                           and c.name != "blend")
        blends = [c for c in self.candidates if c.name == "blend" and c is not self.chosen]
        if blends:
            best = max(blends, key=_order)
            others += f", best other blend ({best.weight:.2f} LightGBM) {best.metric:.3f}"
        return (f"{self.chosen.label} has the highest validation {self.metric} ({self.chosen.metric:.3f}; "
                f"{others.strip(', ')})")

    def metrics(self) -> dict[str, float]:
        """Validation figures of the best candidate of each kind and of the one chosen (before calibration, as the
        baseline's ``baseline_valid_*``: calibrating on the validation period itself would flatter it), for the
        run's metrics."""
        out = {}
        for name in ("lightgbm", "baseline", "blend"):
            best = self.best(name)
            if best is not None and np.isfinite(best.metric):
                out[f"candidate_valid_{name}_{self.metric}"] = best.metric
        out[f"chosen_valid_{self.metric}"] = self.chosen.metric
        out["chosen_weight_lightgbm"] = self.chosen.weight
        return out


def _order(candidate: Candidate) -> float:
    return candidate.metric if np.isfinite(candidate.metric) else -np.inf


def _auc_lower_bound(auc: float, positives: int, negatives: int, z: float) -> float:
    """Hanley and McNeil's standard error of a ROC AUC, as a one-sided lower bound at ``z``."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (positives * negatives)
    return auc - z * float(np.sqrt(max(variance, 0.0)))


def _spearman_lower_bound(rho: float, n: int, z: float) -> float:
    """Fisher's z-transform of a Spearman correlation, as a one-sided lower bound at ``z`` (Fieller's standard
    error, sqrt(1.06 / (n - 3)))."""
    if n <= 3 or not np.isfinite(rho):
        return np.nan
    return float(np.tanh(np.arctanh(np.clip(rho, -0.999999, 0.999999)) - z * np.sqrt(1.06 / (n - 3))))


def _near_constant(score: np.ndarray) -> bool:
    values, counts = np.unique(np.round(score, 12), return_counts=True)
    return len(values) < 2 or counts.max() >= _CONSTANT_SHARE * len(score)


def _judge(name: str, weight: float, kind: str, metric: str, y: np.ndarray, score: np.ndarray, z: float,
           confidence: float) -> Candidate:
    if kind == "classification":
        figures = classification_metrics(y, score).as_dict()
        rank = figures["roc_auc"]
        positives = int(y.sum())
        lower = _auc_lower_bound(rank, positives, len(y) - positives, z) if np.isfinite(rank) else np.nan
        chance, what = 0.5, "ROC AUC"
    else:
        figures = regression_metrics(y, score).as_dict()
        rank = figures["spearman"]
        lower = _spearman_lower_bound(rank, len(y), z)
        chance, what = 0.0, "Spearman correlation"
    blind = None
    if _near_constant(score):
        blind = "its scores are (nearly) the same for every row"
    elif not np.isfinite(lower) or lower <= chance:
        blind = (f"its {what} {rank:.3f} is not above chance ({chance:g}) with {confidence:.0%} confidence "
                 f"(lower bound {lower:.3f})")
    return Candidate(name=name, weight=weight, metric=float(figures.get(metric, np.nan)), rank=float(rank),
                     rank_lower=float(lower), blind=blind)


def choose_candidate(task: str, model: ScoringModel, baseline, valid: pd.DataFrame, y_valid: np.ndarray, *,
                     metric: str, config: CandidatesConfig) -> Choice:
    """Judge every candidate on the validation period and choose the best one that is not blind (a tie goes to
    LightGBM, then the blends, then the baseline); a DataError names each candidate's figures when all are blind."""
    trees = model.raw_score(valid)
    base = baseline_score(baseline, valid)
    weights = []
    if "lightgbm" in config.include:
        weights.append(("lightgbm", 1.0))
    if "blend" in config.include:
        weights += [("blend", w) for w in BLEND_WEIGHTS]
    if "baseline" in config.include:
        weights.append(("baseline", 0.0))
    z = float(norm.ppf(1 - (1 - config.confidence) / len(weights)))  # Bonferroni: one of k tries may pass by luck
    judged = tuple(_judge(name, w, model.task, metric, y_valid, combine_scores(model.task, trees, base, w), z,
                          config.confidence) for name, w in weights)
    eligible = [c for c in judged if c.blind is None]
    if not eligible:
        lines = "; ".join(f"{c.label}: {metric} {c.metric:.3f}, {c.blind}" for c in judged)
        raise DataError(
            f"{task}: no model was registered, because every candidate is blind on the validation period "
            f"({len(y_valid):,} rows) — {lines}. The features built from this data do not predict the label: add "
            "the columns that explain it (a CRM's own columns become features), a longer history, or check that "
            "outcomes are recorded for the whole period")
    best = max(eligible, key=_order)  # max keeps the first of equals: LightGBM, the blends, then the baseline
    return Choice(chosen=best, candidates=judged, metric=metric)
