"""``resolve_custom_features``: which of the customer's own fields and activity topics become features.

Resolution reads only what was known before ``until`` (leads created before it, activities before it; accounts
have no time, so all of them) and writes its findings into the configuration, which models pickle: scoring then
builds exactly the same features without looking at the data again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from b2bscore.data.contract import TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.errors import ConfigError
from b2bscore.features.build import as_timestamp
from b2bscore.features.config import CUSTOM_TABLES, CustomColumn, CustomFeatures, FeatureConfig
from b2bscore.features.custom_build import OTHER, as_date, as_number, as_text, slug

log = logging.getLogger(__name__)

PARSE_SHARE = 0.95
"""Share of a text column's non-empty values that must parse as numbers (or dates) for it to count as such."""
ID_SHARE = 0.95
"""A column whose distinct values are at least this share of its non-empty values identifies rows."""


@dataclass(frozen=True)
class ActivitySummary:
    """What resolution needs of the activities before a time: how often each topic occurs and whether any activity
    has a value. Summaries of disjoint parts of the data (account buckets) add up to the whole data's, so a bucketed
    engine summarises one bucket at a time instead of holding every activity at once."""

    topic_counts: dict[str, int] = field(default_factory=dict)
    has_value: bool = False

    @classmethod
    def of(cls, activities: pd.DataFrame, until: pd.Timestamp) -> ActivitySummary:
        if "occurred_at" not in activities or not len(activities):
            return cls()
        known = activities[activities["occurred_at"] < as_timestamp(until)]
        counts = known["topic"].dropna().astype(str).value_counts() if "topic" in known else pd.Series(dtype=int)
        return cls(topic_counts={str(k): int(v) for k, v in counts.items()},
                   has_value=bool("value" in known and known["value"].notna().any()))

    def __add__(self, other: ActivitySummary) -> ActivitySummary:
        return ActivitySummary(topic_counts=dict(Counter(self.topic_counts) + Counter(other.topic_counts)),
                               has_value=self.has_value or other.has_value)


def resolve_custom_features(data: Dataset, config: FeatureConfig, until: pd.Timestamp, *,
                            activities: ActivitySummary | None = None) -> FeatureConfig:
    """``config`` with ``custom.columns``, ``custom.topics`` and ``custom.activity_value`` found in the data known
    before ``until``; the user settings (``include``, ``exclude``, ``min_count``, ...) are kept. Idempotent.
    ``activities``: the activities' summary before ``until`` when the caller made it part by part (``data`` then
    needs no activities table); by default it is made from ``data``.

    Skipped, with a log line each: identifier-like columns (about one distinct value per row), constant or
    empty ones. A column that ``include`` names but the data lacks is a :class:`ConfigError`.
    """
    settings, until = config.custom, as_timestamp(until)
    resolved: dict[str, object] = {"columns": (), "topics": (), "activity_value": False}
    if settings.enabled:
        tables = _training_tables(data, until)
        resolved["columns"] = _resolve_columns(tables, settings)
        if activities is None:
            activities = ActivitySummary.of(data.table_or_empty("activities"), until)
        resolved["topics"] = _top_topics(activities.topic_counts, settings.max_topics)
        resolved["activity_value"] = activities.has_value
    return config.model_copy(update={"custom": settings.model_copy(update=resolved)})


def extra_columns(frame: pd.DataFrame, table: str) -> list[str]:
    """The columns of ``frame`` that the data contract does not declare for ``table``."""
    declared = set(TABLES[table].column_names)
    return [str(c) for c in frame.columns if c not in declared]


def _training_tables(data: Dataset, until: pd.Timestamp) -> dict[str, pd.DataFrame]:
    tables = {"accounts": data.accounts}
    if data.leads is not None:
        tables["leads"] = data.leads[data.leads["created_at"] < until]
    return tables


def _resolve_columns(tables: dict[str, pd.DataFrame], settings: CustomFeatures) -> tuple[CustomColumn, ...]:
    found = {f"{table}.{column}": (table, column) for table in CUSTOM_TABLES if table in tables
             for column in extra_columns(tables[table], table)}
    unknown = [name for name in settings.include if name not in found]
    if unknown:
        raise ConfigError(f"The feature configuration's custom.include names {', '.join(unknown)}, which the data "
                          f"does not hold as a column outside the contract (those it holds: {', '.join(found) or 'none'}); "
                          "fix the names or remove them.")
    chosen = [name for name in found if (not settings.include or name in settings.include)
              and name not in settings.exclude]
    columns: list[CustomColumn] = []
    taken: set[str] = set()
    for name in chosen:
        table, column = found[name]
        candidate = _resolve_column(tables[table][column], table, column, settings)
        if candidate is None:
            continue
        feature = _unique_name(table, column, taken)
        taken.add(feature)
        columns.append(candidate.model_copy(update={"feature": feature}))
    return tuple(columns)


def _unique_name(table: str, column: str, taken: set[str]) -> str:
    base = f"custom_{slug(column)}"
    if base in taken:
        base = f"custom_{'lead' if table == 'leads' else 'account'}_{slug(column)}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _resolve_column(values: pd.Series, table: str, column: str, settings: CustomFeatures) -> CustomColumn | None:
    """The column's kind and kept categories; None (logged) when it cannot be a useful feature."""
    where = f"{table}.{column}"
    kind = infer_kind(values)
    if kind is None:
        log.info("The extra column %s is empty in the training data, so it is not used as a feature.", where)
        return None
    if _identifies_rows(values, kind, settings.min_count):
        log.info("The extra column %s has a different value in almost every row (an identifier), so it is not used "
                 "as a feature.", where)
        return None
    categories: tuple[str, ...] = ()
    if kind == "category":
        counts = pd.Series(as_text(values), dtype=object).value_counts()
        counts = counts[counts >= settings.min_count]
        categories = tuple(sorted(counts.index, key=lambda v: (-counts[v], v))[: settings.max_categories])
    if _states(values, kind, categories) < 2:
        log.info("The extra column %s holds a single value in the training data (after grouping values seen fewer "
                 "than %d times as '%s'), so it is not used as a feature.", where, settings.min_count, OTHER)
        return None
    return CustomColumn(table=table, column=column, kind=kind, feature=f"custom_{slug(column)}", categories=categories)


def infer_kind(values: pd.Series) -> str | None:
    """'number', 'date' or 'category' from the values (numbers also as text, dates as text that parses for at
    least ``PARSE_SHARE`` of the non-empty values); None when there is no value at all."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return "number" if values.notna().any() else None
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date" if values.notna().any() else None
    text = pd.Series(as_text(values), dtype=object)
    present = int(text.notna().sum())
    if present == 0:
        return None
    if np.isfinite(as_number(text)).sum() >= PARSE_SHARE * present:
        return "number"
    if (~np.isnat(as_date(text))).sum() >= PARSE_SHARE * present:
        return "date"
    return "category"


def _identifies_rows(values: pd.Series, kind: str, min_count: int) -> bool:
    """Text, or whole numbers, with about one distinct value per row (an id, an e-mail address), judged on at
    least ``min_count`` values (fewer rows tell an identifier from a measurement poorly)."""
    if kind == "date":
        return False
    if kind == "number":
        numbers = as_number(values)
        numbers = numbers[~np.isnan(numbers)]
        if not np.all(numbers == np.round(numbers)):
            return False
        present, distinct = len(numbers), len(np.unique(numbers))
    else:
        text = pd.Series(as_text(values), dtype=object).dropna()
        present, distinct = len(text), text.nunique()
    return present >= max(min_count, 2) and distinct >= ID_SHARE * present


def _states(values: pd.Series, kind: str, categories: tuple[str, ...]) -> int:
    """Distinct feature values the column gives (missing counts as one)."""
    if kind == "number":
        built = pd.Series(as_number(values))
    elif kind == "date":
        built = pd.Series(as_date(values))
    else:
        text = pd.Series(as_text(values), dtype=object)
        built = text.where(text.isna() | text.isin(categories), OTHER)
    return built.nunique(dropna=True) + int(built.isna().any())


def _top_topics(counts: dict[str, int], limit: int) -> tuple[str, ...]:
    """The ``limit`` most frequent topics (ties by name), one per feature name."""
    if limit == 0:
        return ()
    ordered = sorted(counts, key=lambda t: (-counts[t], t))
    topics, names = [], set()
    for topic in ordered:
        if slug(topic) not in names and len(topics) < limit:
            topics.append(topic)
            names.add(slug(topic))
    return tuple(topics)
