"""The propensity oracle (``truth/prospects.parquet``): every prospect at every month start, its true chance to win a
first deal within 90 days, and the outcome -- which must agree with the labels training derives from the data, and
which the chance must predict without bias (it is the process's own probability)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from b2bscore.data.load import load_dataset
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import PropensityConfig
from b2bscore.training.labels import propensity_labels


@pytest.fixture(scope="module", params=[None, "industry_mix"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"prospects-{request.param}")
    generate_world(WorldConfig(accounts=1500, seed=5, months=30, drift=request.param), out)
    return out


def test_one_row_per_prospect_and_month(world: Path) -> None:
    truth = pd.read_parquet(world / "truth" / "prospects.parquet")
    assert not truth.duplicated(["account_id", "as_of"]).any() and (truth["as_of"].dt.day == 1).all()
    assert truth["p_win_90d"].between(0, 1).all()
    customers = pd.read_parquet(world / "truth" / "customers.parquet")
    paying = customers[["account_id", "as_of"]].merge(truth, on=["account_id", "as_of"])
    assert paying.empty, "a paying customer is never a prospect"


def test_outcome_agrees_with_the_training_labels(world: Path) -> None:
    """The labels training builds from the exported tables are the truth's outcomes, row for row."""
    data = load_dataset(world)[0]
    labels = propensity_labels(data, PropensityConfig(snapshot_months=1), history_days=0).rows
    truth = pd.read_parquet(world / "truth" / "prospects.parquet").dropna(subset=["won_90d"])
    joined = labels.merge(truth, on=["account_id", "as_of"], how="left", validate="1:1")
    assert joined["won_90d"].notna().mean() > 0.99
    known = joined.dropna(subset=["won_90d"])
    assert (known["label"] == known["won_90d"].astype(int)).all()


def test_oracle_is_calibrated_and_ranks(world: Path) -> None:
    """Mean chance = realised share overall and per decile (within sampling error), and it ranks far above chance."""
    truth = pd.read_parquet(world / "truth" / "prospects.parquet").dropna(subset=["won_90d"])
    won, p = truth["won_90d"].to_numpy(dtype=float), truth["p_win_90d"].to_numpy()
    assert won.sum() > 300
    assert abs(p.mean() - won.mean()) < 3 * np.sqrt(won.mean() / len(won))
    deciles = pd.qcut(p, 10, labels=False, duplicates="drop")
    for decile in np.unique(deciles):
        chosen = deciles == decile
        expected = p[chosen].sum()
        assert abs(won[chosen].sum() - expected) < 4 * np.sqrt(expected) + 3, decile
    assert roc_auc_score(won, p) > 0.85
