"""Builders shared by the segment tests (no tests here): feature rows and a tiny KPI data set, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.features import FeatureConfig, feature_specs

T = pd.Timestamp
_DEFAULTS = {"float": 0.0, "int": 0, "bool": False}
_CATEGORIES = {"size_band": "200_999", "revenue_band": "10m_100m", "industry": "software", "region": "emea",
               "ownership": "private", "funding_stage": "series_b", "intent_top_topic": "none", "icp_flags": ""}


def feature_rows(n: int, **columns) -> pd.DataFrame:
    """``n`` accounts A01.. with every declared account feature at a neutral value, then ``columns`` set."""
    frame = pd.DataFrame({"account_id": [f"A{i + 1:02d}" for i in range(n)], "as_of": T("2024-04-01")})
    for spec in feature_specs(FeatureConfig()):
        default = _DEFAULTS.get(spec.dtype, _CATEGORIES.get(spec.name, "unknown"))
        frame[spec.name] = pd.Series([default] * n, dtype=object if spec.dtype in ("category", "string") else None)
    frame["log_employees"] = np.log1p(500.0)
    for name, values in columns.items():
        frame[name] = values
    return frame


def kpi_dataset() -> Dataset:
    """Four accounts; as of 2024-07-01 with a 182-day window the KPI window is [2024-01-01, 2024-07-01).

    A1: prospect at the start, wins O1 (31-day cycle) and starts paying 2,000 a month in April.
    A2: customer at the start (invoices Nov-Feb), loses O2, wins O3 (91 days), stops paying: churned.
    A3: customer at the start, still paying; O4 opened in the window, closes (won) only after as-of.
    A4: prospect, one open opportunity O5, no leads.
    """
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2", "A3", "A4"], "name": ["One", "Two", "Three", "Four"],
        "industry": ["software"] * 4, "employees": [300.0] * 4, "annual_revenue": [5e7] * 4,
        "country": ["US"] * 4, "region": ["north_america"] * 4, "founded_year": [2010.0] * 4,
        "ownership": ["private"] * 4, "funding_stage": ["series_b"] * 4,
    })
    leads = pd.DataFrame({
        "lead_id": ["L0", "L1", "L2", "L3", "L4"], "account_id": ["A1", "A1", "A1", "A2", "A3"],
        "created_at": [T("2023-06-01"), T("2024-02-01"), T("2024-03-01"), T("2024-02-15"), T("2024-03-01")],
        "source": ["organic"] * 5, "job_title": [None] * 5, "buying_role": [None] * 5,
    })
    opportunities = pd.DataFrame({
        "opportunity_id": ["O1", "O2", "O3", "O4", "O5"], "account_id": ["A1", "A2", "A2", "A3", "A4"],
        "lead_id": ["L1", "L3", None, "L4", None],
        "created_at": [T("2024-02-10"), T("2024-02-20"), T("2024-03-01"), T("2024-03-05"), T("2024-06-01")],
        "closed_at": [T("2024-03-12"), T("2024-04-20"), T("2024-05-31"), T("2024-08-01"), pd.NaT],
        "stage": ["won", "lost", "won", "won", "open"],
        "amount": [10000.0, 5000.0, 30000.0, 8000.0, 2000.0],
    })
    revenue = pd.DataFrame({
        "account_id": ["A2", "A2", "A2", "A2", "A3", "A3", "A3", "A1", "A1", "A1", "A1"],
        "invoice_at": [T("2023-11-01"), T("2023-12-01"), T("2024-01-01"), T("2024-02-01"), T("2023-12-15"),
                       T("2024-05-01"), T("2024-06-01"), T("2024-04-01"), T("2024-05-01"), T("2024-06-01"),
                       T("2024-07-15")],
        "amount": [1000.0, 1000.0, 1000.0, 1000.0, 500.0, 500.0, 500.0, 2000.0, 2000.0, 2000.0, 5000.0],
    })
    return Dataset(accounts=accounts, leads=leads, opportunities=opportunities, revenue=revenue)
