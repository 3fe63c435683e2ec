"""The buy-till-you-die view of a buyer: order-history features, point in time, and BG/NBD x Gamma-Gamma outputs
that equal PyMC-Marketing's own on a fit made by PyMC-Marketing."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset
from b2bscore.features import build_features, feature_specs
from b2bscore.features.config import BtydFit, FeatureConfig, OrderFeatures
from b2bscore.features.orders import expected_order_value, fit_for
from b2bscore.training.btyd import fit_btyd, resolve_order_features, uses_btyd
from b2bscore.training.config import BtydConfig

pytestmark = pytest.mark.unit


def _orders(buyers: int = 120, seed: int = 0) -> pd.DataFrame:
    """Irregular orders of ``buyers`` accounts over two years, each dropping out at some point."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2023-01-01")
    for i in range(buyers):
        rate = rng.gamma(1.5, 1 / 30)  # orders per day
        life = rng.exponential(400)
        mean = rng.gamma(3.0, 300.0)
        t = rng.uniform(0, 300)
        while t < min(life, 730):
            rows.append((f"A{i:04d}", (start + pd.Timedelta(days=float(t))).floor("s"), round(float(rng.gamma(4, mean / 4)), 2)))
            t += rng.exponential(1 / rate)
    return pd.DataFrame(rows, columns=["account_id", "invoice_at", "amount"])


def _dataset(revenue: pd.DataFrame) -> Dataset:
    """The tables as b2bscore loads them (canonical columns and types), from a minimal export."""
    folder = Path(tempfile.mkdtemp(prefix="btyd-"))
    pd.DataFrame({"account_id": sorted(revenue["account_id"].unique())}).to_csv(folder / "accounts.csv", index=False)
    revenue.to_csv(folder / "revenue.csv", index=False)
    return load_dataset(folder)[0]


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return _orders()


@pytest.fixture(scope="module")
def fitted(orders) -> BtydFit:
    fit = fit_btyd(orders, pd.Timestamp("2024-07-01"))
    assert fit is not None
    return fit


def test_order_history_features_are_exact_and_point_in_time(orders):
    data = _dataset(orders)
    config = FeatureConfig(orders=OrderFeatures(enabled=True, horizon_days=90))
    as_of = pd.Timestamp("2024-03-01")
    frame = build_features(data, as_of=as_of, config=config)
    account = orders["account_id"].value_counts().index[0]
    mine = orders[(orders["account_id"] == account) & (orders["invoice_at"] < as_of)]
    days = mine.groupby(mine["invoice_at"].dt.floor("D"))["amount"].sum().sort_index()
    row = frame.set_index("account_id").loc[account]
    assert row["repeat_orders"] == len(days) - 1
    assert row["revenue_total"] == pytest.approx(days.sum())
    assert row["order_value_mean"] == pytest.approx(days.mean())
    gaps = np.diff(days.index.to_numpy()).astype("timedelta64[D]").astype(float)
    assert row["days_between_orders"] == pytest.approx(gaps.mean())
    assert row["days_between_orders_spread"] == pytest.approx(gaps.std())
    assert row["order_value_spread"] == pytest.approx(np.log(days.to_numpy()).std())
    since = (as_of.floor("D") - days.index[-1]).days
    assert row["order_overdue"] == pytest.approx(since / gaps.mean())
    # orders at or after the as-of time change nothing
    later = pd.concat([orders, pd.DataFrame({"account_id": [account] * 2, "invoice_at": [as_of, as_of + pd.Timedelta(days=3)],
                                             "amount": [9e5, 9e5]})], ignore_index=True)
    again = build_features(_dataset(later), as_of=as_of, config=config)
    pd.testing.assert_frame_equal(frame, again)


def test_features_equal_pymc_marketing_on_its_own_fit(orders, fitted):
    """P(alive) and the expected orders of the feature code equal PyMC-Marketing's BetaGeoModel with the same
    parameters; the expected order value equals its GammaGammaModel's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import xarray as xr
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, rfm_summary

    cut = pd.Timestamp(fitted.fitted_before)
    before = orders[orders["invoice_at"] < cut]
    rfm = rfm_summary(before, customer_id_col="account_id", datetime_col="invoice_at", monetary_value_col="amount",
                      observation_period_end=cut, time_unit="D")
    config = FeatureConfig(orders=OrderFeatures(enabled=True, horizon_days=90, fits=(fitted,)))
    frame = build_features(_dataset(orders), rfm[["customer_id"]].rename(columns={"customer_id": "account_id"}),
                           as_of=cut, config=config).set_index("account_id")

    def posterior(values: dict[str, float]) -> xr.Dataset:
        return xr.Dataset({k: (("chain", "draw"), np.array([[v]])) for k, v in values.items()})

    bg = BetaGeoModel(data=rfm[["customer_id", "frequency", "recency", "T"]])
    bg.build_model()
    bg.idata = __import__("arviz").InferenceData(posterior=posterior(
        {k: getattr(fitted, k) for k in ("r", "alpha", "a", "b")}))
    expected = bg.expected_purchases(data=rfm, future_t=90).mean(("chain", "draw")).to_series()
    alive = bg.expected_probability_alive(data=rfm).mean(("chain", "draw")).to_series()
    ids = rfm["customer_id"].to_numpy()
    assert np.allclose(frame.loc[ids, "btyd_expected_orders"].to_numpy(), expected.loc[ids].to_numpy(), rtol=1e-6)
    assert np.allclose(frame.loc[ids, "btyd_p_alive"].to_numpy(), alive.loc[ids].to_numpy(), rtol=1e-6)
    assert (frame.loc[ids, "repeat_orders"].to_numpy() == rfm["frequency"].to_numpy()).all()

    repeat = rfm[rfm["frequency"] > 0]
    gg = GammaGammaModel(data=repeat[["customer_id", "frequency", "monetary_value"]])
    gg.build_model()
    gg.idata = __import__("arviz").InferenceData(posterior=posterior({"p": fitted.p, "q": fitted.q, "v": fitted.v}))
    spend = gg.expected_customer_spend(data=repeat).mean(("chain", "draw")).to_numpy()
    mine = expected_order_value(fitted, repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy())
    defined = spend > 0
    assert np.allclose(mine[defined], spend[defined], rtol=1e-6)


def test_a_row_uses_the_latest_fit_made_before_it(fitted):
    early = fitted.model_copy(update={"fitted_before": pd.Timestamp("2024-01-01").to_pydatetime()})
    seconds = np.array([pd.Timestamp(t).value // 10**9 for t in ("2023-12-31", "2024-01-01", "2024-06-30", "2025-01-01")])
    assert list(fit_for((fitted, early), seconds)) == [-1, 1, 1, 0]


def test_an_undefined_gamma_gamma_mean_falls_back_to_the_repeat_buyers_average(fitted):
    improper = fitted.model_copy(update={"q": 0.8, "spend_fallback": 123.0})
    value = expected_order_value(improper, np.array([0.0, 3.0]), np.array([np.nan, 500.0]))
    assert value[0] == 123.0  # p v / (q - 1) < 0 for a buyer without a repeat order
    assert value[1] > 0


def test_resolved_only_for_buyers_who_order_at_will(orders):
    data = _dataset(orders)
    assert uses_btyd(data, BtydConfig())
    monthly = pd.DataFrame({"account_id": np.repeat([f"S{i}" for i in range(40)], 12),
                            "invoice_at": np.tile(pd.date_range("2023-01-01", periods=12, freq="MS"), 40),
                            "amount": 100.0})
    assert not uses_btyd(_dataset(monthly), BtydConfig())
    assert uses_btyd(_dataset(monthly), BtydConfig(use="always"))
    assert not uses_btyd(data, BtydConfig(use="never"))
    config = resolve_order_features(data, FeatureConfig(), pd.Series(pd.to_datetime(["2024-01-01", "2024-04-01"])),
                                    horizon_days=90, settings=BtydConfig(refit_months=3))
    assert config.orders.enabled and config.orders.horizon_days == 90
    cuts = [pd.Timestamp(f.fitted_before) for f in config.orders.fits]
    assert cuts[0] == pd.Timestamp("2024-01-01") and cuts[-1] == data.end  # and one on the whole history
    names = {s.name for s in feature_specs(config)}
    assert {"btyd_p_alive", "btyd_expected_orders", "btyd_expected_revenue", "repeat_orders"} <= names
    assert "repeat_orders" not in {s.name for s in feature_specs(FeatureConfig())}
