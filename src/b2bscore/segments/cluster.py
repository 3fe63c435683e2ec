"""Data-driven segments: cluster accounts on scaled features and describe each cluster in words.

Stable by construction: rows are sorted by ``account_id`` before fitting (so the input's row order
does not matter), the estimator and the silhouette sample use ``config.seed``, and labels are
renumbered by cluster size (largest first, ties by first member). Across versions, :func:`carry_cluster_names`
keeps the name of a cluster that is the same as in the previous version (by account overlap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from b2bscore.errors import DataError
from b2bscore.segments._design import design_matrix
from b2bscore.segments._profile import ClusterProfile, describe_clusters
from b2bscore.segments.config import ClusterConfig


@dataclass(frozen=True)
class Clustering:
    """Labels (0 = largest cluster) aligned with the input rows, the chosen ``k`` and the criterion per ``k`` tried."""

    labels: np.ndarray
    k: int
    criterion: str
    scores: dict[int, float]
    columns: tuple[str, ...]


def cluster_accounts(frame: pd.DataFrame, config: ClusterConfig) -> Clustering:
    """Cluster the rows of ``frame`` (``account_id`` plus ``config.features``) as ``config`` says.

    Raises :class:`DataError` when there are too few accounts (or too few distinct ones) for the
    requested number of clusters.
    """
    missing = [f for f in config.features if f not in frame.columns]
    if missing:
        raise DataError(f"clustering features not in the data: {', '.join(missing)}")
    order = np.argsort(frame["account_id"].to_numpy(dtype=str), kind="stable")
    design = design_matrix(frame.iloc[order].reset_index(drop=True), config.features)
    x = design.matrix
    candidates = _candidate_ks(x, config)
    sample = _sample(len(x), config)
    fitted: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    for k in candidates:
        fitted[k], scores[k] = _fit(x, k, config, sample)
    if config.criterion == "silhouette":
        best = max(candidates, key=lambda k: (scores[k], -k))
    else:
        best = min(candidates, key=lambda k: (scores[k], k))
    labels = np.empty(len(x), dtype=np.int64)
    labels[order] = _by_size(fitted[best])
    return Clustering(labels=labels, k=best, criterion=config.criterion, scores=scores, columns=design.columns)


def profile_clusters(frame: pd.DataFrame, labels: np.ndarray, config: ClusterConfig,
                     descriptions: dict[str, str]) -> list[ClusterProfile]:
    """Each cluster's size and the features that set it apart most from the rest (standardised mean
    difference on the scaled features), rendered as text such as
    "mid-market software in North America: heavy product usage, surging intent".

    ``descriptions`` maps feature names to their plain-language descriptions (from ``feature_specs``).
    """
    design = design_matrix(frame, config.features)
    return describe_clusters(frame, labels, design, descriptions, top=config.profile_top_features)


SAME_CLUSTER_JACCARD = 0.5
"""A cluster is the previous version's when they share more than this share of their accounts (Jaccard index)."""
_NUMBER = re.compile(r"^C(\d+): ")


def carry_cluster_names(previous: pd.DataFrame | None, account_ids: np.ndarray, labels: np.ndarray,
                        names: dict[int, str]) -> dict[int, str]:
    """Label -> name, where a cluster that is the same as one of ``previous`` (``account_id``, ``cluster_name``)
    keeps that cluster's name; the others keep their generated ``names`` with a number ("C5: ...") no previous
    cluster used, so a name never points at two different clusters.

    Clusters are paired one to one by a Hungarian assignment maximising the Jaccard index of their accounts
    (accounts in both versions only); a pair is the same cluster when the index exceeds :data:`SAME_CLUSTER_JACCARD`.
    """
    if previous is None or previous.empty or "cluster_name" not in previous.columns:
        return dict(names)
    before = previous.drop_duplicates("account_id").set_index("account_id")["cluster_name"].astype(str)
    now = pd.Series(np.asarray(labels), index=pd.Index(np.asarray(account_ids, dtype=object)))
    common = now.index.intersection(before.index)
    old_names = sorted(set(before))
    new_labels = sorted(names)
    overlap = pd.crosstab(now[common].to_numpy(), before[common].to_numpy()).reindex(
        index=new_labels, columns=old_names, fill_value=0).to_numpy(dtype=np.float64)
    sizes_new = now[common].value_counts().reindex(new_labels, fill_value=0).to_numpy(dtype=np.float64)
    sizes_old = before[common].value_counts().reindex(old_names, fill_value=0).to_numpy(dtype=np.float64)
    union = sizes_new[:, None] + sizes_old[None, :] - overlap
    jaccard = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
    rows, cols = linear_sum_assignment(jaccard, maximize=True)
    out = {}
    for r, c in zip(rows, cols):
        if jaccard[r, c] > SAME_CLUSTER_JACCARD:
            out[new_labels[r]] = old_names[c]
    used = [int(m.group(1)) for n in (*old_names, *out.values()) if (m := _NUMBER.match(n))]
    number = max(used, default=0)
    for label in new_labels:
        if label not in out:
            number += 1
            out[label] = _NUMBER.sub(f"C{number}: ", names[label]) if _NUMBER.match(names[label]) else names[label]
    return out


def _candidate_ks(x: np.ndarray, config: ClusterConfig) -> list[int]:
    n, per = len(x), config.min_accounts_per_cluster
    distinct = len(np.unique(x, axis=0)) if n else 0
    wanted = [config.k] if config.k is not None else list(range(config.k_min, config.k_max + 1))
    smallest = wanted[0]
    if n < smallest * per:
        raise DataError(f"too few accounts to cluster into {smallest} segments: need at least {smallest * per} "
                        f"({per} per segment), got {n}")
    if distinct < smallest:
        raise DataError(f"too few distinct accounts to cluster into {smallest} segments: the {n} accounts have only "
                        f"{distinct} distinct profile(s) on the clustering features")
    return [k for k in wanted if k * per <= n and k <= distinct]


def _sample(n: int, config: ClusterConfig) -> np.ndarray:
    if n <= config.sample_size:
        return np.arange(n)
    return np.sort(np.random.default_rng(config.seed).choice(n, size=config.sample_size, replace=False))


def _fit(x: np.ndarray, k: int, config: ClusterConfig, sample: np.ndarray) -> tuple[np.ndarray, float]:
    if config.method == "kmeans":
        model = KMeans(n_clusters=k, n_init=config.n_init, random_state=config.seed).fit(x)
        labels = model.labels_
    else:
        model = GaussianMixture(n_components=k, covariance_type="diag", n_init=config.n_init,
                                random_state=config.seed, reg_covar=1e-4).fit(x)
        labels = model.predict(x)
    if config.criterion == "bic":
        return labels, float(model.bic(x))
    sampled = labels[sample]
    if len(np.unique(sampled)) < 2:
        return labels, -1.0
    return labels, float(silhouette_score(x[sample], sampled))


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber so that 0 is the largest cluster; ties go to the cluster whose first member comes first."""
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    ranking = sorted(range(len(values)), key=lambda i: (-counts[i], first[i]))
    mapping = np.empty(values.max() + 1, dtype=np.int64)
    for new, i in enumerate(ranking):
        mapping[values[i]] = new
    return mapping[labels]
