"""Issue 19: generated campaigns come from their own random stream (the world's other values do not change), touch
the leads and activities of the channels the world simulates, and carry a consistent truth of incremental revenue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from b2bscore.synth import WorldConfig, generate_world
from b2bscore.synth import campaigns as campaigns_mod
from b2bscore.synth.campaigns import ENGAGEMENT_CHANNELS, LEAD_CHANNELS

CONFIG = WorldConfig(accounts=300, months=12, seed=21)


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {str(p.relative_to(folder)): pd.read_parquet(p) for p in sorted(folder.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("w")
    generate_world(CONFIG, folder)
    return _tables(folder)


def test_campaign_draws_leave_the_world_as_it_is(world, tmp_path, monkeypatch):
    """With another campaign stream, every campaign value may change but nothing else does."""
    monkeypatch.setattr(campaigns_mod, "CAMPAIGN_STREAM", campaigns_mod.CAMPAIGN_STREAM + 1)
    generate_world(CONFIG, tmp_path)
    other = _tables(tmp_path)
    assert set(other) == set(world)
    assert not other["campaigns.parquet"]["cost"].equals(world["campaigns.parquet"]["cost"])
    for name, frame in world.items():
        if name in ("campaigns.parquet", "spend.parquet", "truth/campaigns.parquet"):
            continue
        kept = [c for c in frame.columns if c != "campaign_id"]
        pd.testing.assert_frame_equal(other[name][kept], frame[kept], obj=name)


def test_touches_follow_the_channels(world):
    campaigns = world["campaigns.parquet"].set_index("campaign_id")
    leads = world["leads.parquet"]
    touched = leads[leads["campaign_id"].notna()]
    assert (touched["source"].to_numpy() == campaigns.loc[touched["campaign_id"], "channel"].to_numpy()).all()
    assert set(touched["source"]) == set(LEAD_CHANNELS)
    assert leads.loc[~leads["source"].isin(LEAD_CHANNELS), "campaign_id"].isna().all()  # organic, referral
    acts = world["activities.parquet"]
    touched = acts[acts["campaign_id"].notna()]
    channel = campaigns.loc[touched["campaign_id"], "channel"].to_numpy()
    for name, types in ENGAGEMENT_CHANNELS.items():
        assert touched.loc[channel == name, "activity_type"].isin(types).all()
    started = campaigns.loc[touched["campaign_id"], "started_at"].to_numpy()
    ended = campaigns.loc[touched["campaign_id"], "ended_at"].to_numpy()
    assert ((touched["occurred_at"].to_numpy() >= started) & (touched["occurred_at"].to_numpy() < ended)).all()
    assert (world["campaigns.parquet"]["cost"] > 0).all() and (world["spend.parquet"]["amount"] > 0).all()


def test_truth_is_the_won_deals_each_campaign_created_less_what_would_have_come_anyway(world):
    truth = world["truth/campaigns.parquet"].set_index("campaign_id")
    opp = world["opportunities.parquet"]
    won = opp[opp["stage"] == "won"].merge(world["leads.parquet"][["lead_id", "campaign_id"]], on="lead_id")
    revenue = won.groupby("campaign_id")["amount"].sum().reindex(truth.index).fillna(0.0)
    assert truth["caused_revenue"].to_numpy() == pytest.approx(revenue.to_numpy(), abs=0.05)
    assert truth["incremental_revenue"].to_numpy() == pytest.approx(
        (truth["caused_revenue"] * (1 - truth["organic_share"])).to_numpy(), rel=1e-3, abs=0.05)
    engagement = truth["channel"].isin(list(ENGAGEMENT_CHANNELS))
    assert (truth.loc[engagement, "incremental_revenue"] == 0).all() and (truth.loc[engagement, "true_roi"] == -1).all()
    costs = world["campaigns.parquet"].set_index("campaign_id")["cost"]
    fees = world["spend.parquet"].dropna(subset=["campaign_id"]).groupby("campaign_id")["amount"].sum()
    assert truth["total_cost"].to_numpy() == pytest.approx(costs.add(fees, fill_value=0).reindex(truth.index).to_numpy())
    assert np.isfinite(truth["true_roi"]).all() and truth.loc[~engagement, "caused_deals"].sum() > 0
