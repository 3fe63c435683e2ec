"""The tier backtest: each tier's conversion, revenue and churn in the days after the segmentation date, whether
they are ordered, and when the backtest becomes possible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_segments_factories import kpi_dataset

from b2bscore.errors import DataError
from b2bscore.segments.backtest import backtest_tiers

TIERS = ("Tier 1", "Tier 2", "Tier 3")


def assignments() -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"], "tier": ["Tier 1", "Tier 1", "Tier 2", "Tier 2"],
                         "customer_status": ["prospect", "customer", "customer", "former customer"]})


def test_outcomes_per_tier_in_the_days_after_the_segmentation_date():
    """Over [2024-03-01, 2024-05-30): A1 wins O1 on 12 March and pays 2,000 in April and May; A2 pays nothing
    (churned); A3 pays 500 in May; A4, a former customer, counts among the prospects and neither wins nor pays."""
    result = backtest_tiers(assignments(), kpi_dataset(), "2024-03-01", tier_order=TIERS, horizon_days=90)
    assert result.available and result.days_to_wait == 0
    assert result.window_end == pd.Timestamp("2024-05-30")
    rows = result.rows.set_index("tier")
    assert rows.index.tolist() == ["Tier 1", "Tier 2"]
    assert rows.loc["Tier 1", ["prospects", "converted", "conversion_rate"]].tolist() == [1, 1, 1.0]
    assert rows.loc["Tier 2", ["prospects", "converted", "conversion_rate"]].tolist() == [1, 0, 0.0]
    assert rows.loc["Tier 1", "revenue_per_account"] == 2000.0 and rows.loc["Tier 2", "revenue_per_account"] == 250.0
    assert rows.loc["Tier 1", ["customers", "churned", "churn_rate"]].tolist() == [1, 1, 1.0]
    assert rows.loc["Tier 2", "churn_rate"] == 0.0
    assert result.ordered == {"conversion_rate": True, "revenue_per_account": True, "churn_rate": False}
    verdict = result.verdict()
    assert verdict.startswith("The tiers are ordered (Tier 1 > Tier 2) on conversion and revenue per account, "
                              "but not on churn")
    payload = result.to_dict()
    assert payload["available"] and payload["tiers"][0]["tier"] == "Tier 1" and payload["verdict"] == verdict


def test_a_tier_without_prospects_is_not_judged_on_conversion():
    frame = assignments().assign(customer_status=["customer", "customer", "customer", "former customer"])
    result = backtest_tiers(frame, kpi_dataset(), "2024-03-01", tier_order=TIERS)
    assert np.isnan(result.rows.set_index("tier").loc["Tier 1", "conversion_rate"])
    assert result.ordered["conversion_rate"] is None and "Not judged for conversion" in result.verdict()


def test_without_data_after_the_date_it_says_when_the_backtest_becomes_possible():
    """The data's last event is O4's closing on 2024-08-01; 90 days after 2024-07-01 is 2024-09-29."""
    result = backtest_tiers(assignments(), kpi_dataset(), "2024-07-01", tier_order=TIERS, horizon_days=90)
    assert not result.available and result.days_to_wait == 58 and result.ordered == {}
    assert "possible after 58 more days of data" in result.verdict()


def test_missing_columns_are_named():
    with pytest.raises(DataError, match="customer_status"):
        backtest_tiers(assignments().drop(columns="customer_status"), kpi_dataset(), "2024-03-01", tier_order=TIERS)
