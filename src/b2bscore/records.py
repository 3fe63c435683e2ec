"""Raw business records <-> a ``Dataset``: the input shape of the registered models and the service.

A record describes one entity to score, with everything the features need and nothing else::

    {"as_of": "2024-06-30T00:00:00", "account": {...accounts row...}, "lead": {...leads row...} | None,
     "technographics": [...], "activities": [...], "intent": [...], "leads": [...],
     "opportunities": [...], "revenue": [...]}

In a DataFrame (the MLflow model's input) each of these fields is a column holding JSON text,
which keeps the model signature simple and the format identical over HTTP and in Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from b2bscore.data.contract import TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError

RECORD_FIELDS = ("as_of", "account", "lead", "technographics", "activities", "intent", "leads", "opportunities", "revenue")
_NESTED = ("technographics", "activities", "intent", "leads", "opportunities", "revenue")


def _parse(value, field: str, position: int):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"record {position}: field {field!r} is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    return value


def _canonical(table: str, rows: list[dict]) -> pd.DataFrame:
    """Rows of one table in the contract's column order and canonical dtypes."""
    spec = TABLES[table]
    frame = pd.DataFrame(rows, columns=list(spec.column_names))
    for column in spec.columns:
        values = frame[column.name]
        if column.kind == "datetime":
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)
            bad = parsed.isna() & values.notna()
            if bad.any():
                raise DataError(f"{table}.{column.name}: {int(bad.sum())} value(s) are not ISO timestamps, e.g. {values[bad].iloc[0]!r}")
            frame[column.name] = parsed.astype("datetime64[ns]")
        elif column.kind in ("int", "float"):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = parsed.isna() & values.notna()
            if bad.any():
                raise DataError(f"{table}.{column.name}: {int(bad.sum())} value(s) are not numbers, e.g. {values[bad].iloc[0]!r}")
            frame[column.name] = parsed.astype(np.float64)
        else:
            frame[column.name] = values.astype(object).where(values.notna(), None)
            if column.kind == "category":
                frame[column.name] = frame[column.name].map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    return frame


def records_to_dataset(records: pd.DataFrame | Sequence[Mapping]) -> tuple[Dataset, pd.DataFrame]:
    """The tables and the entity frame (``account_id``, optional ``lead_id``, ``as_of``) of ``records``."""
    rows = records.to_dict("records") if isinstance(records, pd.DataFrame) else list(records)
    if not rows:
        raise DataError("no records to score")
    tables: dict[str, list[dict]] = {name: [] for name in _NESTED}
    accounts, entities = [], []
    for position, record in enumerate(rows):
        account = _parse(record.get("account"), "account", position)
        if not isinstance(account, Mapping) or not account.get("account_id"):
            raise DataError(f"record {position}: 'account' must be an object with an 'account_id'")
        account_id = account["account_id"]
        accounts.append(dict(account))
        lead = _parse(record.get("lead"), "lead", position)
        if lead:
            tables["leads"].append({**lead, "account_id": account_id})
        for name in _NESTED:
            items = _parse(record.get(name), name, position) or []
            if not isinstance(items, list):
                raise DataError(f"record {position}: {name!r} must be a list of objects")
            tables[name].extend({**item, "account_id": account_id} for item in items)
        entities.append({"account_id": account_id, "lead_id": (lead or {}).get("lead_id"), "as_of": record.get("as_of")})
    account_frame = _canonical("accounts", accounts).drop_duplicates("account_id", keep="last")
    frames = {name: _canonical(name, items).drop_duplicates() for name, items in tables.items()}
    frames["leads"] = frames["leads"].drop_duplicates("lead_id", keep="last")
    entity_frame = pd.DataFrame(entities)
    as_of = pd.to_datetime(entity_frame["as_of"], utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)
    if as_of.isna().any():
        raise DataError(f"record {int(np.flatnonzero(as_of.isna())[0])}: 'as_of' is missing or not an ISO timestamp")
    entity_frame["as_of"] = as_of
    return Dataset(accounts=account_frame, **frames), entity_frame


def dataset_to_records(data: Dataset, entities: pd.DataFrame) -> pd.DataFrame:
    """The records (JSON columns) of ``entities`` from a full ``Dataset``: only events before each as-of."""
    by_account = {name: frame.groupby("account_id", sort=False) for name in _NESTED
                  if (frame := data.table(name)) is not None}
    time_of = {name: TABLES[name].time_column for name in _NESTED}
    accounts = data.accounts.set_index("account_id", drop=False)
    leads = data.leads.set_index("lead_id", drop=False) if data.leads is not None else None
    out = []
    for entity in entities.itertuples(index=False):
        as_of = pd.Timestamp(entity.as_of)
        record = {"as_of": as_of.isoformat(), "account": _json_row(accounts.loc[entity.account_id])}
        lead_id = getattr(entity, "lead_id", None)
        record["lead"] = _json_row(leads.loc[lead_id]) if leads is not None and isinstance(lead_id, str) else "null"
        for name in _NESTED:
            group = by_account.get(name)
            if group is None or entity.account_id not in group.groups:
                record[name] = "[]"
                continue
            rows = group.get_group(entity.account_id)
            rows = rows[rows[time_of[name]] < as_of]
            record[name] = rows.drop(columns="account_id").to_json(orient="records", date_format="iso")
        out.append(record)
    return pd.DataFrame(out, columns=list(RECORD_FIELDS))


def _json_row(row: pd.Series) -> str:
    return row.to_frame().T.to_json(orient="records", date_format="iso")[1:-1]


def api_records(data: Dataset, entities: pd.DataFrame) -> list[dict]:
    """The JSON request records of ``entities`` for the service (``score_leads``/``score_accounts``), from a Dataset.

    Activity types outside the known list are sent as ``"other"`` (the service refuses unknown spellings; the
    features count both the same way), and empty values are left out.
    """
    from b2bscore.data.contract import ACTIVITY_TYPES

    frame = dataset_to_records(data, entities)
    out = []
    for row in frame.to_dict("records"):
        record: dict = {"as_of": row["as_of"]}
        for name in ("account", "lead", *_NESTED):
            value = json.loads(row[name])
            if value is None:
                continue
            if name == "activities":
                for item in value:
                    if item.get("activity_type") not in ACTIVITY_TYPES:
                        item["activity_type"] = "other"
            record[name] = _drop_nulls(value)
        out.append(record)
    return out


def _drop_nulls(value):
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return {k: v for k, v in value.items() if v is not None}
