"""Raw business records <-> a ``Dataset``: the input shape of the registered models and the service.

A record describes one entity to score, with everything the features need and nothing else::

    {"as_of": "2024-06-30T00:00:00", "account": {...accounts row...}, "lead": {...leads row...} | None,
     "technographics": [...], "activities": [...], "intent": [...], "leads": [...],
     "opportunities": [...], "revenue": [...]}

In a DataFrame (the MLflow model's input) each of these fields is a column holding JSON text,
which keeps the model signature simple and the format identical over HTTP and in Python.

The account and each lead may carry the customer's own fields (columns of their CRM outside the contract) in a
``custom`` object, field name -> text, number or null: ``{"account_id": "A1", "custom": {"partner_code": "P042"}}``.
They become columns of the same name, holding the text a CSV file's cell would hold, so the features read them
exactly as from a data directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from b2bscore.data.contract import ACTIVITY_TYPES, TABLES
from b2bscore.data.dataset import Dataset, empty_table
from b2bscore.data.load import canonical_rows
from b2bscore.data.read import CSV_NA_VALUES
from b2bscore.errors import DataError

RECORD_FIELDS = ("as_of", "account", "lead", "technographics", "activities", "intent", "leads", "opportunities", "revenue")
_NESTED = ("technographics", "activities", "intent", "leads", "opportunities", "revenue")
RECORD_CAPS: dict[str, int] = {"technographics": 1_000, "activities": 10_000, "intent": 5_000, "leads": 5_000,
                               "opportunities": 1_000, "revenue": 5_000}
"""The most items one record's event list may hold: a large account's last year fits (a year of daily invoices,
weekly intent on a hundred topics), a request's size stays bounded."""
CUSTOM = "custom"
"""The field of an account or a lead that holds the customer's own fields."""
CUSTOM_CAPS = {"fields": 100, "name": 128, "text": 1_000}
"""The most custom fields one account or lead may carry, and the longest field name and text value (characters)."""
_CUSTOM_PARTS = {"account": "accounts", "lead": "leads", "leads": "leads"}
_ID_COLUMNS = ("account_id", "lead_id", "opportunity_id")
_INTEGER_COLUMNS = {name: {c.name for c in spec.columns if c.kind == "int"} for name, spec in TABLES.items()}
_RECORD_SEPARATOR = ":"


def _parse(value, field: str, position: int):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"record {position}: field {field!r} is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    return value


def records_to_dataset(records: pd.DataFrame | Sequence[Mapping]) -> tuple[Dataset, pd.DataFrame]:
    """The tables and the entity frame (``account_id``, ``lead_id``, ``as_of``: one row per record, in order) of
    ``records``.

    Each record is read as if it were sent alone: its ids (account, leads, opportunities) are made its own inside
    the Dataset (``"3:A1"`` for account A1 of record 3), so records that share an id never see each other's data.
    The entity frame holds those ids; :func:`caller_ids` gives features or scores back the ids the records carry.
    Values are canonicalised and checked by the data directory loader's own steps (``"Data Integration"`` ->
    ``data_integration``; a number outside the contract's bounds is a :class:`DataError` naming it).
    """
    rows = records.to_dict("records") if isinstance(records, pd.DataFrame) else list(records)
    if not rows:
        raise DataError("no records to score")
    as_of = _as_of(rows)
    raw: dict[str, list[dict]] = {name: [] for name in ("accounts", *_NESTED)}
    owner: dict[str, list[int]] = {name: [] for name in raw}
    lead_ids = []
    for position, record in enumerate(rows):
        account = _parse(record.get("account"), "account", position)
        if not isinstance(account, Mapping) or not account.get("account_id"):
            raise DataError(f"record {position}: 'account' must be an object with an 'account_id'")
        account_id = account["account_id"]
        raw["accounts"].append(_with_custom(account, "account", position))
        owner["accounts"].append(position)
        lead = _parse(record.get("lead"), "lead", position)
        if lead is not None and not isinstance(lead, Mapping):
            raise DataError(f"record {position}: 'lead' must be an object or null")
        if lead:  # first, so that it wins over an entry of the same lead in 'leads'
            raw["leads"].append({**_with_custom(lead, "lead", position), "account_id": account_id})
            owner["leads"].append(position)
        lead_ids.append(lead.get("lead_id") if lead else None)
        for name in _NESTED:
            items = _parse(record.get(name), name, position) or []
            if not isinstance(items, list) or not all(isinstance(item, (dict, Mapping)) for item in items):
                raise DataError(f"record {position}: {name!r} must be a list of objects")
            if len(items) > RECORD_CAPS[name]:
                raise DataError(f"record {position}: {name!r} holds {len(items):,} items, more than the "
                                f"{RECORD_CAPS[name]:,} one record may hold")
            if name == "leads":
                items = [_with_custom(item, f"leads[{i}]", position) for i, item in enumerate(items)]
            raw[name].extend({**item, "account_id": account_id} for item in items)
            owner[name].extend([position] * len(items))
    frames = _canonical_tables(raw, owner, as_of)
    entities = pd.DataFrame({"account_id": frames["accounts"]["account_id"].to_numpy(dtype=object),
                             "lead_id": _own_ids(pd.Series(lead_ids, dtype=object), np.arange(len(rows))),
                             "as_of": as_of.to_numpy()})
    # exact repeats are dropped where a key says they are one row; unkeyed rows (two equal invoices) all count
    frames = {name: frame if TABLES[name].key is None else frame.drop_duplicates() for name, frame in frames.items()}
    frames["leads"] = frames["leads"].drop_duplicates("lead_id", keep="first")
    return Dataset(**{name: frame.reset_index(drop=True) for name, frame in frames.items()}), entities


def caller_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (features or scores of the entities of :func:`records_to_dataset`) with the account and lead ids
    the records carry instead of the ids made each record's own."""
    out = frame.copy()
    for column in ("account_id", "lead_id"):
        if column in out.columns:
            out[column] = pd.Series([v.split(_RECORD_SEPARATOR, 1)[1] if isinstance(v, str) else None
                                     for v in out[column]], index=out.index, dtype=object)
    return out


def _as_of(rows: list[Mapping]) -> pd.Series:
    """Each record's as-of, timezone-naive UTC."""
    stamps = pd.to_datetime(pd.Series([record.get("as_of") for record in rows], dtype=object), utc=True,
                            errors="coerce", format="ISO8601").dt.tz_localize(None).astype("datetime64[ns]")
    if stamps.isna().any():
        raise DataError(f"record {int(np.flatnonzero(stamps.isna())[0])}: 'as_of' is missing or not an ISO timestamp")
    return stamps


def _canonical_tables(raw: dict[str, list[dict]], owner: dict[str, list[int]],
                      as_of: pd.Series) -> dict[str, pd.DataFrame]:
    """Every table in canonical form (the loader's steps), with each record's ids made its own; one
    :class:`DataError` lists everything the contract refuses, a row being named by its record's position."""
    years = as_of.dt.year.to_numpy(dtype=np.float64)
    frames, errors = {}, []
    for name, items in raw.items():
        if not items:
            frames[name] = empty_table(name)
            continue
        positions = np.asarray(owner[name], dtype=np.int64)
        # as the JSON has them (object dtype): pandas would refuse an integer of 400 digits before the checks see it
        extra = list(dict.fromkeys(k for item in items for k in item if k not in TABLES[name].column_names))
        frame = pd.DataFrame(items, columns=[*TABLES[name].column_names, *extra], index=positions, dtype=object)
        frame[extra] = frame[extra].where(frame[extra].notna(), None)  # a field a record lacks is missing, as in a file
        try:
            frame, issues = canonical_rows(name, frame, latest_year=years[positions])
        except TypeError:  # an object or a list where the contract expects one value (it cannot be compared)
            raise DataError(f"{name}: a field holds an object or a list where a single value is expected") from None
        errors += [issue for issue in issues if issue.severity == "error"]
        for column in _ID_COLUMNS:
            if column in TABLES[name].column_names:  # not a customer's own column of that name
                frame[column] = _own_ids(frame[column], positions)
        frames[name] = frame
    if errors:
        raise DataError("the records break the data contract (a row here is a record, by its position in the batch "
                        "from 0):\n" + "\n".join(f"{issue.location}: {issue.message}" for issue in errors))
    return frames


def _own_ids(ids: pd.Series, positions: np.ndarray) -> pd.Series:
    """``ids`` made the own of the records at ``positions`` (missing ones stay missing); one string per distinct
    (record, id) pair, as events repeat their account and lead."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    width = len(uniques) + 1
    pair_codes, pairs = pd.factorize(positions.astype(np.int64) * width + codes + 1)
    own = np.array([None if pair % width == 0 else f"{pair // width}{_RECORD_SEPARATOR}{uniques[pair % width - 1]}"
                    for pair in pairs], dtype=object)
    return pd.Series(own[pair_codes], index=ids.index, dtype=object)


def _with_custom(row: Mapping, part: str, position: int) -> dict:
    """``row`` (an account or a lead) with its custom fields as columns of their own, holding the text a data file
    would hold; a field outside the contract and ``custom``, or a bad custom field, is a :class:`DataError`."""
    table = _CUSTOM_PARTS[part.split("[")[0]]
    custom = row.get(CUSTOM)
    unknown = [str(k) for k in row if k != CUSTOM and k not in TABLES[table].column_names]
    if unknown:
        raise DataError(f"record {position}: {part}.{unknown[0]} is not a field of the data contract's {table} "
                        f"table; send the customer's own fields in {part}.{CUSTOM}")
    if custom is not None and not isinstance(custom, Mapping):
        raise DataError(f"record {position}: {part}.{CUSTOM} must be an object of field name -> text, number or null")
    out = {k: v for k, v in row.items() if k != CUSTOM}
    problem = custom_fields_problem(custom or {}, table)
    if problem:
        raise DataError(f"record {position}: {part}.{CUSTOM}{problem}")
    out.update((name, custom_text(value)) for name, value in (custom or {}).items())
    return out


def custom_fields_problem(custom: Mapping, table: str) -> str | None:
    """What is wrong with ``custom`` (the custom fields of a row of ``table``), as the end of a sentence that starts
    with the field's path (``".partner_code is ..."``); None when nothing is."""
    if len(custom) > CUSTOM_CAPS["fields"]:
        return f" holds {len(custom):,} fields, more than the {CUSTOM_CAPS['fields']:,} one {table[:-1]} may carry"
    for name, value in custom.items():
        problem = custom_name_problem(name, table) or custom_value_problem(value)
        if problem:
            return f".{name} {problem}"
    return None


def custom_name_problem(name: object, table: str) -> str | None:
    """Why ``name`` cannot name a custom field of ``table`` (a sentence's predicate), or None."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return "must be a column name: text without spaces around it"
    if len(name) > CUSTOM_CAPS["name"]:
        return f"has a name longer than {CUSTOM_CAPS['name']} characters"
    if name in TABLES[table].column_names:
        return f"is a field of the data contract's {table} table: send it beside the other contract fields"
    return None


def custom_value_problem(value: object) -> str | None:
    """Why ``value`` cannot be a custom field's value (a sentence's predicate), or None: text up to
    ``CUSTOM_CAPS["text"]`` characters, a finite number and null are accepted."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "must be text, a number or null, not true/false: send the text your data files hold (e.g. \"yes\")"
    if isinstance(value, str):
        if len(value) > CUSTOM_CAPS["text"]:
            return f"holds {len(value):,} characters, more than the {CUSTOM_CAPS['text']:,} a custom field may hold"
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            finite = np.isfinite(float(value))
        except OverflowError:
            finite = False
        return None if finite else "must be a finite number (not Infinity, NaN or beyond 1e308)"
    if isinstance(value, Mapping):
        return "must be text, a number or null, not an object"
    if isinstance(value, (list, tuple)):
        return "must be text, a number or null, not a list"
    return "must be text, a number or null"


def custom_text(value: str | float | int | None) -> str | None:
    """A custom field's value as the cell of a CSV file holds it: text as it is (the file's missing-value markers,
    e.g. "NULL", are missing), a whole number without ``.0``, another number as Python writes it (which reads back
    as the same number)."""
    if value is None or (isinstance(value, str) and value in CSV_NA_VALUES):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


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
        record = {"as_of": as_of.isoformat(), "account": _json_row(accounts.loc[entity.account_id], "accounts")}
        lead_id = getattr(entity, "lead_id", None)
        record["lead"] = (_json_row(leads.loc[lead_id], "leads") if leads is not None and isinstance(lead_id, str)
                          else "null")
        for name in _NESTED:
            group = by_account.get(name)
            if group is None or entity.account_id not in group.groups:
                record[name] = "[]"
                continue
            rows = group.get_group(entity.account_id)
            record[name] = _json_rows(rows[rows[time_of[name]] < as_of].drop(columns="account_id"), name)
        out.append(record)
    return pd.DataFrame(out, columns=list(RECORD_FIELDS))


def _json_row(row: pd.Series, table: str) -> str:
    return _json_rows(row.to_frame().T, table)[1:-1]


def _json_rows(rows: pd.DataFrame, table: str) -> str:
    """Rows of ``table`` as a JSON list; the columns of accounts and leads outside the contract go into ``custom``."""
    extra = [c for c in rows.columns if c not in TABLES[table].column_names] if table in ("accounts", "leads") else []
    text = rows.drop(columns=extra).to_json(orient="records", date_format="iso")
    if not extra:
        return text
    items = json.loads(text)
    for item, values in zip(items, rows[extra].itertuples(index=False, name=None)):
        item[CUSTOM] = {str(c): _json_value(v) for c, v in zip(extra, values)}
    return json.dumps(items)


def _json_value(value: object) -> str | float | int | None:
    """A custom column's value in JSON: text, a number (true/false as 1/0, as the features count them), an
    ISO time, or None when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    return str(value)


def api_records(data: Dataset, entities: pd.DataFrame) -> list[dict]:
    """The JSON request records of ``entities`` for the service (``score_leads``/``score_accounts``), from a Dataset.

    Activity types outside the known list are sent as ``"other"`` (the service refuses unknown spellings; the
    features count both the same way), whole numbers as JSON integers (the service takes no ``240.0`` employees),
    and empty values are left out.
    """
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
            table = {"account": "accounts", "lead": "leads"}.get(name, name)
            record[name] = [_api_row(v, table) for v in value] if isinstance(value, list) else _api_row(value, table)
        out.append(record)
    return out


def _api_row(row: dict, table: str) -> dict:
    integers = _INTEGER_COLUMNS[table]
    return {k: (int(v) if k in integers else v) for k, v in row.items() if v is not None}
