"""``build_features``: the one point-in-time feature pipeline for training, batch and online scoring."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.features import (
    behaviour,
    custom_build,
    firmographic,
    fit,
    intent,
    lead,
    orders,
    purchase,
    technographic,
)
from b2bscore.features._queries import Queries
from b2bscore.features.config import FeatureConfig
from b2bscore.features.specs import FeatureSpec

Entity = Literal["account", "lead"]
KEY_COLUMNS: dict[str, tuple[str, ...]] = {"account": ("account_id",), "lead": ("lead_id", "account_id")}


def feature_specs(config: FeatureConfig = FeatureConfig(), entity: Entity = "account") -> list[FeatureSpec]:
    """Every feature ``build_features`` returns for ``entity``, in output order; those named in
    ``config.excluded`` are built but are not model inputs."""
    specs = _declared(config, entity)
    excluded = set(config.excluded)
    if excluded:
        unknown = sorted(excluded - {s.name for s in (specs if entity == "lead" else _declared(config, "lead"))})
        if unknown:
            raise ConfigError(f"The feature configuration's 'excluded' names {', '.join(unknown)}, which build_features "
                              "does not build; list feature names as build_features returns them "
                              "(e.g. custom_partner_code).")
    return [dataclasses.replace(s, model_input=False) if s.name in excluded else s for s in specs]


def _declared(config: FeatureConfig, entity: Entity) -> list[FeatureSpec]:
    specs = (
        firmographic.SPECS
        + technographic.technographic_specs()
        + behaviour.behaviour_specs(config)
        + purchase.purchase_specs(config)
        + orders.order_specs(config)
        + intent.intent_specs(config)
        + fit.SPECS
        + custom_build.column_specs(config, "accounts")
        + custom_build.activity_specs(config)
    )
    return specs + lead.SPECS + custom_build.column_specs(config, "leads") if entity == "lead" else specs


def build_features(
    data: Dataset,
    entities: pd.DataFrame | None = None,
    as_of: pd.Timestamp | str | None = None,
    *,
    entity: Entity = "account",
    config: FeatureConfig = FeatureConfig(),
) -> pd.DataFrame:
    """Features of each entity row, computed only from data strictly before its as-of time.

    ``entities`` holds ``account_id`` (or ``lead_id`` for ``entity="lead"``) and, for
    per-row as-of times as training sets need, an ``as_of`` column. Without it, the
    scalar ``as_of`` applies to every row. Without ``entities``: every account, or every
    lead created at or before ``as_of``. The result keeps the entities' row order and
    starts with the key columns and ``as_of``.
    """
    if entity not in KEY_COLUMNS:
        raise DataError(f"unknown entity {entity!r}; choose one of: {', '.join(KEY_COLUMNS)}")
    if entity == "lead":
        data.require("leads", purpose="lead features")
    frame = _resolve_entities(data, entities, as_of, entity)
    account_ids = _unique_index(data.accounts["account_id"], "accounts", "account_id")
    rows = account_ids.get_indexer(frame["account_id"])
    _reject_unknown(frame["account_id"], rows, what="account_id", table="accounts")
    queries = Queries(account_ids=account_ids, account_rows=rows, as_of=frame["as_of"].to_numpy(dtype="datetime64[ns]"))

    firm = firmographic.firmographic_features(data.accounts, queries)
    tech = technographic.technographic_features(data.table_or_empty("technographics"), queries, config.tech)
    leads_table = data.table_or_empty("leads")
    activities = data.table_or_empty("activities")
    parts = [
        firm,
        tech,
        behaviour.behaviour_features(activities, leads_table, queries, config),
        purchase.purchase_features(data.table_or_empty("revenue"), data.table_or_empty("opportunities"), leads_table, queries, config),
        orders.order_features(data.table_or_empty("revenue"), queries, config),
        intent.intent_features(data.table_or_empty("intent"), queries, config),
        fit.fit_features(_icp_inputs(data.accounts, rows, firm, tech), config.icp),
        custom_build.column_features(data.accounts, rows, queries.as_of, config, "accounts"),
        custom_build.activity_features(activities, queries, config),
    ]
    if entity == "lead":
        lead_rows = _unique_index(leads_table["lead_id"], "leads", "lead_id").get_indexer(frame["lead_id"])
        parts.append(lead.lead_features(leads_table, lead_rows, queries.as_of, activities))
        parts.append(custom_build.column_features(leads_table, lead_rows, queries.as_of, config, "leads"))
    keys = frame[[*KEY_COLUMNS[entity], "as_of"]].reset_index(drop=True)
    return pd.concat([keys, *parts], axis=1)


def _icp_inputs(accounts: pd.DataFrame, rows: np.ndarray, firm: pd.DataFrame, tech: pd.DataFrame) -> pd.DataFrame:
    raw = pd.DataFrame({
        "employees": accounts["employees"].to_numpy(dtype=np.float64)[rows],
        "annual_revenue": accounts["annual_revenue"].to_numpy(dtype=np.float64)[rows],
        "country": accounts["country"].to_numpy(dtype=object)[rows],
    })
    return pd.concat([raw, firm, tech], axis=1)


def _resolve_entities(data: Dataset, entities: pd.DataFrame | None, as_of, entity: Entity) -> pd.DataFrame:
    key = KEY_COLUMNS[entity][0]
    if entities is None:
        if as_of is None:
            raise DataError("build_features needs an as-of time: pass as_of or an entities frame with an 'as_of' column")
        source = data.accounts if entity == "account" else data.leads
        entities = source[[key]]
        if entity == "lead":
            entities = entities[data.leads["created_at"] <= as_timestamp(as_of)]
    if key not in entities.columns:
        raise DataError(f"entities frame has no {key!r} column (columns: {', '.join(map(str, entities.columns))})")
    frame = pd.DataFrame({key: entities[key].to_numpy(dtype=object)})
    if "as_of" in entities.columns:
        frame["as_of"] = _as_of_column(entities["as_of"])
    elif as_of is not None:
        frame["as_of"] = as_timestamp(as_of)
    else:
        raise DataError("build_features needs an as-of time: pass as_of or give the entities frame an 'as_of' column")
    frame["as_of"] = frame["as_of"].astype("datetime64[ns]")
    if entity == "lead":
        leads = data.leads.set_index(_unique_index(data.leads["lead_id"], "leads", "lead_id"))
        positions = leads.index.get_indexer(frame["lead_id"])
        _reject_unknown(frame["lead_id"], positions, what="lead_id", table="leads")
        frame["account_id"] = leads["account_id"].to_numpy(dtype=object)[positions]
        created = leads["created_at"].to_numpy(dtype="datetime64[ns]")[positions]
        early = frame["as_of"].to_numpy() < created
        if early.any():
            examples = ", ".join(frame.loc[early, "lead_id"].astype(str).head(5))
            raise DataError(f"{int(early.sum())} lead(s) have an as-of time before they were created (e.g. {examples})")
    return frame


def as_timestamp(value) -> pd.Timestamp:
    """``value`` as a timezone-naive UTC timestamp; a :class:`DataError` when it is not a time or is missing."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"as-of time {value!r} is not a date or timestamp") from exc
    if pd.isna(stamp):
        raise DataError("as-of time is missing")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _as_of_column(values: pd.Series) -> pd.Series:
    try:
        parsed = pd.to_datetime(values, utc=True).dt.tz_localize(None)
    except (ValueError, TypeError) as exc:
        raise DataError(f"entities.as_of holds values that are not timestamps: {exc}") from exc
    if parsed.isna().any():
        raise DataError(f"entities.as_of is missing in {int(parsed.isna().sum())} row(s)")
    return parsed.reset_index(drop=True)


def _unique_index(values: pd.Series, table: str, column: str) -> pd.Index:
    index = pd.Index(values.to_numpy(dtype=object))
    if not index.is_unique:
        dupes = index[index.duplicated()].unique()[:5]
        raise DataError(f"{table}.{column} must be unique; duplicated: {', '.join(map(str, dupes))}")
    return index


def _reject_unknown(values: pd.Series, positions: np.ndarray, *, what: str, table: str) -> None:
    unknown = positions < 0
    if unknown.any():
        examples = ", ".join(map(str, pd.unique(values.to_numpy(dtype=object)[unknown])[:5]))
        raise DataError(f"{int(unknown.sum())} entity row(s) have a {what} that is not in the {table} table (e.g. {examples})")
