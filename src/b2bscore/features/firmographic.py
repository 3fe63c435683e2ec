"""Firmographic features: who the company is (size, revenue, industry, region, age, ownership)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.features._queries import Queries
from b2bscore.features.specs import FeatureSpec, check_schema

SIZE_BANDS = ((0, "1_49"), (50, "50_199"), (200, "200_999"), (1000, "1000_4999"), (5000, "5000_plus"))
REVENUE_BANDS = ((0, "under_1m"), (1e6, "1m_10m"), (1e7, "10m_100m"), (1e8, "100m_1b"), (1e9, "over_1b"))
UNKNOWN = "unknown"

SPECS = [
    FeatureSpec("log_employees", "firmographic", "float", "Employees at the company", unit="count", log=True),
    FeatureSpec("log_annual_revenue", "firmographic", "float", "Annual revenue of the company", unit="money", log=True),
    FeatureSpec("size_band", "firmographic", "category", "Employee size band"),
    FeatureSpec("revenue_band", "firmographic", "category", "Annual revenue band"),
    FeatureSpec("industry", "firmographic", "category", "Industry"),
    FeatureSpec("region", "firmographic", "category", "Sales region"),
    FeatureSpec("ownership", "firmographic", "category", "Ownership type"),
    FeatureSpec("funding_stage", "firmographic", "category", "Latest funding stage"),
    FeatureSpec("company_age_years", "firmographic", "float", "Years since the company was founded", unit="years"),
]


def band(values: np.ndarray, bands: tuple[tuple[float, str], ...]) -> np.ndarray:
    """Label each value with the band whose lower bound it reaches; NaN gets 'unknown'."""
    bounds = np.array([lower for lower, _ in bands])
    labels = np.array([label for _, label in bands] + [UNKNOWN], dtype=object)
    position = np.searchsorted(bounds, values, side="right") - 1
    position = np.where(np.isnan(values), len(bands), np.clip(position, 0, len(bands) - 1))
    return labels[position]


def _category(series: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The value of each query's account; unknown (an empty cell or an absent optional column) is 'unknown'."""
    values = series.to_numpy(dtype=object)[rows]
    return np.where(pd.isna(values), UNKNOWN, values).astype(object)


def firmographic_features(accounts: pd.DataFrame, queries: Queries) -> pd.DataFrame:
    """Features of the account row of each query; the as-of time only ages the company."""
    rows = queries.account_rows
    employees = accounts["employees"].to_numpy(dtype=np.float64)[rows]
    revenue = accounts["annual_revenue"].to_numpy(dtype=np.float64)[rows]
    founded = accounts["founded_year"].to_numpy(dtype=np.float64)[rows]
    as_of_year = pd.DatetimeIndex(queries.as_of).year.to_numpy(dtype=np.float64)
    frame = pd.DataFrame(
        {
            "log_employees": np.log1p(employees),
            "log_annual_revenue": np.log1p(revenue),
            "size_band": band(employees, SIZE_BANDS),
            "revenue_band": band(revenue, REVENUE_BANDS),
            "industry": _category(accounts["industry"], rows),
            "region": _category(accounts["region"], rows),
            "ownership": _category(accounts["ownership"], rows),
            "funding_stage": _category(accounts["funding_stage"], rows),
            "company_age_years": np.clip(as_of_year - founded, 0, None),
        }
    )
    return check_schema(frame, SPECS, builder="firmographic_features")
