"""Behavioural features from activities: counts, recency-weighted intensity, trends, engagement.

Every count uses events strictly before the as-of time. Windows are ``[as_of - w, as_of)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.data.contract import ACTIVITY_TYPES
from b2bscore.features._queries import Queries
from b2bscore.features._window import days_between
from b2bscore.features.config import FeatureConfig
from b2bscore.features.specs import BUYING_SIGNAL, FeatureSpec, check_schema

ACTIVITY_KINDS = (*ACTIVITY_TYPES, "other")
_PHRASES = {
    "web_visit": "web visits",
    "pricing_page_view": "pricing-page views",
    "content_download": "content downloads",
    "email_open": "email opens",
    "email_click": "email clicks",
    "webinar_attended": "webinars attended",
    "demo_request": "demo requests",
    "product_login": "product logins",
    "support_ticket": "support tickets",
    "other": "other engagement events",
}


_EFFECTS: dict[str, dict[str, str]] = {
    # buying signals: they burst while an account is in market (the synthetic world's generator draws them so)
    **{kind: BUYING_SIGNAL for kind in ("demo_request", "pricing_page_view", "webinar_attended",
                                              "content_download", "email_click")},
    # customer health: usage falls and tickets rise while a customer is at risk of leaving
    "product_login": {"churn": "down"},
    "support_ticket": {"churn": "up"},
}
"""The activity kinds whose direction is beyond doubt, per task (counts and intensities alike)."""


def behaviour_specs(config: FeatureConfig) -> list[FeatureSpec]:
    specs = [
        FeatureSpec(f"{kind}_{w}d", "behavioural", "float", f"{_PHRASES[kind].capitalize()} in the last {w} days",
                    unit="count", effect=_EFFECTS.get(kind, {}))
        for kind in ACTIVITY_KINDS
        for w in config.windows_days
    ]
    longest = config.windows_days[-1]
    specs += [
        FeatureSpec(f"{kind}_intensity", "behavioural", "float",
                    f"Recency-weighted {_PHRASES[kind]} over the last {longest} days (recent ones count more)",
                    unit="number", effect=_EFFECTS.get(kind, {}))
        for kind in ACTIVITY_KINDS
    ]
    specs += [
        FeatureSpec("activity_total_30d", "behavioural", "float", "All engagement events in the last 30 days",
                    unit="count"),
        FeatureSpec("activity_trend", "behavioural", "float", "Engagement trend: last 30 days vs the 60 days before",
                    unit="change"),
        FeatureSpec("days_since_last_activity", "behavioural", "float", "Days since the last engagement event",
                    unit="days"),
        FeatureSpec("email_click_rate_90d", "behavioural", "float", "Email clicks per email open in the last 90 days",
                    unit="percent"),
        FeatureSpec("product_usage_minutes_30d", "behavioural", "float", "Minutes of product usage in the last 30 days",
                    unit="count", effect={"churn": "down"}),
        FeatureSpec("product_usage_trend", "behavioural", "float",
                    "Product-usage trend: last 30 days vs the 60 days before", unit="change", effect={"churn": "down"}),
        FeatureSpec("engaged_leads_90d", "behavioural", "float", "Distinct people engaged in the last 90 days",
                    unit="count"),
        FeatureSpec("engaged_roles_90d", "behavioural", "float",
                    "Distinct buying-committee roles engaged in the last 90 days", unit="count"),
    ]
    return specs


def _trend(recent_30: np.ndarray, previous_60: np.ndarray) -> np.ndarray:
    """Log ratio of the last 30 days' rate to the previous 60 days' rate (0: flat)."""
    return np.log((recent_30 + 1.0) / (previous_60 / 2.0 + 1.0))


def activity_kind_codes(activity_type: pd.Series) -> np.ndarray:
    """Code of each activity's kind in ``ACTIVITY_KINDS``; unknown types map to 'other'."""
    codes = pd.Categorical(activity_type, categories=ACTIVITY_TYPES).codes.astype(np.int64)
    codes[codes < 0] = len(ACTIVITY_TYPES)
    return codes


def behaviour_features(activities: pd.DataFrame, leads: pd.DataFrame, queries: Queries, config: FeatureConfig) -> pd.DataFrame:
    n, n_kinds = len(queries), len(ACTIVITY_KINDS)
    longest = max(config.windows_days[-1], 90)
    index, positions = queries.index_events(activities, activities["occurred_at"], lookback_days=None)
    window = queries.window(index, longest)
    query, position = index.pairs(window)
    event = positions[index.rows[position]]  # rows of ``activities``
    kind = activity_kind_codes(activities["activity_type"].to_numpy(dtype=object)[event])
    age = days_between(queries.seconds[query], index.seconds[position])
    cell = query * n_kinds + kind

    def per_kind(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=weights, minlength=n * n_kinds).astype(np.float64).reshape(n, n_kinds)

    columns: dict[str, np.ndarray] = {}
    by_window = {w: per_kind((age <= w).astype(np.float64)) for w in sorted({*config.windows_days, 30, 90})}
    for k, name in enumerate(ACTIVITY_KINDS):
        for w in config.windows_days:
            columns[f"{name}_{w}d"] = by_window[w][:, k]
    intensity = per_kind(np.exp(-age / config.decay_days) * (age <= config.windows_days[-1]))
    for k, name in enumerate(ACTIVITY_KINDS):
        columns[f"{name}_intensity"] = intensity[:, k]

    total_30, total_90 = by_window[30].sum(axis=1), by_window[90].sum(axis=1)
    columns["activity_total_30d"] = total_30
    columns["activity_trend"] = _trend(total_30, total_90 - total_30)
    columns["days_since_last_activity"] = days_between(queries.seconds, index.last_seconds(queries.window(index, None)))
    opens = by_window[90][:, ACTIVITY_KINDS.index("email_open")]
    clicks = by_window[90][:, ACTIVITY_KINDS.index("email_click")]
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["email_click_rate_90d"] = np.where(opens > 0, clicks / opens, np.nan)

    minutes = np.nan_to_num(activities["value"].to_numpy(dtype=np.float64)[event])
    usage = np.where(kind == ACTIVITY_KINDS.index("product_login"), minutes, 0.0)
    usage_30 = np.bincount(query, weights=usage * (age <= 30), minlength=n).astype(np.float64)
    usage_90 = np.bincount(query, weights=usage * (age <= 90), minlength=n).astype(np.float64)
    columns["product_usage_minutes_30d"] = usage_30
    columns["product_usage_trend"] = _trend(usage_30, usage_90 - usage_30)
    recent = age <= 90
    columns["engaged_leads_90d"], columns["engaged_roles_90d"] = _committee(
        activities, leads, query[recent], event[recent], queries.as_of[query[recent]], n)
    return check_schema(pd.DataFrame(columns), behaviour_specs(config), builder="behaviour_features")


def _committee(activities: pd.DataFrame, leads: pd.DataFrame, query: np.ndarray, event: np.ndarray,
               as_of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct leads, and distinct buying roles among them, behind each query's events.

    A lead counts only once it exists at the query's as-of time (``as_of``, one per event): a CRM may attribute an
    earlier visit to a lead created later, which was not known then."""
    lead_codes = pd.Index(leads["lead_id"].to_numpy(dtype=object)).get_indexer(activities["lead_id"].to_numpy(dtype=object)[event])
    created = leads["created_at"].to_numpy(dtype="datetime64[ns]")
    known = lead_codes >= 0
    known[known] = created[lead_codes[known]] < as_of[known]
    n_leads = max(len(leads), 1)
    engaged = np.unique(query[known] * n_leads + lead_codes[known])
    engaged_query, engaged_lead = engaged // n_leads, engaged % n_leads
    role_codes, roles = pd.factorize(leads["buying_role"].to_numpy(dtype=object))
    lead_role = role_codes[engaged_lead]
    has_role = lead_role >= 0
    distinct_roles = np.unique(engaged_query[has_role] * max(len(roles), 1) + lead_role[has_role]) // max(len(roles), 1)
    return (np.bincount(engaged_query, minlength=n).astype(np.float64),
            np.bincount(distinct_roles, minlength=n).astype(np.float64))
