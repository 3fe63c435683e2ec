"""Per-segment KPIs on a hand-made data set: every figure checked exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact, mannwhitneyu
from statsmodels.stats.multitest import multipletests
from test_segments_factories import kpi_dataset

from b2bscore.segments import segment_kpis
from b2bscore.segments.config import KpiConfig

AS_OF = pd.Timestamp("2024-07-01")
CONFIG = KpiConfig(window_days=182, churn_lookback_days=90, min_segment_size=2, min_customers=1)


def assignments() -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"], "tier": ["Tier 1", "Tier 1", "Tier 2", "Tier 2"],
                         "value": [100.0, 300.0, 50.0, 10.0], "cltv_pred": [np.nan, 900.0, 600.0, np.nan]})


def kpis(config: KpiConfig = CONFIG) -> pd.DataFrame:
    return segment_kpis(assignments(), kpi_dataset(), AS_OF, config, kinds=("tier",)).set_index("segment")


def test_window_is_stated_and_ends_at_as_of():
    frame = kpis()
    assert frame["window_start"].unique().tolist() == [pd.Timestamp("2024-01-01")]
    assert frame["window_end"].unique().tolist() == [AS_OF]


def test_funnel_kpis():
    tier1, tier2 = kpis().loc["Tier 1"], kpis().loc["Tier 2"]
    assert tier1["accounts"] == 2 and tier2["accounts"] == 2
    assert tier1["leads"] == 3  # L1, L2, L3 (L0 is before the window)
    assert tier1["lead_to_opportunity_rate"] == 2 / 3  # L1 -> O1, L3 -> O2
    assert tier2["leads"] == 1 and tier2["lead_to_opportunity_rate"] == 1.0  # L4 -> O4, opened before as-of
    assert tier1["opportunities_closed"] == 3 and tier1["win_rate"] == 2 / 3  # O1 won, O2 lost, O3 won
    assert tier1["avg_won_deal"] == 20000.0
    assert tier1["median_sales_cycle_days"] == 61.0  # O1 31 days, O3 91 days
    # O4 closes after as-of: it is still open then, and not a closed deal
    assert tier2["opportunities_closed"] == 0 and np.isnan(tier2["win_rate"]) and np.isnan(tier2["avg_won_deal"])
    assert tier2["open_pipeline"] == 10000.0 and tier2["pipeline_share"] == 1.0
    assert tier1["open_pipeline"] == 0.0 and tier1["pipeline_share"] == 0.0


def test_customer_kpis():
    tier1, tier2 = kpis().loc["Tier 1"], kpis().loc["Tier 2"]
    assert (tier1["prospects_at_start"], tier1["conversion_rate"]) == (1, 1.0)  # A1 won O1
    assert (tier2["prospects_at_start"], tier2["conversion_rate"]) == (1, 0.0)  # A4 did not
    assert (tier1["customers_at_start"], tier1["churn_rate"]) == (1, 1.0)  # A2 stopped paying in February
    assert tier1["customers_now"] == 1  # A1, paying since April
    assert (tier2["customers_at_start"], tier2["churn_rate"]) == (1, 0.0)  # A3 still pays
    assert tier1["avg_realised_revenue"] == (6000.0 + 2000.0) / 2  # A1 Apr-Jun, A2 Jan-Feb; A1's July invoice is later
    assert tier2["avg_realised_revenue"] == 1000.0
    assert tier1["avg_value"] == 200.0 and tier1["avg_predicted_cltv"] == 900.0


def test_statistical_checks_are_the_stated_tests():
    tier1 = kpis().loc["Tier 1"]
    assert tier1["conversion_test"] == "fisher"
    assert tier1["conversion_p"] == pytest.approx(fisher_exact([[1, 0], [0, 1]])[1])
    # realised revenue of paying accounts: A1, A2 against A3 (A4 paid nothing)
    assert tier1["value_p"] == pytest.approx(mannwhitneyu([6000.0, 2000.0], [1000.0]).pvalue)
    assert tier1["substantial"] and tier1["measurable"]
    # Benjamini-Hochberg over the four tests run (both tiers, conversion and revenue)
    tiers = kpis()
    p = np.concatenate([tiers["conversion_p"].to_numpy(), tiers["value_p"].to_numpy()])
    expected = multipletests(p, method="fdr_bh")[1]
    assert np.allclose(np.concatenate([tiers["conversion_q"], tiers["value_q"]]), expected)
    assert not tier1["differentiable"] and not tier1["flagged"]  # a flag marks a segment that stands out
    assert tier1["flag_reason"] == "not different from the rest (Benjamini-Hochberg q >= 0.05)"


def test_a_segment_below_the_minimum_size_is_never_flagged():
    frame = kpis(CONFIG.model_copy(update={"min_segment_size": 3}))
    assert frame.loc["Tier 1", "flag_reason"] == "too small to judge (2 < 3 accounts)"
    assert not frame["substantial"].any() and not frame["flagged"].any()
    assert frame["conversion_q"].isna().all()  # too small to act on: not tested, so no cost to the others' power


def test_the_csv_for_tools_holds_rounded_values():
    from b2bscore.segments.kpis import rounded_kpis

    frame = rounded_kpis(kpis().reset_index())
    tier1 = frame.set_index("segment").loc["Tier 1"]
    assert tier1["lead_to_opportunity_rate"] == 0.6667 and tier1["win_rate"] == 0.6667
    assert tier1["conversion_p"] == float(f"{kpis().loc['Tier 1', 'conversion_p']:.3g}")
    assert tier1["avg_won_deal"] == 20000.0
