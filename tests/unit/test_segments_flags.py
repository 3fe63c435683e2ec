"""Flags that mean something: a segment is flagged only when it is large enough and differs from the rest after a
Benjamini-Hochberg correction over every test run; churn is shown only where a segment has enough customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_segments_factories import kpi_dataset

from b2bscore.data.dataset import Dataset
from b2bscore.segments import segment_kpis
from b2bscore.segments.config import KpiConfig

AS_OF = pd.Timestamp("2024-07-01")
WON_AT = pd.Timestamp("2024-03-01")


def conversion_world() -> tuple[pd.DataFrame, Dataset]:
    """Prospects only (no revenue). 20 'null' segments of 40 accounts converting 8 each (20%); 'marginal': 40
    accounts, 17 converted (raw p about 0.016, not significant once 22 tests are corrected); 'strong': 40 accounts,
    28 converted; 'tiny': 10 accounts, 9 converted (significant, but below the minimum size)."""
    plan = [(f"null {i:02d}", 40, 8) for i in range(20)] + [("marginal", 40, 17), ("strong", 40, 28), ("tiny", 10, 9)]
    ids, segments, won = [], [], []
    for segment, size, converted in plan:
        for j in range(size):
            ids.append(f"{segment}-{j}")
            segments.append(segment)
            if j < converted:
                won.append(f"{segment}-{j}")
    n = len(ids)
    accounts = pd.DataFrame({"account_id": ids, "name": ids, "industry": "software", "employees": 300.0,
                             "annual_revenue": 5e7, "country": "US", "region": "north_america",
                             "founded_year": 2010.0, "ownership": "private", "funding_stage": "series_b"})
    opportunities = pd.DataFrame({
        "opportunity_id": [f"O{i}" for i in range(len(won))], "account_id": won, "lead_id": None,
        "created_at": WON_AT - pd.Timedelta(days=30), "closed_at": WON_AT, "stage": "won", "amount": 1000.0})
    assignments = pd.DataFrame({"account_id": ids, "tier": segments, "value": np.ones(n)})
    return assignments, Dataset(accounts=accounts, opportunities=opportunities)


def test_only_large_segments_that_differ_after_the_correction_are_flagged():
    assignments, data = conversion_world()
    kpis = segment_kpis(assignments, data, AS_OF, KpiConfig(min_segment_size=30), kinds=("tier",)).set_index("segment")
    assert kpis.loc["marginal", "conversion_p"] < 0.05  # raw: would pass without the correction
    assert kpis.loc["tiny", "conversion_p"] < 0.05  # significant, but too small to act on
    assert kpis.index[kpis["flagged"]].tolist() == ["strong"]
    assert kpis.loc["marginal", "conversion_q"] >= 0.05
    assert "conversion 70.0% vs" in kpis.loc["strong", "flag_reason"]
    assert not kpis.loc["tiny", "flagged"] and "too small" in kpis.loc["tiny", "flag_reason"]


def test_churn_is_shown_only_where_there_are_enough_current_customers():
    """'former' holds A2, a customer at the start of the window who stopped paying, and A4, a prospect: it has no
    customer now, so its 'churn' of 1 / 1 says nothing about customers; 'paying' (A1, A3) keeps its figure."""
    assignments = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"],
                                "tier": ["paying", "former", "paying", "former"], "value": [1.0] * 4})
    config = KpiConfig(window_days=182, churn_lookback_days=90, min_segment_size=1, min_customers=1)
    kpis = segment_kpis(assignments, kpi_dataset(), AS_OF, config, kinds=("tier",)).set_index("segment")
    assert kpis.loc["former", "customers_at_start"] == 1 and np.isnan(kpis.loc["former", "churn_rate"])
    assert kpis.loc["paying", "churn_rate"] == 0.0 and kpis.loc["paying", "customers_now"] == 2
