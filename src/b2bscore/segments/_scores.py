"""The three numbers tiers are built from: fit, propensity and value, from model scores or a fallback.

* ``fit``: the ICP fit score (0-100).
* ``propensity``: the chance of the good outcome -- winning a first deal for a prospect (``p_win``, the account
  propensity model's probability, for every prospect whether or not it has an open lead; a lead's own ``p_convert``
  stays on the lead), staying for a customer (``1 - p_churn``). ``churn_risk`` keeps ``p_churn`` for customers.
* ``status``: ``customer`` (paying now), ``former customer`` (won a deal or paid before, not paying now) or
  ``prospect`` (never).
* ``value``: predicted CLTV for a customer; for a prospect, the median value of current customers
  in its size band (what it would be worth as a customer -- propensity already carries the odds).

Where a score is missing (no model, or a prospect without an open lead) a heuristic proxy from
recent behaviour and intent, or revenue, takes its place; ``propensity_source`` and ``value_source``
record which was used per account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.errors import DataError
from b2bscore.model.scoring import prospect_mask
from b2bscore.segments.config import ProxyConfig

SCORE_COLUMNS: tuple[str, ...] = ("p_convert", "p_win", "p_churn", "cltv_pred")
MODEL_SCORES: tuple[str, ...] = ("p_win", "p_churn", "cltv_pred")
"""The scores tiers are built from (``p_convert`` describes a lead, not its account)."""


@dataclass(frozen=True)
class DerivedScores:
    """Per account (rows aligned with the features): the derived columns, whether everything is a fallback, and notes."""

    frame: pd.DataFrame
    fallback: bool
    notes: tuple[str, ...]


def derive_scores(features: pd.DataFrame, scores: pd.DataFrame | None, config: ProxyConfig) -> DerivedScores:
    """Fit, propensity, value and their sources for every row of ``features``."""
    given = _align_scores(features, scores)
    customer = features["is_customer"].to_numpy(dtype=bool)
    prospect_proxy = _prospect_proxy(features, config)
    risk_proxy = _risk_proxy(features, config)
    p_convert, p_win, p_churn, cltv = (given[c].to_numpy(dtype=np.float64) for c in SCORE_COLUMNS)

    churn_risk = np.where(customer, np.where(np.isnan(p_churn), risk_proxy, p_churn), np.nan)
    propensity = np.where(customer, 1.0 - churn_risk, np.where(np.isnan(p_win), prospect_proxy, p_win))
    propensity_source = np.where(
        customer, np.where(np.isnan(p_churn), "health proxy", "1 - p_churn"),
        np.where(np.isnan(p_win), "behaviour and intent proxy", "p_win"),
    ).astype(object)
    value, value_source = _value(features, customer, cltv)
    frame = pd.DataFrame({
        "account_id": features["account_id"].to_numpy(dtype=object),
        "fit": features["icp_fit_score"].to_numpy(dtype=np.float64),
        "propensity": propensity,
        "value": value,
        "churn_risk": churn_risk,
        "p_convert": p_convert,
        "p_win": p_win,
        "p_churn": p_churn,
        "cltv_pred": cltv,
        "propensity_source": propensity_source,
        "value_source": value_source,
        "status": _status(features, customer),
    })
    missing = [c for c in MODEL_SCORES if np.isnan(given[c].to_numpy(dtype=np.float64)).all()]
    fallback = len(missing) == len(MODEL_SCORES)
    notes = []
    if fallback:
        notes.append("no model scores: fell back to fit and behaviour only -- propensity from recent behaviour and "
                     "intent (customers: a health proxy), value from revenue and look-alike customers")
    elif missing:
        notes.append(f"no {', '.join(missing)} scores: those parts use the fit-and-behaviour fallback")
    return DerivedScores(frame=frame, fallback=fallback, notes=tuple(notes))


def _status(features: pd.DataFrame, customer: np.ndarray) -> np.ndarray:
    """customer (paying now), former customer (won a deal or paid before), prospect (never)."""
    return np.where(customer, "customer", np.where(prospect_mask(features), "prospect", "former customer")).astype(object)


def _align_scores(features: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    ids = features["account_id"].to_numpy(dtype=object)
    out = pd.DataFrame({c: np.full(len(ids), np.nan) for c in SCORE_COLUMNS})
    if scores is None:
        return out
    if "account_id" not in scores.columns:
        raise DataError(f"scores need an 'account_id' column (columns: {', '.join(map(str, scores.columns))})")
    if scores["account_id"].duplicated().any():
        dupes = ", ".join(map(str, scores.loc[scores["account_id"].duplicated(), "account_id"].head(5)))
        raise DataError(f"scores hold more than one row per account (e.g. {dupes})")
    indexed = scores.set_index("account_id")
    for column in SCORE_COLUMNS:
        if column not in indexed.columns:
            continue
        values = pd.to_numeric(indexed[column], errors="coerce").reindex(ids).to_numpy(dtype=np.float64)
        if column != "cltv_pred" and ((values < 0) | (values > 1)).any():
            raise DataError(f"scores.{column} must be a probability between 0 and 1")
        out[column] = values
    return out


def _column(features: pd.DataFrame, name: str) -> np.ndarray:
    if name == "negative_product_usage_trend":
        return np.clip(-features["product_usage_trend"].to_numpy(dtype=np.float64), 0, None)
    if name == "negative_revenue_trend":
        return np.clip(-features["revenue_trend"].to_numpy(dtype=np.float64), 0, None)
    return np.nan_to_num(features[name].to_numpy(dtype=np.float64))


def _prospect_proxy(features: pd.DataFrame, config: ProxyConfig) -> np.ndarray:
    points = sum((w * _column(features, c) for c, w in config.prospect_weights.items()), np.zeros(len(features)))
    points = np.clip(points, 0, None)
    return np.clip(points / (points + config.half_points), config.floor, 1 - config.floor)


def _risk_proxy(features: pd.DataFrame, config: ProxyConfig) -> np.ndarray:
    risk = sum((w * np.clip(_column(features, c), 0, None) for c, w in config.customer_risk_weights.items()),
               np.zeros(len(features)))
    return np.clip(risk / (risk + config.half_risk), config.floor, 1 - config.floor)


def _value(features: pd.DataFrame, customer: np.ndarray, cltv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    run_rate = np.maximum(features["revenue_365d"].to_numpy(dtype=np.float64),
                          4.0 * features["revenue_90d"].to_numpy(dtype=np.float64))
    value = np.where(customer, np.where(np.isnan(cltv), run_rate, cltv), np.nan)
    source = np.where(customer, np.where(np.isnan(cltv), "revenue run-rate", "cltv_pred"), "").astype(object)
    band = features["size_band"].to_numpy(dtype=object)
    if customer.any():
        typical = pd.Series(value[customer]).groupby(band[customer]).median()
        lookalike = pd.Series(band).map(typical).to_numpy(dtype=np.float64)
        lookalike = np.where(np.isnan(lookalike), np.nanmedian(value[customer]), lookalike)
        value = np.where(customer, value, lookalike)
        source[~customer] = "look-alike customers"
    else:
        value = np.where(customer, value, np.expm1(features["log_employees"].to_numpy(dtype=np.float64)))
        source[~customer] = "company size (no customers to compare)"
    return value, source
