"""Behavioural properties of the process: bursts precede wins, usage decays before churn."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from b2bscore.synth import WorldConfig, generate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("behaviour")
    generate_world(WorldConfig(accounts=1000, seed=21, start=date(2023, 1, 1), months=24), out)
    return out


def _count_in_windows(events: pd.DataFrame, accounts: np.ndarray, ends: np.ndarray, days: int) -> np.ndarray:
    """Events of each (account, window ending at ``end``) in ``[end - days, end)``."""
    keyed = events.groupby("account_id")["occurred_at"].apply(lambda s: np.sort(s.to_numpy()))
    out = np.zeros(len(accounts))
    for i, (account, end) in enumerate(zip(accounts, ends)):
        times = keyed.get(account)
        if times is not None:
            out[i] = np.searchsorted(times, end) - np.searchsorted(times, end - np.timedelta64(days, "D"))
    return out


def test_pricing_views_burst_before_won_deals(world: Path) -> None:
    opps = pd.read_parquet(world / "opportunities.parquet")
    acts = pd.read_parquet(world / "activities.parquet")
    pricing = acts[acts["activity_type"] == "pricing_page_view"]
    won = opps[(opps["stage"] == "won") & (opps["created_at"] >= pd.Timestamp("2023-02-01"))]
    before_win = _count_in_windows(pricing, won["account_id"].to_numpy(), won["created_at"].to_numpy(), 30)
    rng = np.random.default_rng(0)
    # comparable windows: the same accounts at random moments
    random_ends = (pd.Timestamp("2023-02-01") + pd.to_timedelta(rng.integers(0, 690, len(won)), unit="D")).to_numpy()
    baseline = _count_in_windows(pricing, won["account_id"].to_numpy(), random_ends, 30)
    assert len(won) > 50
    assert before_win.mean() > 2 * baseline.mean()


def test_usage_decays_before_churn(world: Path) -> None:
    revenue = pd.read_parquet(world / "revenue.parquet")
    acts = pd.read_parquet(world / "activities.parquet")
    logins = acts[acts["activity_type"] == "product_login"]
    span = revenue.groupby("account_id")["invoice_at"].agg(["min", "max"])
    end = pd.Timestamp("2025-01-01")
    churned = span[(span["max"] < end - pd.DateOffset(months=2)) & (span["max"] - span["min"] >= pd.Timedelta(days=240))]
    assert len(churned) >= 10
    churn_at = (churned["max"] + pd.DateOffset(months=1)).to_numpy()
    late = _count_in_windows(logins, churned.index.to_numpy(), churn_at, 60).sum()
    early_end = churn_at - np.timedelta64(120, "D")
    early = _count_in_windows(logins, churned.index.to_numpy(), early_end, 90).sum()
    assert late / 60 < 0.7 * early / 90


def test_customers_have_usage_prospects_do_not(world: Path) -> None:
    acts = pd.read_parquet(world / "activities.parquet")
    paying = set(pd.read_parquet(world / "revenue.parquet")["account_id"])
    users = set(acts.loc[acts["activity_type"].isin(["product_login", "support_ticket"]), "account_id"])
    assert users <= paying


def test_oracle_churn_ranks_realised_churn(world: Path) -> None:
    customers = pd.read_parquet(world / "truth" / "customers.parquet")
    high = customers["p_churn_180d"] > customers["p_churn_180d"].median()
    assert customers.loc[high, "churned_180d"].mean() > 2 * customers.loc[~high, "churned_180d"].mean()
    # calibrated: the realised churn rate is close to the mean oracle probability
    assert abs(customers["churned_180d"].mean() - customers["p_churn_180d"].mean()) < 0.03


def test_intent_surges_with_leads(world: Path) -> None:
    intent = pd.read_parquet(world / "intent.parquet")
    leads = pd.read_parquet(world / "leads.parquet")
    surging = set(intent.loc[intent["score"] >= 60, "account_id"])
    share_with_leads = np.mean([a in set(leads["account_id"]) for a in surging])
    accounts = pd.read_parquet(world / "accounts.parquet")["account_id"]
    assert share_with_leads > 1.5 * accounts.isin(leads["account_id"]).mean() * 0.6
    assert intent["score"].between(10, 100).all()
