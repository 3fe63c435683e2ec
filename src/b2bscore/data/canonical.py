"""Turning a raw table into canonical form: column renames, value maps and type coercion.

Work is vectorised over unique values: a text column is split into (codes, unique values), the unique values
are mapped, normalised or parsed, and the result is spread back by code. Text columns stay pandas
Categoricals until :func:`materialise` turns them into the canonical ``str`` objects. Every value that cannot
be coerced becomes missing and is reported; nothing is dropped here.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from b2bscore.data.contract import Column, TableSpec
from b2bscore.data.mapping import TableMapping
from b2bscore.data.report import Issue, examples_where, format_examples, plural

_SEPARATORS = re.compile(r"[\s\-]+")
_TZ_SUFFIX = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|UTC|[+-]\d{2}:?\d{2})$"


def rename_columns(frame: pd.DataFrame, spec: TableSpec, mapping: TableMapping) -> tuple[pd.DataFrame, list[Issue]]:
    """Apply the mapping's ``columns`` renames; clashes and renames of absent columns become issues."""
    issues: list[Issue] = []
    renames: dict[str, str] = {}
    for source, target in mapping.columns.items():
        if source not in frame.columns:
            if target not in frame.columns:
                issues.append(Issue("warning", spec.name, target, "mapping_column_absent",
                                    f"The mapping file renames {source!r} to {spec.name}.{target}, but the {spec.name} "
                                    f"file has no column {source!r}; check the spelling in the mapping's columns."))
            continue
        if target in frame.columns and target != source:
            issues.append(Issue("error", spec.name, target, "duplicate_column",
                                f"The {spec.name} file has both {source!r} (mapped to {target}) and a column named "
                                f"{target!r}; remove one of them or drop the mapping."))
            continue
        renames[source] = target
    return (frame.rename(columns=renames) if renames else frame), issues


def split_text(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, unique values as ``str`` objects); code -1 marks a missing value. Cheap for Categoricals."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        uniques = np.asarray(_to_text(pd.Series(series.cat.categories)), dtype=object)
    else:
        codes, raw = pd.factorize(series, use_na_sentinel=True)
        uniques = np.asarray(_to_text(pd.Series(raw)), dtype=object)
    return codes, uniques


def join_codes(codes: np.ndarray, values: np.ndarray, missing: object) -> np.ndarray:
    """``values[codes]`` with code -1 (missing) mapped to ``missing``."""
    return np.concatenate([values, np.array([missing], dtype=values.dtype)])[codes]


def categorical(codes: np.ndarray, values: np.ndarray, index: pd.Index) -> pd.Series:
    """A Categorical series from codes into ``values`` that may repeat or hold None (codes are re-based)."""
    new_codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    dtype = pd.CategoricalDtype(pd.Index(uniques, dtype=object))
    if np.array_equal(new_codes, np.arange(len(values))):  # distinct values, none missing: the codes stand
        return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=index)
    merged = join_codes(codes, new_codes.astype(np.int64), -1)
    return pd.Series(pd.Categorical.from_codes(merged, dtype=dtype), index=index)


def materialise(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn every Categorical column into canonical ``str`` objects with None for missing."""
    columns = []
    for name, series in frame.items():
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes, uniques = split_text(series)
            columns.append((name, join_codes(codes, uniques, None)))
        else:
            columns.append((name, series))
    return frame_from_columns(columns, frame)


def frame_from_columns(columns: list[tuple[object, pd.Series | np.ndarray]], like: pd.DataFrame) -> pd.DataFrame:
    """A frame of the (name, values) ``columns``, in order, with the index of ``like``, taking the arrays as they are.

    Assigning columns one by one copies each of them (and ``frame[names]`` copies them all); building the frame
    once without copying keeps a load of millions of rows from copying every column several times. The arrays
    are shared with their sources, which the loader discards. Series are aligned on the index, as assignment does;
    arrays keep their dtype (an object array is not inferred to be anything else)."""
    data = {position: values if isinstance(values, pd.Series) else
            pd.Series(values, index=like.index, dtype=values.dtype, copy=False)
            for position, (_, values) in enumerate(columns)}
    out = pd.DataFrame(data, index=like.index, copy=False)
    out.columns = pd.Index([name for name, _ in columns], dtype=like.columns.dtype)
    return out


def coerce_table(frame: pd.DataFrame, spec: TableSpec, mapping: TableMapping, offset: int) -> tuple[pd.DataFrame, list[Issue]]:
    """Coerce every contract column to its canonical type (text columns stay Categorical until materialised)."""
    issues: list[Issue] = []
    columns = list(frame.items())
    position = {name: i for i, name in enumerate(frame.columns)}
    for col in spec.columns:
        series = frame[col.name]
        value_map = mapping.values.get(col.name)
        if col.kind in ("id", "string", "category"):
            series, found = _coerce_text(series, spec, col, value_map, offset)
        else:
            if value_map:
                series, found = _apply_value_map(series, spec, col, value_map)
                issues.extend(found)
            if col.kind in ("int", "float"):
                series, found = _coerce_number(series, spec, col, offset)
            else:
                series, found = _coerce_datetime(series, spec, col, mapping.date_formats.get(col.name), offset)
        columns[position[col.name]] = (col.name, series)
        issues.extend(found)
    return frame_from_columns(columns, frame), issues


def _to_text(series: pd.Series) -> pd.Series:
    """Object dtype holding ``str`` values (None for missing); integral numbers lose their ``.0``."""
    if series.dtype == object:
        return series
    if pd.api.types.is_float_dtype(series.dtype) and np.all(np.isnan(series) | (series == np.floor(series))):
        series = series.astype("Int64")
    text = series.astype(str).astype(object)
    return text.where(series.notna(), None)


def normalise_categories(values: np.ndarray) -> np.ndarray:
    """:func:`canonical_category` of each value; anything but text (and empty text) becomes None."""
    return np.array([canonical_category(v) if isinstance(v, str) else None for v in values], dtype=object)


def canonical_category(value: object) -> object:
    """A category value as the loader writes it: stripped, lower-case, runs of spaces and hyphens turned into ``_``
    (``"Pricing Page View"`` -> ``pricing_page_view``), empty text None. The one normalisation of categories, for
    data directories (:func:`normalise_categories`) and request fields alike; anything but text is returned as it
    is, for the caller's type check to refuse."""
    if not isinstance(value, str):
        return value
    return _canonical_text(value)


@functools.lru_cache(maxsize=65_536)  # requests repeat a few spellings many times
def _canonical_text(value: str) -> str | None:
    return _SEPARATORS.sub("_", value.strip().lower()) or None


def _counts(codes: np.ndarray, n: int) -> np.ndarray:
    """Rows per code 0..n-1 (code -1, missing, is counted in a slot that is then left out: cheaper than a mask)."""
    return np.bincount(codes.astype(np.intp) + 1, minlength=n + 1)[1:]


def _coerce_text(series: pd.Series, spec: TableSpec, col: Column, value_map: dict[str, str] | None,
                 offset: int) -> tuple[pd.Series, list[Issue]]:
    """ids and strings keep their text (blank -> missing); categories are also normalised and checked."""
    issues: list[Issue] = []
    codes, uniques = split_text(series)
    counts = _counts(codes, len(uniques))
    values = uniques
    if value_map:
        norm_keys = dict(zip(normalise_categories(np.array(list(value_map), dtype=object)), value_map.values()))
        lookup = normalise_categories(uniques) if col.kind == "category" else uniques
        hit = np.array([u in value_map or (col.kind == "category" and n in norm_keys)
                        for u, n in zip(uniques, lookup)], dtype=bool)
        values = np.array([value_map[u] if u in value_map else norm_keys.get(n, u) if col.kind == "category" else u
                           for u, n in zip(uniques, lookup)], dtype=object)
        if hit.any():
            n_rows = int(counts[hit].sum())
            issues.append(Issue("info", spec.name, col.name, "values_mapped",
                                f"{plural(n_rows, 'row')} of {spec.name}.{col.name} were recoded by the mapping file's "
                                "values.", count=n_rows))
    if col.kind == "category":
        canonical = normalise_categories(values)
        changed = np.array([a != b and b is not None for a, b in zip(values, canonical)], dtype=bool)
        if changed.any():
            first = int(np.flatnonzero(changed)[0])
            n_rows = int(counts[changed].sum())
            issues.append(Issue("info", spec.name, col.name, "normalised",
                                f"{plural(n_rows, 'row')} of {spec.name}.{col.name} were normalised to lower-case snake "
                                f"case (e.g. {values[first]!r} -> {canonical[first]!r}).", count=n_rows))
    else:
        canonical = np.array([None if isinstance(v, str) and not v.strip() else v for v in values], dtype=object)
    out = categorical(codes, canonical, series.index)
    if col.allowed is not None:
        issues.extend(_check_allowed(out, spec, col, offset))
    return out, issues


def _check_allowed(out: pd.Series, spec: TableSpec, col: Column, offset: int) -> list[Issue]:
    codes, uniques = split_text(out)
    counts = _counts(codes, len(uniques))
    allowed = set(col.allowed or ())
    unknown = np.array([u not in allowed for u in uniques], dtype=bool)
    if not unknown.any():
        return []
    tally = sorted(((str(u), int(n)) for u, n, bad in zip(uniques, counts, unknown) if bad and n), key=lambda kv: -kv[1])
    total = sum(n for _, n in tally)
    if not total:
        return []
    listing = ", ".join(f"{v}: {n:,}" for v, n in tally[:10]) + (", ..." if len(tally) > 10 else "")
    if col.open_values:
        return [Issue("info", spec.name, col.name, "unknown_category",
                      f"{plural(total, 'row')} of {spec.name} have {col.name} values outside the known list ({listing}): "
                      "they are kept and counted as 'other'.", count=total)]
    mask = join_codes(codes, unknown, False)
    ex = examples_where(mask, out, offset)
    return [Issue("error", spec.name, col.name, "unknown_category",
                  f"{plural(total, 'row')} of {spec.name} have {col.name} values outside the allowed list ({listing}), "
                  f"e.g. {format_examples(ex)}; allowed: {', '.join(col.allowed or ())}. Recode them with "
                  f"values.{col.name} under {spec.name} in the mapping file.", count=total, examples=ex)]


def _apply_value_map(series: pd.Series, spec: TableSpec, col: Column, value_map: dict[str, str]) -> tuple[pd.Series, list[Issue]]:
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series, []
    codes, uniques = split_text(series)
    hit = np.array([u in value_map for u in uniques], dtype=bool)
    if not hit.any():
        return series, []
    mapped = np.array([value_map.get(u, u) for u in uniques], dtype=object)
    n = int(_counts(codes, len(uniques))[hit].sum())
    return (categorical(codes, mapped, series.index),
            [Issue("info", spec.name, col.name, "values_mapped",
                   f"{plural(n, 'row')} of {spec.name}.{col.name} were recoded by the mapping file's values.", count=n)])


def _coerce_number(series: pd.Series, spec: TableSpec, col: Column, offset: int) -> tuple[pd.Series, list[Issue]]:
    """Numbers as float64; text is parsed, true/false refused (a flag is not a count), numbers too large for a
    float become infinite (and out of range)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        bad = series.notna().to_numpy()
        return pd.Series(np.nan, index=series.index), _unparseable(bad, series, spec, col, offset)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype(np.float64, copy=False), []
    codes, uniques = split_text(series)
    parsed, bad_unique = _parse_numbers(uniques)
    numbers = pd.Series(join_codes(codes, parsed, np.nan), index=series.index)
    if not bad_unique.any():
        return numbers, []
    return numbers, _unparseable(join_codes(codes, bad_unique, False), series, spec, col, offset)


def _parse_numbers(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numbers, not a number) of unique non-missing cell values: text from files, or the mixed Python values of
    request records (numbers, booleans, text)."""
    parsed = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    is_text = np.array([isinstance(u, str) for u in uniques], dtype=bool)
    if is_text.any():
        stripped = pd.Series(uniques[is_text], dtype=object).str.strip()
        parsed[is_text] = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=np.float64)
        bad[is_text] = (stripped != "").to_numpy() & np.isnan(parsed[is_text])
    for position in np.flatnonzero(~is_text):
        value = uniques[position]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            bad[position] = True
        else:
            try:
                parsed[position] = float(value)
            except OverflowError:  # an integer with hundreds of digits
                parsed[position] = np.inf if value > 0 else -np.inf
    return parsed, bad


def _unparseable(bad: np.ndarray, series: pd.Series, spec: TableSpec, col: Column, offset: int) -> list[Issue]:
    n = int(bad.sum())
    if not n:
        return []
    ex = examples_where(bad, series, offset)
    return [Issue("error", spec.name, col.name, "unparseable",
                  f"{plural(n, 'row')} of {spec.name}.{col.name} hold text or true/false where a number is expected, "
                  f"e.g. {format_examples(ex)}; write plain numbers (dot as decimal separator, no thousands "
                  "separator or currency) or leave the cell empty.", count=n, examples=ex)]


def _coerce_datetime(series: pd.Series, spec: TableSpec, col: Column, fmt: str | None,
                     offset: int) -> tuple[pd.Series, list[Issue]]:
    issues: list[Issue] = []
    where = f"{spec.name}.{col.name}"
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        issues.append(_tz_info(spec, col, int(series.notna().sum())))
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        try:
            return series.astype("datetime64[ns]", copy=False), issues
        except pd.errors.OutOfBoundsDatetime:
            series = series.astype(object).astype(str).astype("category")
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        bad = series.notna().to_numpy()
        n = int(bad.sum())
        ex = examples_where(bad, series, offset)
        empty = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
        return empty, issues + ([Issue("error", spec.name, col.name, "unparseable",
                                       f"{plural(n, 'row')} of {where} hold numbers where a date is expected, e.g. "
                                       f"{format_examples(ex)}; write dates as ISO 8601 text (2024-03-14T09:31:00) "
                                       "or Parquet timestamps.", count=n, examples=ex)] if n else [])
    codes, uniques = split_text(series)
    text = pd.Series(uniques, dtype=object).str.strip()
    counts = _counts(codes, len(uniques))
    has_tz = text.str.contains(_TZ_SUFFIX, regex=True, na=False).to_numpy()
    if has_tz.any():
        issues.append(_tz_info(spec, col, int(counts[has_tz].sum())))
    parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    values = parsed.dt.tz_localize(None).astype("datetime64[ns]").to_numpy()
    result = pd.Series(join_codes(codes, values, np.datetime64("NaT", "ns")), index=series.index)
    bad_unique = (text.fillna("") != "").to_numpy() & np.isnat(values)
    if bad_unique.any():
        bad = join_codes(codes, bad_unique, False)
        n = int(bad.sum())
        ex = examples_where(bad, series, offset)
        how = (f"they do not match the mapping's date format {fmt!r}" if fmt else
               "write dates as ISO 8601 (2024-03-14 or 2024-03-14T09:31:00) or set date_formats."
               f"{col.name} under {spec.name} in the mapping file")
        issues.append(Issue("error", spec.name, col.name, "unparseable",
                            f"{plural(n, 'row')} of {where} have unparseable dates, e.g. {format_examples(ex)}; {how}.",
                            count=n, examples=ex))
    return result, issues


def _tz_info(spec: TableSpec, col: Column, n: int) -> Issue:
    return Issue("info", spec.name, col.name, "timezone_converted",
                 f"{plural(n, 'row')} of {spec.name}.{col.name} carry a time zone and were converted to UTC.", count=n)
