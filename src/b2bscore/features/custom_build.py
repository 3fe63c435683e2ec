"""Features from the customer's own fields and from activity topics and values, as resolved in ``config.custom``.

A customer column is read from the row of its table (the account, or the lead) as it stands: a number as is, a
date as its age in days at the as-of time (unknown when at or after it), text as its category (values outside the
kept ones become 'other'). A column absent at scoring time, or a value of the wrong kind, is unknown (NaN or
None), never an error. Topic counts and value sums use activities strictly before the as-of time.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from b2bscore.features._queries import Queries
from b2bscore.features._window import days_between, to_seconds
from b2bscore.features.config import CustomColumn, FeatureConfig
from b2bscore.features.specs import FeatureSpec, check_schema

OTHER = "other"
VALUE_WINDOWS = (30, 90)
_NON_WORD = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"[\s_\-.]+")
_DATE_LIKE = r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}"


def slug(name: str) -> str:
    """``name`` as a feature-name part: lower case, runs of other characters as one '_'."""
    return _NON_WORD.sub("_", str(name).lower()).strip("_") or "column"


def humanise(name: str) -> str:
    """A column name as a salesperson reads it: 'landing_page_id' -> 'Landing page id'."""
    words = _SPACES.sub(" ", str(name)).strip().lower()
    return words[:1].upper() + words[1:]


def column_specs(config: FeatureConfig, table: str) -> list[FeatureSpec]:
    """One spec per resolved customer column of ``table`` ('accounts' or 'leads')."""
    return [_column_spec(c) for c in config.custom.columns if c.table == table]


def _column_spec(column: CustomColumn) -> FeatureSpec:
    label = humanise(column.column)
    if column.kind == "date":
        return FeatureSpec(column.feature, "custom", "float", f"Days since {label[:1].lower() + label[1:]}")
    return FeatureSpec(column.feature, "custom", "float" if column.kind == "number" else "category", label)


def activity_specs(config: FeatureConfig) -> list[FeatureSpec]:
    """Per resolved topic, its activity count in each window; then the summed activity value, when resolved."""
    specs = [
        FeatureSpec(topic_feature(topic, w), "behavioural", "float",
                    f"Activities on {topic.replace('_', ' ')} in the last {w} days", unit="count")
        for topic in config.custom.topics
        for w in config.windows_days
    ]
    if config.custom.activity_value:
        specs += [FeatureSpec(f"activity_value_{w}d", "behavioural", "float",
                              f"Total value of engagement events (minutes, pages viewed) in the last {w} days",
                              unit="number")
                  for w in VALUE_WINDOWS]
    return specs


def topic_feature(topic: str, days: int) -> str:
    return f"topic_{slug(topic)}_{days}d"


# -- values -------------------------------------------------------------------------------------------------------

def as_text(values: pd.Series) -> np.ndarray:
    """Stripped ``str`` values (object array); None where missing or empty."""
    out = np.full(len(values), None, dtype=object)
    present = values.notna().to_numpy()
    text = values[present].astype(str).str.strip().to_numpy(dtype=object)
    out[np.flatnonzero(present)] = np.where(text == "", None, text)
    return out


def as_number(values: pd.Series) -> np.ndarray:
    """Floats; NaN where missing or not a number."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    text = pd.Series(as_text(values), dtype=object)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)


def as_date(values: pd.Series) -> np.ndarray:
    """Timezone-naive UTC datetime64[ns]; NaT where missing or not a date. Text is parsed once per distinct value."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy(dtype="datetime64[ns]")
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    codes, uniques = pd.factorize(as_text(values))
    parsed = _parse_dates(pd.Series(uniques, dtype=object))
    return np.concatenate([parsed, np.array(["NaT"], dtype="datetime64[ns]")])[codes]


def _parse_dates(text: pd.Series) -> np.ndarray:
    """Each text as a date, in UTC without a time zone; NaT unless it parses and names its year (a year of four
    digits, or day, month and year): the parser would complete '1/2' with the current year."""
    looks = text.str.contains(_DATE_LIKE, regex=True).fillna(False).to_numpy(dtype=bool)
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    if looks.any():
        parsed = pd.to_datetime(text[looks], errors="coerce", format="mixed", utc=True)
        out[looks] = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return out


def categories_of(values: pd.Series, kept: tuple[str, ...]) -> np.ndarray:
    """The text of each value when it is a kept category, 'other' when not, None when missing."""
    text = as_text(values)
    out = np.where(pd.Index(kept, dtype=object).get_indexer(text) >= 0, text, OTHER).astype(object)
    out[pd.isna(text)] = None
    return out


# -- building -----------------------------------------------------------------------------------------------------

def column_features(table: pd.DataFrame, rows: np.ndarray, as_of: np.ndarray, config: FeatureConfig,
                    table_name: str) -> pd.DataFrame:
    """The resolved customer columns of ``table_name`` for ``table.iloc[rows]``, at ``as_of`` (one per row)."""
    specs = column_specs(config, table_name)
    columns: dict[str, np.ndarray] = {}
    for column in (c for c in config.custom.columns if c.table == table_name):
        if column.column in table.columns:
            values = table[column.column].iloc[rows].reset_index(drop=True)
        else:
            values = pd.Series([None] * len(rows), dtype=object)
        columns[column.feature] = _column_values(values, column, as_of)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)), columns=[s.name for s in specs])
    return check_schema(frame, specs, builder=f"custom features of {table_name}")


def _column_values(values: pd.Series, column: CustomColumn, as_of: np.ndarray) -> np.ndarray:
    if column.kind == "number":
        return as_number(values)
    if column.kind == "category":
        return categories_of(values, column.categories)
    dates = as_date(values)
    known = ~np.isnat(dates) & (dates < as_of)
    age = np.full(len(values), np.nan)
    age[known] = days_between(to_seconds(as_of[known]), to_seconds(dates[known]))
    return age


def activity_features(activities: pd.DataFrame, queries: Queries, config: FeatureConfig) -> pd.DataFrame:
    """Activity counts per resolved topic in each window, and the summed activity value over 30 and 90 days."""
    columns = _topic_counts(activities, queries, config)
    if config.custom.activity_value:
        index, positions = queries.index_events(activities, activities["occurred_at"], lookback_days=max(VALUE_WINDOWS))
        values = activities["value"].to_numpy(dtype=np.float64)[positions] if "value" in activities else np.zeros(len(positions))
        for w in VALUE_WINDOWS:
            columns[f"activity_value_{w}d"] = index.window_sum(values, queries.window(index, w))
    specs = activity_specs(config)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(queries)), columns=[s.name for s in specs])
    return check_schema(frame, specs, builder="activity topic and value features")


def _topic_counts(activities: pd.DataFrame, queries: Queries, config: FeatureConfig) -> dict[str, np.ndarray]:
    topics = config.custom.topics
    if not topics:
        return {}
    n, n_topics, longest = len(queries), len(topics), config.windows_days[-1]
    topic_values = activities["topic"] if "topic" in activities else pd.Series([None] * len(activities), dtype=object)
    codes = pd.Index(topics, dtype=object).get_indexer(topic_values.to_numpy(dtype=object))
    on_topic = np.flatnonzero(codes >= 0)
    subset = activities.iloc[on_topic]
    index, positions = queries.index_events(subset, subset["occurred_at"], lookback_days=longest)
    query, position = index.pairs(queries.window(index, longest))
    topic = codes[on_topic][positions][index.rows[position]]
    age = days_between(queries.seconds[query], index.seconds[position])
    columns = {}
    for w in config.windows_days:
        counts = np.bincount(query * n_topics + topic, weights=(age <= w).astype(np.float64), minlength=n * n_topics)
        for k, name in enumerate(topics):
            columns[topic_feature(name, w)] = counts.reshape(n, n_topics)[:, k].astype(np.float64)
    return columns
