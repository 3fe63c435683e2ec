"""Purchase and pipeline features: recency / frequency / monetary value of revenue, deals and leads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.features._queries import Queries
from b2bscore.features._window import days_between
from b2bscore.features.config import FeatureConfig
from b2bscore.features.specs import FeatureSpec, check_schema


def purchase_specs(config: FeatureConfig) -> list[FeatureSpec]:
    lookback = config.customer_lookback_days
    return [
        FeatureSpec("is_customer", "behavioural", "bool", f"Is a paying customer (invoiced in the last {lookback} days)"),
        FeatureSpec("revenue_90d", "behavioural", "float", "Revenue invoiced in the last 90 days", unit="money"),
        FeatureSpec("revenue_365d", "behavioural", "float", "Revenue invoiced in the last 365 days", unit="money"),
        FeatureSpec("invoices_365d", "behavioural", "float", "Invoices in the last 365 days", unit="count"),
        FeatureSpec("revenue_trend", "behavioural", "float", "Revenue trend: last 90 days vs the 90 days before",
                    unit="change"),
        FeatureSpec("days_since_last_invoice", "behavioural", "float", "Days since the last invoice", unit="days"),
        FeatureSpec("customer_tenure_days", "behavioural", "float", "Days since the first invoice", unit="days"),
        FeatureSpec("won_deals", "behavioural", "float", "Deals won so far", unit="count"),
        FeatureSpec("won_amount_total", "behavioural", "float", "Total value of deals won so far", unit="money"),
        FeatureSpec("lost_deals", "behavioural", "float", "Deals lost so far", unit="count"),
        FeatureSpec("open_opportunities", "behavioural", "float", "Open sales opportunities", unit="count"),
        FeatureSpec("days_since_last_won", "behavioural", "float", "Days since the last won deal", unit="days"),
        FeatureSpec("leads_90d", "behavioural", "float", "New leads at the company in the last 90 days", unit="count"),
        FeatureSpec("leads_total", "behavioural", "float", "Leads at the company so far", unit="count"),
    ]


def _revenue(revenue: pd.DataFrame, queries: Queries, config: FeatureConfig) -> dict[str, np.ndarray]:
    index, positions = queries.index_events(revenue, revenue["invoice_at"], lookback_days=None)
    amount = revenue["amount"].to_numpy(dtype=np.float64)[positions]
    w90, w180, w365 = (queries.window(index, d) for d in (90, 180, 365))
    everything = queries.window(index, None)
    recent = queries.window(index, config.customer_lookback_days)
    rev_90, rev_180 = index.window_sum(amount, w90), index.window_sum(amount, w180)
    return {
        "is_customer": recent.counts > 0,
        "revenue_90d": rev_90,
        "revenue_365d": index.window_sum(amount, w365),
        "invoices_365d": w365.counts,
        "revenue_trend": np.log((rev_90 + 1.0) / (rev_180 - rev_90 + 1.0)),
        "days_since_last_invoice": days_between(queries.seconds, index.last_seconds(everything)),
        "customer_tenure_days": days_between(queries.seconds, index.first_seconds(everything)),
    }


def _deals(opportunities: pd.DataFrame, queries: Queries) -> dict[str, np.ndarray]:
    """Outcomes are known at ``closed_at``; before that a deal counts as open."""
    closed = opportunities[opportunities["closed_at"].notna()]
    won = closed[closed["stage"] == "won"]
    lost = closed[closed["stage"] == "lost"]
    won_index, won_pos = queries.index_events(won, won["closed_at"], lookback_days=None)
    lost_index, _ = queries.index_events(lost, lost["closed_at"], lookback_days=None)
    created_index, _ = queries.index_events(opportunities, opportunities["created_at"], lookback_days=None)
    closed_index, _ = queries.index_events(closed, closed["closed_at"], lookback_days=None)
    won_window = queries.window(won_index, None)
    return {
        "won_deals": won_window.counts,
        "won_amount_total": won_index.window_sum(won["amount"].to_numpy(dtype=np.float64)[won_pos], won_window),
        "lost_deals": queries.window(lost_index, None).counts,
        "open_opportunities": queries.window(created_index, None).counts - queries.window(closed_index, None).counts,
        "days_since_last_won": days_between(queries.seconds, won_index.last_seconds(won_window)),
    }


def _leads(leads: pd.DataFrame, queries: Queries) -> dict[str, np.ndarray]:
    index, _ = queries.index_events(leads, leads["created_at"], lookback_days=None)
    return {"leads_90d": queries.window(index, 90).counts, "leads_total": queries.window(index, None).counts}


def purchase_features(revenue: pd.DataFrame, opportunities: pd.DataFrame, leads: pd.DataFrame,
                      queries: Queries, config: FeatureConfig) -> pd.DataFrame:
    columns = {**_revenue(revenue, queries, config), **_deals(opportunities, queries), **_leads(leads, queries)}
    return check_schema(pd.DataFrame(columns), purchase_specs(config), builder="purchase_features")
