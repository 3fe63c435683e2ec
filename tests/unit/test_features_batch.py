"""A row's features do not depend on which other rows are built with it: one account alone, in a batch, or in a
training set of many as-of times gets exactly the same values (training, batch and online scoring agree)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.features import build_features
from b2bscore.synth import WorldConfig, generate_world


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    world = tmp_path_factory.mktemp("batch-world")
    generate_world(WorldConfig(accounts=300, seed=3, months=36), world)
    return load_dataset(world)[0]


@pytest.mark.parametrize("entity", ["account", "lead"])
def test_each_row_alone_equals_the_same_row_in_a_batch(data, entity):
    key = "account_id" if entity == "account" else "lead_id"
    ids = data.accounts["account_id"] if entity == "account" else data.leads["lead_id"]
    times = pd.date_range("2023-03-01", "2025-12-01", freq="MS")
    rng = np.random.default_rng(0)
    if entity == "account":
        batch = pd.DataFrame({key: rng.choice(ids.to_numpy(), 1500), "as_of": rng.choice(times, 1500)})
    else:
        leads = data.leads.sample(600, random_state=0)
        batch = pd.DataFrame({key: leads["lead_id"].to_numpy(),
                              "as_of": leads["created_at"].to_numpy() + rng.integers(0, 200, len(leads)) * np.timedelta64(1, "D")})
    together = build_features(data, batch, entity=entity)
    for i in rng.choice(len(batch), 25, replace=False):
        alone = build_features(data, batch.iloc[[i]], entity=entity)
        pd.testing.assert_frame_equal(together.iloc[[i]].reset_index(drop=True), alone, check_exact=True,
                                      obj=f"{batch[key].iloc[i]} as of {batch['as_of'].iloc[i]}")
