"""The buy-till-you-die reference for buyers who order at will: BG/NBD x Gamma-Gamma, fitted with PyMC-Marketing.

The field's reference models for non-contractual customers, fitted by maximum a posteriori (PyMC-Marketing's
``BetaGeoModel`` and ``GammaGammaModel``, ``method="map"``) on each account's daily orders strictly before a cut
time. Training fits them every ``btyd.refit_months`` over the labelled period and once on the whole history; the
fitted parameters travel in the feature configuration (:class:`~b2bscore.features.config.OrderFeatures`), where
the feature code turns them into each row's P(alive), expected orders and expected revenue
(:mod:`b2bscore.features.orders`) -- the same numbers in training, batch and online scoring, without PyMC at
scoring time.

PyMC-Marketing is imported only here and only when a run has such buyers (~9 s to import; on two cores with a C
compiler ~2.5 s per fit, the first ~7 s while PyTensor compiles -- benchmarks/transactional.py).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset, frame_digest
from b2bscore.errors import DataError
from b2bscore.features.config import BtydFit, FeatureConfig, OrderFeatures
from b2bscore.home import Progress, no_progress
from b2bscore.training.config import BtydConfig
from b2bscore.training.labels import billing_pattern

MIN_BUYERS = 30
"""Buyers needed before a cut time for a fit; an earlier cut has no fit (its rows get no buy-till-you-die values)."""

_FITS: dict[tuple[str, int], BtydFit | None] = {}  # (revenue digest, cut in seconds) -> fit, shared by the tasks


def uses_btyd(data: Dataset, settings: BtydConfig) -> bool:
    """Whether a churn or CLTV run on ``data`` has buyers who order at will."""
    if settings.use == "never" or data.revenue is None or data.revenue.empty:
        return False
    return settings.use == "always" or billing_pattern(data) == "orders"


def _quiet_import():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("pymc", "pytensor", "pymc_marketing", "arviz"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, rfm_summary
        except ImportError as exc:  # a broken install, not bad data
            raise DataError(f"The revenue table holds orders placed at will, and churn and CLTV runs on such buyers "
                            f"fit the buy-till-you-die reference with PyMC-Marketing, which cannot be imported ({exc}): "
                            "install it with pip install 'b2bscore[btyd]' (scripts/setup.sh does), or set btyd.use: "
                            "never in the training configuration to train without it") from None
    return BetaGeoModel, GammaGammaModel, rfm_summary


def _posterior(model, names: tuple[str, ...]) -> dict[str, float]:
    posterior = model.fit_result
    return {name: float(posterior[name].mean()) for name in names}


def fit_btyd(revenue: pd.DataFrame, before: pd.Timestamp) -> BtydFit | None:
    """BG/NBD and Gamma-Gamma fitted by MAP on the orders strictly before ``before`` (None: fewer than
    ``MIN_BUYERS`` buyers then). Gamma-Gamma is left out (``p``, ``q``, ``v`` None) when it cannot be fitted."""
    before = pd.Timestamp(before)
    orders = revenue.loc[revenue["invoice_at"] < before, ["account_id", "invoice_at", "amount"]]
    orders = orders.dropna(subset=["account_id", "invoice_at"])
    if orders["account_id"].nunique() < MIN_BUYERS:
        return None
    BetaGeoModel, GammaGammaModel, rfm_summary = _quiet_import()
    rfm = rfm_summary(orders, customer_id_col="account_id", datetime_col="invoice_at", monetary_value_col="amount",
                      observation_period_end=before, time_unit="D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoModel(data=rfm[["customer_id", "frequency", "recency", "T"]])
        bg.fit(method="map", progressbar=False)
        params = _posterior(bg, ("r", "alpha", "a", "b"))
        repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
        fallback = float(repeat["monetary_value"].mean()) if len(repeat) else float(orders["amount"].mean())
        spend: dict[str, float | None] = {"p": None, "q": None, "v": None}
        if len(repeat) >= MIN_BUYERS:
            try:
                gg = GammaGammaModel(data=repeat[["customer_id", "frequency", "monetary_value"]])
                gg.fit(method="map", progressbar=False)
                spend = dict(_posterior(gg, ("p", "q", "v")))
            except Exception as exc:  # noqa: BLE001 -- an optimiser failure leaves the buyers' own averages
                logging.getLogger(__name__).warning("Gamma-Gamma could not be fitted on orders before %s: %s",
                                                    before.date(), exc)
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        return None
    if not all(v is not None and np.isfinite(v) and v > 0 for v in spend.values()):
        spend = {"p": None, "q": None, "v": None}
    return BtydFit(fitted_before=before.to_pydatetime(), customers=int(len(rfm)), spend_fallback=fallback,
                   **params, **spend)


def cached_fit(revenue: pd.DataFrame, digest: str, before: pd.Timestamp) -> BtydFit | None:
    key = (digest, int(pd.Timestamp(before).value))
    if key not in _FITS:
        _FITS[key] = fit_btyd(revenue, before)
    return _FITS[key]


def fit_dates(as_of: pd.Series, end: pd.Timestamp, every_months: int) -> list[pd.Timestamp]:
    """Cut times: the first as-of time, then every ``every_months`` months to the last one, and ``end``."""
    first, last = pd.Timestamp(as_of.min()), pd.Timestamp(as_of.max())
    dates = list(pd.date_range(first, last, freq=pd.DateOffset(months=every_months)))
    return sorted({*dates, pd.Timestamp(end)})


def resolve_order_features(data: Dataset, features: FeatureConfig, as_of: pd.Series, *, horizon_days: int,
                           settings: BtydConfig, progress: Progress = no_progress) -> FeatureConfig:
    """``features`` with the order-history features switched on and buy-till-you-die fits for the rows' as-of
    times (``as_of``) and for scoring after ``data.end`` -- or unchanged when the buyers have a billing cycle."""
    if not uses_btyd(data, settings):
        return features
    revenue = data.revenue
    digest = frame_digest(revenue[["account_id", "invoice_at", "amount"]])
    dates = fit_dates(as_of, data.end, settings.refit_months)
    fits = []
    for i, cut in enumerate(dates):
        progress(f"buy-till-you-die fit {i + 1} of {len(dates)} (orders before {cut:%Y-%m-%d})", i / len(dates))
        fit = cached_fit(revenue, digest, cut)
        if fit is not None:
            fits.append(fit)
    orders = OrderFeatures(enabled=True, horizon_days=horizon_days, fits=tuple(fits))
    return features.model_copy(update={"orders": orders})
