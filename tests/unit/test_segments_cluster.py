"""Clustering: stable labels for a seed and for any row order, k chosen by silhouette, too few accounts, profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from b2bscore.errors import DataError
from b2bscore.segments import cluster_accounts, profile_clusters
from b2bscore.segments.config import ClusterConfig

CONFIG = ClusterConfig(features=("x", "y"), k_min=2, k_max=5, min_accounts_per_cluster=3, n_init=2)


def blobs(sizes=(12, 10, 8), seed: int = 1) -> pd.DataFrame:
    """Three well-separated groups of accounts on (x, y); the largest first."""
    rng = np.random.default_rng(seed)
    centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]
    parts = [pd.DataFrame({"x": cx + rng.normal(0, 0.5, n), "y": cy + rng.normal(0, 0.5, n), "group": g})
             for g, (n, (cx, cy)) in enumerate(zip(sizes, centres))]
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "account_id", [f"A{i:03d}" for i in range(len(frame))])
    return frame


def test_recovers_the_groups_with_labels_ordered_by_size():
    frame = blobs()
    result = cluster_accounts(frame, CONFIG)
    assert result.k == 3
    assert set(result.scores) == {2, 3, 4, 5}
    assert result.labels.tolist() == frame["group"].tolist()


def test_same_seed_same_labels_and_row_order_does_not_matter():
    frame = blobs()
    first = cluster_accounts(frame, CONFIG).labels
    again = cluster_accounts(frame, CONFIG).labels
    shuffled = frame.sample(frac=1.0, random_state=7)
    by_account = dict(zip(shuffled["account_id"], cluster_accounts(shuffled, CONFIG).labels))
    assert np.array_equal(first, again)
    assert [by_account[a] for a in frame["account_id"]] == first.tolist()


def test_gaussian_mixture_with_bic():
    result = cluster_accounts(blobs(), CONFIG.model_copy(update={"method": "gmm", "criterion": "bic"}))
    assert result.k == 3


def test_too_few_accounts_for_the_requested_k_names_the_counts():
    with pytest.raises(DataError, match=r"need at least 12 \(3 per segment\), got 7"):
        cluster_accounts(blobs(sizes=(3, 2, 2)), CONFIG.model_copy(update={"k": 4}))


def test_identical_accounts_cannot_be_split():
    frame = pd.DataFrame({"account_id": [f"A{i}" for i in range(10)], "x": 1.0, "y": 2.0})
    with pytest.raises(DataError, match="only 1 distinct profile"):
        cluster_accounts(frame, CONFIG.model_copy(update={"k": 2}))


def test_profile_names_the_distinguishing_features():
    frame = blobs()
    frame["product_usage_minutes_30d"] = np.where(frame["group"] == 1, 500.0, 0.0)
    frame["region"] = np.where(frame["group"] == 1, "north_america", "emea")
    frame["size_group"] = "mid-market"
    frame["is_customer"] = False
    frame["industry"] = np.where(frame["group"] == 1, "software", "retail")
    config = CONFIG.model_copy(update={"features": ("product_usage_minutes_30d", "region")})
    profiles = profile_clusters(frame, frame["group"].to_numpy(), config, {})
    assert [p.size for p in profiles] == [12, 10, 8]
    assert profiles[1].text == "mid-market software prospects in North America: heavy product usage"
    assert profiles[1].name == "C2: mid-market software prospects in North America, heavy product usage"
    assert profiles[1].distinctive[0][0] == "product_usage_minutes_30d"


def test_a_cluster_that_is_the_same_as_before_keeps_its_name_and_a_new_one_gets_a_new_name():
    """Clusters are matched to the previous version's by account overlap (Hungarian assignment on the Jaccard
    index); the profile text of a cluster drifts a little from month to month, its name must not."""
    from b2bscore.segments.cluster import carry_cluster_names

    ids = [f"A{i:02d}" for i in range(30)]
    previous = pd.DataFrame({"account_id": ids, "cluster_name": ["C1: mid-market prospects, larger companies"] * 12
                             + ["C2: smb prospects, smaller companies"] * 10 + ["C3: customers, heavy usage"] * 8})
    # now: the first group split in two (A00-A05 stay, A06-A11 form a new cluster), the second is renumbered and
    # described a little differently; the third is unchanged
    labels = np.array([1] * 6 + [3] * 6 + [0] * 10 + [2] * 8)
    generated = {0: "C1: smb prospects, little engagement", 1: "C2: mid-market prospects, highly engaged",
                 2: "C3: customers, heavy usage", 3: "C4: mid-market prospects, larger companies"}
    names = carry_cluster_names(previous, np.array(ids, dtype=object), labels, generated)
    assert names[0] == "C2: smb prospects, smaller companies"
    assert names[2] == "C3: customers, heavy usage"
    # half of the old C1 is too little overlap to be the same cluster: both halves are new clusters
    assert names[1] == "C4: mid-market prospects, highly engaged"
    assert names[3] == "C5: mid-market prospects, larger companies"
    assert len(set(names.values())) == 4
    assert carry_cluster_names(None, np.array(ids, dtype=object), labels, generated) == generated
