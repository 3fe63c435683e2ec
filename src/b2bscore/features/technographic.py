"""Technographic features: the stack a company runs at the as-of time.

A technology is in use at ``as_of`` when it was first seen before ``as_of`` and not
last seen before ``as_of`` (a ``last_seen_at`` at or after ``as_of`` is not yet known).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.data.contract import TECH_CATEGORIES
from b2bscore.features._queries import Queries
from b2bscore.features._window import days_between
from b2bscore.features.config import TechConfig
from b2bscore.features.specs import FeatureSpec, check_schema

_CATEGORY_LABELS = {"marketing_automation": "marketing-automation", "data_warehouse": "data-warehouse"}


def technographic_specs() -> list[FeatureSpec]:
    specs = [
        FeatureSpec(f"tech_{c}_count", "technographic", "float", f"Number of {_CATEGORY_LABELS.get(c, c)} tools in use",
                    unit="count")
        for c in TECH_CATEGORIES
    ]
    specs += [
        FeatureSpec("tech_total_count", "technographic", "float", "Number of technologies in use", unit="count"),
        FeatureSpec("legacy_stack", "technographic", "bool", "Runs a legacy on-premise stack"),
        FeatureSpec("uses_competitor", "technographic", "bool", "Uses a competitor's product"),
        FeatureSpec("modern_stack", "technographic", "bool", "Runs a modern cloud stack"),
        FeatureSpec("complementary_tools", "technographic", "float", "Number of complementary tools in use", unit="count"),
        FeatureSpec("days_since_tech_adoption", "technographic", "float", "Days since the company last adopted a technology",
                    unit="days"),
        FeatureSpec("tech_dropped_90d", "technographic", "float", "Technologies dropped in the last 90 days", unit="count"),
    ]
    return specs


def _in_use(tech: pd.DataFrame, queries: Queries, mask: np.ndarray | None = None) -> np.ndarray:
    """Per query: how many technographics rows (optionally only ``mask``) are in use."""
    table = tech if mask is None else tech[mask]
    if table.empty:
        return np.zeros(len(queries))
    adopted, _ = queries.index_events(table, table["first_seen_at"], lookback_days=None)
    last_seen = table["last_seen_at"]
    dropped_rows = last_seen.notna().to_numpy() & (last_seen >= table["first_seen_at"]).to_numpy()
    dropped_table = table[dropped_rows]
    dropped, _ = queries.index_events(dropped_table, dropped_table["last_seen_at"], lookback_days=None)
    return queries.window(adopted, None).counts - queries.window(dropped, None).counts


def technographic_features(tech: pd.DataFrame, queries: Queries, config: TechConfig) -> pd.DataFrame:
    technology = tech["technology"].to_numpy(dtype=object)
    category = tech["category"].to_numpy(dtype=object)
    known_category = np.isin(category, TECH_CATEGORIES)
    columns: dict[str, np.ndarray] = {}
    for cat in TECH_CATEGORIES:
        mask = (category == cat) | (~known_category if cat == "other" else False)
        columns[f"tech_{cat}_count"] = _in_use(tech, queries, mask)
    columns["tech_total_count"] = _in_use(tech, queries)
    columns["legacy_stack"] = _in_use(tech, queries, np.isin(technology, config.legacy)) > 0
    columns["uses_competitor"] = _in_use(tech, queries, np.isin(technology, config.competitor)) > 0
    columns["modern_stack"] = _in_use(tech, queries, np.isin(technology, config.modern)) >= config.modern_stack_min
    columns["complementary_tools"] = _in_use(tech, queries, np.isin(technology, config.complementary))

    adopted, _ = queries.index_events(tech, tech["first_seen_at"], lookback_days=None)
    last_adoption = adopted.last_seconds(queries.window(adopted, None))
    columns["days_since_tech_adoption"] = days_between(queries.seconds, last_adoption)
    dropped_table = tech[tech["last_seen_at"].notna()]
    dropped, _ = queries.index_events(dropped_table, dropped_table["last_seen_at"], lookback_days=90)
    columns["tech_dropped_90d"] = queries.window(dropped, 90).counts
    return check_schema(pd.DataFrame(columns), technographic_specs(), builder="technographic_features")
