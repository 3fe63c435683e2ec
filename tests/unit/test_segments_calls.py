"""The two call lists: prospects by expected value of winning them, customers by revenue at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.segments.calls import call_lists


def _assignments() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["P1", "P2", "P3", "P4", "C1", "C2", "C3", "F1"],
        "customer_status": ["prospect"] * 4 + ["customer"] * 3 + ["former customer"],
        "tier": ["Tier 2", "Tier 1", "Tier 3", "Tier 1", "Tier 1", "Tier 2", "Tier 3", "Tier 3"],
        "propensity": [0.10, 0.30, 0.05, 0.90, 0.95, 0.70, 0.80, 0.60],
        "p_win": [0.10, 0.30, 0.05, np.nan, np.nan, np.nan, np.nan, np.nan],
        "value": [100_000.4, 20_000.0, 1_000_000.0, 1_000.0, 50_000.0, 200_000.0, 10_000.0, 5_000.0],
        "churn_risk": [np.nan] * 4 + [0.05, 0.30, 0.20, np.nan],
        "reasons": ["r"] * 8,
    })


def _features() -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["P1", "P2", "P3", "P4", "C1", "C2", "C3", "F1"],
                         "revenue_trend": [0, 0, 0, 0, np.log(1.5), np.log(0.5), 0.0, 0]})


def test_prospects_are_ranked_by_expected_value_with_the_lead_to_call():
    leads = pd.DataFrame({"account_id": ["P3", "P1"], "lead_id": ["L9", "L1"], "p_convert": [0.21234, 0.4]})
    names = pd.Series({"P1": "Acme", "P2": "Beta", "P3": "Gamma", "P4": "Delta"})
    lists = call_lists(_assignments(), _features(), names, leads)
    prospects = lists.prospects
    # expected value: P3 50,000 > P1 10,000 > P2 6,000 > P4 (proxy 0.9) 900
    assert list(prospects["account_id"]) == ["P3", "P1", "P2", "P4"] and list(prospects["rank"]) == [1, 2, 3, 4]
    assert prospects["expected_value"].tolist() == [50_000.0, 10_000.0, 6_000.0, 900.0]
    assert prospects.loc[0, "lead_to_call"] == "L9" and prospects.loc[0, "lead_chance"] == 0.212
    assert prospects.loc[0, "company"] == "Gamma" and prospects.loc[1, "first_year_value"] == 100_000.0
    assert list(prospects["chance_source"]) == ["propensity model"] * 3 + ["behaviour and intent proxy"]
    assert "F1" not in set(prospects["account_id"]) | set(lists.customers["account_id"])  # a win-back is apart


def test_customers_are_ranked_by_revenue_at_risk_with_expansion():
    customers = call_lists(_assignments(), _features()).customers
    # at risk: C2 60,000 > C1 2,500 = C3 2,000
    assert list(customers["account_id"]) == ["C2", "C1", "C3"]
    assert customers["value_at_risk"].tolist() == [60_000.0, 2_500.0, 2_000.0]
    assert customers.set_index("account_id")["expansion"].to_dict() == {"C2": "no", "C1": "yes", "C3": "no"}
    assert customers.set_index("account_id").loc["C1", "revenue_growth"] == 0.5
