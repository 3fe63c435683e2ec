"""Worlds whose customers buy without contracts (``revenue_mode``): irregular orders that pass the data contract, a
truth (``truth/buyers.parquet``) whose expectations are the process's own -- they match what happened -- and a
silent drop-out that the B2B signals (product usage) see and the order history does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from b2bscore.data.load import load_dataset
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.synth.firmographics import draw_population
from b2bscore.synth.orders import season, season_integral, simulate_orders
from b2bscore.synth.revenue import CHURNED, HEALTHY
from b2bscore.synth.timeline import DAY, build_timeline


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for mode in ("transactional", "mixed", "subscription"):
        out[mode] = tmp_path_factory.mktemp(mode)
        generate_world(WorldConfig(accounts=2500, seed=3, months=30, revenue_mode=mode), out[mode])
    return out


def test_orders_pass_the_contract_and_look_like_wholesale(worlds: dict[str, Path]) -> None:
    data, report = load_dataset(worlds["transactional"])
    assert report.ok, report
    revenue = data.revenue
    days = revenue["invoice_at"].dt.day
    assert days.nunique() > 25, "orders fall on any day, not on plan billing dates"
    per_account = revenue.groupby("account_id")["amount"].agg(["size", "sum"])
    assert per_account["size"].min() >= 1 and per_account["size"].max() >= 20  # some reorder often
    top = per_account["sum"].sort_values(ascending=False)
    assert top.iloc[: max(1, len(top) // 20)].sum() > 0.25 * top.sum()  # a few very large accounts
    gaps = revenue.sort_values("invoice_at").groupby("account_id")["invoice_at"].diff().dt.days.dropna()
    assert gaps.std() > 0.8 * gaps.mean(), "inter-order times vary (a Poisson process, not a billing cycle)"


def test_mixed_world_has_both_kinds_and_subscribers_keep_their_invoices(worlds: dict[str, Path]) -> None:
    mixed = pd.read_parquet(worlds["mixed"] / "revenue.parquet")
    on_first = mixed.groupby("account_id")["invoice_at"].apply(lambda t: bool((t.dt.day == 1).all() and (t.dt.hour == 0).all()))
    assert 0.2 < on_first.mean() < 0.8
    subscription = worlds["subscription"]
    assert not (subscription / "truth" / "buyers.parquet").exists()
    customers = pd.read_parquet(worlds["mixed"] / "truth" / "customers.parquet")
    buyers = pd.read_parquet(worlds["mixed"] / "truth" / "buyers.parquet")
    assert len(customers) and len(buyers)
    assert not set(customers["account_id"]) & set(buyers["account_id"])


@pytest.mark.parametrize("horizon", [90, 180, 365])
def test_truth_expectations_match_what_happened(worlds: dict[str, Path], horizon: int) -> None:
    truth = pd.read_parquet(worlds["transactional"] / "truth" / "buyers.parquet")
    done = truth.dropna(subset=[f"revenue_{horizon}d"])
    assert len(done) > 5000
    orders, revenue = done[f"orders_{horizon}d"].to_numpy(float), done[f"revenue_{horizon}d"]
    ranks = {}
    for prefix in ("", "btyd_"):  # the oracle (knows whether the buyer is alive) and the history-only version
        expected = done[f"{prefix}expected_orders_{horizon}d"].to_numpy()
        # rows of one buyer are correlated: a relative tolerance rather than a standard error of independent rows
        assert abs(orders.mean() - expected.mean()) < 0.05 * expected.mean(), prefix
        assert abs((orders == 0).mean() - done[f"{prefix}p_no_order_{horizon}d"].mean()) < 0.03, prefix
        expected_revenue = done[f"{prefix}expected_revenue_{horizon}d"]
        assert abs(revenue.sum() / expected_revenue.sum() - 1) < 0.12, prefix
        ranks[prefix] = spearmanr(expected_revenue, revenue).statistic
    assert ranks["btyd_"] > 0.6 and ranks[""] > ranks["btyd_"]  # knowing the hidden state ranks better
    p_alive = done["p_alive"]
    assert p_alive.between(0, 1).all() and (p_alive[done["repeat_orders"] == 0] == 1).all()
    assert done.loc[done["alive"], "p_alive"].mean() > done.loc[~done["alive"], "p_alive"].mean() + 0.2
    assert (done.loc[~done["alive"], f"orders_{horizon}d"] == 0).all()


def test_the_cltv_oracle_covers_buyers(worlds: dict[str, Path]) -> None:
    from b2bscore.training.tasks import truth_frame

    frame = truth_frame("cltv", worlds["transactional"] / "truth")
    assert frame is not None and len(frame) > 1000 and frame["oracle"].notna().all()


def test_a_buyer_that_dropped_out_stops_using_the_product() -> None:
    """Monthly state: alive while ordering, churned after the last order -- what behaviour.py reads to stop usage."""
    rng = np.random.default_rng(0)
    tl = build_timeline(pd.Timestamp("2023-01-01").date(), 24)
    pop = draw_population(rng, 800, 2023)
    start = np.where(rng.random(800) < 0.5, rng.integers(0, 12, 800), -1)
    mrr = np.full(800, 1000.0)
    orders = simulate_orders(rng, pop, tl, start, np.ones(800, bool), mrr, np.ones((6, len(tl.month_starts))))
    gone = orders.death < np.iinfo(np.int64).max
    assert gone.sum() > 50
    for account in np.flatnonzero(gone)[:50]:
        month = tl.month_of(np.array([orders.death[account]]))[0]
        assert (orders.state[account, month + 1:] == CHURNED).all()
        assert orders.state[account, month] == HEALTHY
        assert not (orders.time[orders.account == account] > orders.death[account]).any()
    never = start < 0
    assert not np.isin(np.flatnonzero(never), orders.account).any()


def test_season_integral_is_the_integral_of_the_season() -> None:
    a, b = 1_700_000_000, 1_700_000_000 + 200 * DAY
    grid = np.linspace(a, b, 200_001)
    numeric = np.trapezoid(season(grid), grid) / DAY / 30.4375
    assert season_integral(np.array([a]), np.array([b]))[0] == pytest.approx(numeric, rel=1e-6)
    year = season_integral(np.array([a]), np.array([a + 365.25 * DAY]))[0]
    assert year == pytest.approx(365.25 / 30.4375, rel=1e-9)
