"""Order-history features of buyers without contracts, and the buy-till-you-die model's own view of each buyer.

Orders are counted by day, as buy-till-you-die models count them (PyMC-Marketing's ``rfm_summary`` with daily
periods): an account's invoices of one day are one order, at the time of the day's last invoice, so an as-of time
at midnight (every training snapshot) sees exactly the days before it. From them, per (account, as-of):

- what BG/NBD and Gamma-Gamma read: repeat orders ``x`` (days with an order after the first), recency ``t_x``
  (days from the first to the last order), age ``T`` (days from the first order to the as-of day), the average
  value of the repeat orders;
- what they do not: the spread of order values and of the gaps between orders, how overdue the next order is;
- with a fitted model (:class:`~b2bscore.features.config.BtydFit`, the latest one fitted before the row's as-of
  time): the chance the buyer is still alive, the orders and the revenue expected in the horizon -- equations (10)
  and the P(alive) of Fader, Hardie and Lee (2005) and the Gamma-Gamma conditional mean (Fader and Hardie 2013),
  as PyMC-Marketing's ``BetaGeoModel`` and ``GammaGammaModel`` compute them (checked against it in the tests).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import hyp2f1

from b2bscore.features._queries import Queries
from b2bscore.features.config import BtydFit, FeatureConfig
from b2bscore.features.specs import FeatureSpec, check_schema

_DAY = 86_400


def order_specs(config: FeatureConfig) -> list[FeatureSpec]:
    """The order-history features, when training found the revenue table to be orders placed at will."""
    orders = config.orders
    if not orders.enabled:
        return []
    h = orders.horizon_days
    specs = [
        FeatureSpec("repeat_orders", "behavioural", "float", "Repeat orders so far (days with an order after the first)",
                    unit="count"),
        FeatureSpec("order_value_mean", "behavioural", "float", "Average order value", unit="money"),
        FeatureSpec("order_value_spread", "behavioural", "float",
                    "Spread of order values (standard deviation of their logarithm)", unit="number"),
        FeatureSpec("days_between_orders", "behavioural", "float", "Average days between orders", unit="days"),
        FeatureSpec("days_between_orders_spread", "behavioural", "float",
                    "Spread of the days between orders (standard deviation)", unit="days"),
        FeatureSpec("order_overdue", "behavioural", "float",
                    "Days since the last order, in average gaps between orders", unit="number"),
        FeatureSpec("revenue_total", "behavioural", "float", "Revenue so far", unit="money"),
    ]
    if orders.fits:
        specs += [
            FeatureSpec("btyd_p_alive", "behavioural", "float",
                        "Chance the buyer still orders (buy-till-you-die model of its order history)", unit="percent"),
            FeatureSpec("btyd_expected_orders", "behavioural", "float",
                        f"Orders expected in the next {h} days (buy-till-you-die model)", unit="number"),
            FeatureSpec("btyd_expected_revenue", "behavioural", "float",
                        f"Revenue expected in the next {h} days (buy-till-you-die model)", unit="money"),
        ]
    return specs


def daily_orders(revenue: pd.DataFrame) -> pd.DataFrame:
    """One row per (account, day with revenue): the day's total ``amount`` at the time of its last invoice."""
    frame = revenue[["account_id", "invoice_at", "amount"]].dropna(subset=["account_id", "invoice_at"])
    day = frame["invoice_at"].dt.floor("D")
    grouped = frame.groupby([frame["account_id"], day.rename("day")], sort=True)
    out = grouped.agg(invoice_at=("invoice_at", "max"), amount=("amount", "sum")).reset_index()
    return out[["account_id", "invoice_at", "amount"]]


def order_history(revenue: pd.DataFrame, queries: Queries) -> dict[str, np.ndarray]:
    """Per query, from the daily orders strictly before its as-of time: ``n`` (order days), ``x`` (repeat ones),
    ``t_x`` and ``T`` (days), ``value_mean`` (all orders), ``repeat_value_mean`` (orders after the first),
    ``value_spread`` (sd of log values), ``gap_mean``, ``gap_spread`` (days), ``since_last`` (days), ``total``."""
    days = daily_orders(revenue)
    index, positions = queries.index_events(days, days["invoice_at"], lookback_days=None)
    window = queries.window(index, None)
    q, pos = index.pairs(window)
    n_queries = len(queries)
    amount = days["amount"].to_numpy(dtype=np.float64)[positions][index.rows[pos]]
    n = window.counts
    first = np.where(n > 0, index.first_seconds(window) // _DAY, np.nan)
    last = np.where(n > 0, index.last_seconds(window) // _DAY, np.nan)
    as_of_day = queries.seconds // _DAY

    def total(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        weights = values if mask is None else np.where(mask, values, 0.0)
        return np.bincount(q, weights=weights, minlength=n_queries)

    with np.errstate(invalid="ignore", divide="ignore"):
        value_sum = total(amount)
        logs = np.log(np.maximum(amount, 1e-9))
        log_mean = total(logs) / n
        value_spread = np.sqrt(np.maximum(total(logs * logs) / n - log_mean**2, 0.0))
        repeat = pos > window.lo[q]  # not the account's first order day
        x = np.maximum(n - 1, 0)
        repeat_value_mean = total(amount, repeat) / x
        gaps = np.where(repeat, index.seconds[pos] // _DAY - index.seconds[np.maximum(pos - 1, 0)] // _DAY, 0).astype(float)
        gap_mean = (last - first) / x
        gap_square = total(gaps * gaps, repeat) / x
        gap_spread = np.sqrt(np.maximum(gap_square - (total(gaps, repeat) / x) ** 2, 0.0))
    return {
        "n": n, "x": x, "t_x": last - first, "T": as_of_day - first, "since_last": as_of_day - last,
        "value_mean": np.where(n > 0, value_sum / n, np.nan), "repeat_value_mean": np.where(x > 0, repeat_value_mean, np.nan),
        "value_spread": np.where(n > 1, value_spread, np.nan), "gap_mean": np.where(x > 0, gap_mean, np.nan),
        "gap_spread": np.where(x > 1, gap_spread, np.nan), "total": value_sum,
    }


def p_alive(fit: BtydFit, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """BG/NBD: the chance that a buyer with ``x`` repeat orders, the last ``t_x`` days after the first, first
    ordering ``T`` days ago, has not dropped out."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        log_odds = (np.log(fit.a) - np.log(fit.b + x - 1)
                    + (fit.r + x) * (np.log(fit.alpha + T) - np.log(fit.alpha + t_x)))
        out = 1.0 / (1.0 + np.where(x > 0, np.exp(log_odds), 0.0))
    return out


def expected_orders(fit: BtydFit, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """BG/NBD: the expected number of orders in the next ``t`` days (equation 10 of Fader, Hardie and Lee 2005)."""
    x = np.asarray(x, dtype=np.float64)
    a, b, r, alpha = fit.a, fit.b, fit.r, fit.alpha
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        log_shrink = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
        numerator = 1.0 - np.exp(log_shrink) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        numerator *= (a + b + x - 1) / (a - 1)
        denominator = 1.0 + np.where(x > 0, np.exp(np.log(a) - np.log(b + x - 1)
                                                    + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))), 0.0)
        out = numerator / denominator
    return np.where(np.isfinite(out), np.maximum(out, 0.0), np.nan)


def expected_order_value(fit: BtydFit, x: np.ndarray, repeat_value_mean: np.ndarray) -> np.ndarray:
    """Gamma-Gamma: a buyer's expected order value, its own average of repeat orders shrunk toward the population's
    (``fit.spend_fallback`` where the model is undefined: no fit, or no repeat order while ``q <= 1``)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), fit.spend_fallback, dtype=np.float64)
    if fit.p is None or fit.q is None or fit.v is None:
        return out
    p, q, v = fit.p, fit.q, fit.v
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = p * x + q - 1
        value = p * (v + x * np.nan_to_num(repeat_value_mean)) / denominator
    defined = (denominator > 0) & np.isfinite(value) & (value > 0)
    out[defined] = value[defined]
    return out


def fit_for(fits: tuple[BtydFit, ...], seconds: np.ndarray) -> np.ndarray:
    """Per query second, the position in ``fits`` of the latest fit with ``fitted_before <= as-of`` (-1: none)."""
    cut = np.array([int(pd.Timestamp(f.fitted_before).value // 1_000_000_000) for f in fits], dtype=np.int64)
    order = np.argsort(cut, kind="stable")
    chosen = np.searchsorted(cut[order], seconds, side="right") - 1
    return np.where(chosen >= 0, order[np.maximum(chosen, 0)], -1)


def order_features(revenue: pd.DataFrame, queries: Queries, config: FeatureConfig) -> pd.DataFrame:
    specs = order_specs(config)
    if not specs:
        return pd.DataFrame(index=range(len(queries)))
    h = order_history(revenue, queries)
    with np.errstate(invalid="ignore", divide="ignore"):
        overdue = h["since_last"] / h["gap_mean"]
    columns = {
        "repeat_orders": h["x"].astype(np.float64),
        "order_value_mean": h["value_mean"], "order_value_spread": h["value_spread"],
        "days_between_orders": h["gap_mean"], "days_between_orders_spread": h["gap_spread"],
        "order_overdue": overdue, "revenue_total": h["total"],
    }
    fits = config.orders.fits
    if fits:
        chosen = fit_for(fits, queries.seconds)
        alive, orders, revenue_expected = (np.full(len(queries), np.nan) for _ in range(3))
        for i, fit in enumerate(fits):
            rows = (chosen == i) & (h["n"] > 0)
            if not rows.any():
                continue
            x, t_x, T = h["x"][rows], h["t_x"][rows], h["T"][rows]
            alive[rows] = p_alive(fit, x, t_x, T)
            orders[rows] = expected_orders(fit, x, t_x, T, config.orders.horizon_days)
            revenue_expected[rows] = orders[rows] * expected_order_value(fit, x, h["repeat_value_mean"][rows])
        columns |= {"btyd_p_alive": alive, "btyd_expected_orders": orders, "btyd_expected_revenue": revenue_expected}
    return check_schema(pd.DataFrame(columns), specs, builder="order_features")
