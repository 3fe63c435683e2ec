"""Contract checks on one table (columns, emptiness, duplicates, missing values, keys, ranges, consistency)
and across tables (references). Each check returns issues; only exact duplicate rows of keyed tables are removed."""

from __future__ import annotations

import difflib
import re
from typing import Literal

import numpy as np
import pandas as pd

from b2bscore.data.canonical import frame_from_columns, join_codes, split_text
from b2bscore.data.contract import TABLES, Column, TableSpec, bound_text
from b2bscore.data.dataset import empty_table
from b2bscore.data.report import Issue, examples_where, format_examples, plural

ORDERED_TIMES: tuple[tuple[str, str, str], ...] = (
    ("opportunities", "created_at", "closed_at"),
    ("technographics", "first_seen_at", "last_seen_at"),
    ("campaigns", "started_at", "ended_at"),
)
"""(table, earlier, later): the later timestamp may be missing but must not precede the earlier one."""

CLOSED_STAGES = ("won", "lost")

CUSTOM_FIELD_TABLES = ("accounts", "leads")
"""Tables whose columns outside the contract become candidate features (``b2bscore.features.custom``)."""

HINT_SIMILARITY = 0.8
"""How similar (difflib's ratio, 0-1) an extra column's name must be to an absent one's to be suggested for it."""
_NAME_NOISE = re.compile(r"[\s_\-.]+")


def check_columns(frame: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, list[Issue], frozenset[str]]:
    """Report absent and extra columns; add absent contract columns as empty, contract columns first.

    An absent required column is an error. An absent optional column is unknown: one note names them all, except
    those with a close spelling among the extra columns, which get a warning each (a misspelt column would
    otherwise pass unnoticed as unknown). Returns the frame, the issues and the names of the absent required columns.
    """
    extra = [c for c in frame.columns if c not in spec.column_names]
    absent = [c for c in spec.columns if c.name not in frame.columns]
    absent_required = [c.name for c in absent if c.required]
    issues = [_absent_required(spec, name, close_column(name, extra), frame.columns) for name in absent_required]
    unknown = []
    for name in (c.name for c in absent if not c.required):
        hint = close_column(name, extra)
        if hint is None:
            unknown.append(name)
        else:
            issues.append(_misspelt_optional(spec, name, hint))
    if unknown:
        issues.append(_absent_optional(spec, unknown))
    if extra:
        use = ("the model may learn from them as the customer's own fields (custom features)"
               if spec.name in CUSTOM_FIELD_TABLES else "they are kept as they are but no feature reads them")
        issues.append(Issue("info", spec.name, None, "extra_columns",
                            f"The {spec.name} table has {plural(len(extra), 'column')} outside the contract: "
                            f"{', '.join(map(str, extra[:10]))}{', ...' if len(extra) > 10 else ''}; {use}.",
                            count=len(extra)))
    return _contract_first(frame, spec, extra), issues, frozenset(absent_required)


def _contract_first(frame: pd.DataFrame, spec: TableSpec, extra: list) -> pd.DataFrame:
    """The contract's columns in order (absent ones empty, of their canonical dtype), then the extra ones."""
    blank = empty_table(spec.name)
    if not frame.columns.is_unique:  # selecting by name repeats a repeated name; keep that as it was
        out = frame.copy(deep=False)
        for name in spec.column_names:
            if name not in out.columns:
                out[name] = pd.Series(None, index=out.index, dtype=blank[name].dtype)
        return out[list(spec.column_names) + extra]
    columns = [(name, frame[name] if name in frame.columns else pd.Series(None, index=frame.index,
                                                                            dtype=blank[name].dtype))
               for name in spec.column_names]
    return frame_from_columns(columns + [(name, frame[name]) for name in extra], frame)


def close_column(name: str, candidates: list[str]) -> str | None:
    """The candidate that is a close spelling of the column ``name``, if any.

    Names are compared ignoring case, spaces, dashes, dots and underscores (``Account ID``, ``AccountId`` for
    ``account_id``), then must be at least ``HINT_SIMILARITY`` similar (difflib's ratio): ``industy`` is close to
    ``industry``, ``landing_page_id`` is not close to ``funding_stage``.
    """
    keys: dict[str, str] = {}
    for candidate in candidates:
        keys.setdefault(_squash(str(candidate)), candidate)
    match = difflib.get_close_matches(_squash(name), list(keys), n=1, cutoff=HINT_SIMILARITY)
    return keys[match[0]] if match else None


def _squash(name: str) -> str:
    return _NAME_NOISE.sub("", name.lower())


def _absent_required(spec: TableSpec, name: str, hint: str | None, found: pd.Index) -> Issue:
    mean = f" Did you mean {hint!r}?" if hint is not None else ""
    return Issue("error", spec.name, name, "missing_column",
                 f"The {spec.name} table has no required column {name!r}.{mean} Rename the column in the file "
                 f"or map it with columns under {spec.name} in the mapping file "
                 f"(columns found: {', '.join(map(str, found)) or 'none'}).")


def _misspelt_optional(spec: TableSpec, name: str, hint: str) -> Issue:
    return Issue("warning", spec.name, name, "misspelt_column",
                 f"The {spec.name} table has no column {name!r}. Did you mean {hint!r}? Rename the column in the file "
                 f"or map it with columns under {spec.name} in the mapping file; until then {name} is treated as "
                 "unknown.")


def _absent_optional(spec: TableSpec, names: list[str]) -> Issue:
    """One note for every optional column a table lacks."""
    tail = "column; it is" if len(names) == 1 else "columns; they are"
    return Issue("info", spec.name, None, "absent_columns",
                 f"The {spec.name} table has no {', '.join(names)} {tail} treated as unknown.", count=len(names))


def check_not_empty(frame: pd.DataFrame, spec: TableSpec, path_name: str) -> list[Issue]:
    if len(frame):
        return []
    return [Issue("error", spec.name, None, "empty_table",
                  f"{path_name} has a header but no rows; remove the file if you have no {spec.name} data.")]


def drop_duplicate_rows(frame: pd.DataFrame, spec: TableSpec, offset: int) -> tuple[pd.DataFrame, list[Issue]]:
    """Remove exact duplicate rows of a keyed table (keeping the first) and report how many were dropped.

    A table without a key (activities, revenue) keeps them, with a note: nothing tells two equal rows apart there,
    and two invoices of one amount on one day are two purchases."""
    dup = duplicated_rows(frame, keep="first")
    if not dup.any():
        return frame, []
    n = int(dup.sum())
    ex = examples_where(dup, frame.iloc[:, 0], offset, show_values=False)
    if spec.key is None:
        return frame, [Issue("info", spec.name, None, "repeated_rows_kept",
                             f"{plural(n, 'row')} of {spec.name} {'repeats' if n == 1 else 'repeat'} an earlier row "
                             f"exactly; {'it is' if n == 1 else 'they are'} kept, since {spec.name} has no id to tell "
                             f"equal rows apart (e.g. {format_examples(ex)}).", count=n, examples=ex)]
    verb = "exactly repeats an earlier row and was dropped" if n == 1 else "exactly repeat an earlier row and were dropped"
    return frame.loc[~dup], [Issue("warning", spec.name, None, "duplicate_rows_dropped",
                                   f"{plural(n, 'row')} of {spec.name} {verb}, e.g. {format_examples(ex)}.",
                                   count=n, examples=ex)]


def duplicated_rows(frame: pd.DataFrame, keep: Literal["first", False]) -> np.ndarray:
    """Exact row duplicates, like ``DataFrame.duplicated`` but fast on large frames.

    Rows are first hashed from cheap integer views of each column; only rows whose hash (nearly) repeats are
    compared exactly, so a hash collision can never drop a distinct row.
    """
    if frame.shape[1] == 0 or len(frame) < 2:
        return np.zeros(len(frame), dtype=bool)
    mixed = np.zeros(len(frame), dtype=np.uint64)
    for _, series in frame.items():
        mixed ^= _row_key(series)
        mixed *= np.uint64(0x9E3779B97F4A7C15)
        mixed ^= mixed >> np.uint64(29)
    candidates = _repeated(mixed)
    out = np.zeros(len(frame), dtype=bool)
    if len(candidates):
        out[candidates] = frame.iloc[candidates].duplicated(keep=keep).to_numpy()
    return out


def _repeated(hashes: np.ndarray) -> np.ndarray:
    """Positions whose hash shares its upper 32 bits with another's: every repeated hash, and a few more.

    A sort of 32-bit values finds the repeated ones (faster than a hash table over millions of mostly distinct
    values); a lookup in those few values then marks their rows."""
    upper = (hashes >> np.uint64(32)).astype(np.uint32)
    ordered = np.sort(upper)
    repeats = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeats):
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(pd.Series(upper).isin(np.unique(repeats)).to_numpy())


def _row_key(series: pd.Series) -> np.ndarray:
    """A uint64 per value such that equal values get equal keys (distinct values may collide)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy().astype(np.int64).view(np.uint64)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.to_numpy(dtype="datetime64[ns]").view(np.int64).view(np.uint64)
    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan) + 0.0  # -0.0 == 0.0
        values[np.isnan(values)] = np.nan
        return values.view(np.uint64)
    return pd.factorize(series, use_na_sentinel=True)[0].astype(np.int64).view(np.uint64)


def check_missing(frame: pd.DataFrame, spec: TableSpec, offset: int, absent: frozenset[str]) -> list[Issue]:
    """Missing values in required, non-nullable columns (run before coercion, so unparseable values don't count)."""
    issues = []
    for col in spec.columns:
        if not col.required or col.nullable or col.name in absent:
            continue
        values = frame[col.name]
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
            missing = values.isna().to_numpy()
        else:
            codes, uniques = split_text(values)
            blank = np.array([isinstance(u, str) and not u.strip() for u in uniques], dtype=bool)  # 0 is a value
            missing = join_codes(codes, blank, True) if blank.any() else codes < 0
        if missing.any():
            n = int(missing.sum())
            ex = examples_where(missing, values, offset, show_values=False)
            issues.append(Issue("error", spec.name, col.name, "missing_value",
                                f"{plural(n, 'row')} of {spec.name} have no {col.name}, which is required, e.g. "
                                f"{format_examples(ex)}; fill it in or remove those rows.", count=n, examples=ex))
    return issues


def check_key(frame: pd.DataFrame, spec: TableSpec, offset: int) -> list[Issue]:
    """Rows sharing the table's unique key (rows with a missing key part are reported elsewhere)."""
    if not spec.key:
        return []
    keys = frame[list(spec.key)]
    dup = duplicated_rows(keys, keep=False) & keys.notna().all(axis=1).to_numpy()
    if not dup.any():
        return []
    n = int(dup.sum())
    label = keys.astype(str).agg(" / ".join, axis=1) if len(spec.key) > 1 else keys.iloc[:, 0]
    ex = examples_where(dup, label, offset)
    return [Issue("error", spec.name, ", ".join(spec.key), "duplicate_key",
                  f"{plural(n, 'row')} of {spec.name} share their {' + '.join(spec.key)} with another row, e.g. "
                  f"{format_examples(ex)}; each must be unique, so remove or merge the repeats.", count=n, examples=ex)]


def check_values(frame: pd.DataFrame, spec: TableSpec, offset: int, now: pd.Timestamp | None, *,
                 latest_year: np.ndarray | None = None) -> list[Issue]:
    """Timestamps after ``now`` (not checked when None), negative values in non-negative columns, and numbers
    outside the contract's bounds: a calendar year may be at most the year of ``now``, or, per row, ``latest_year``
    (a request record's as-of year)."""
    issues = []
    for col in spec.columns:
        values = frame[col.name]
        if col.kind == "datetime" and now is not None:
            issues += _future_timestamps(values, spec, col, offset, now)
        if col.kind not in ("int", "float"):
            continue
        if col.nonnegative:
            bad = (values < 0).to_numpy()
            if bad.any():
                n = int(bad.sum())
                ex = examples_where(bad, values, offset)
                issues.append(Issue("error", spec.name, col.name, "negative_value",
                                    f"{plural(n, 'row')} of {spec.name}.{col.name} are negative, e.g. {format_examples(ex)}; "
                                    "the value cannot be below 0.", count=n, examples=ex))
        high: float | np.ndarray | None = col.max_value
        if col.calendar_year:
            high = latest_year if latest_year is not None else (float(now.year) if now is not None else None)
        issues += _out_of_range(values, spec, col, offset, high)
    return issues


def _future_timestamps(values: pd.Series, spec: TableSpec, col: Column, offset: int, now: pd.Timestamp) -> list[Issue]:
    bad = (values > now).to_numpy()
    if not bad.any():
        return []
    n = int(bad.sum())
    ex = examples_where(bad, values.dt.strftime("%Y-%m-%d %H:%M:%S"), offset)
    return [Issue("error", spec.name, col.name, "future_timestamp",
                  f"{plural(n, 'row')} of {spec.name}.{col.name} lie after now ({now:%Y-%m-%d %H:%M:%S} UTC), "
                  f"e.g. {format_examples(ex)}; timestamps must be UTC and in the past.", count=n, examples=ex)]


def _out_of_range(values: pd.Series, spec: TableSpec, col: Column, offset: int,
                  high: float | np.ndarray | None) -> list[Issue]:
    """Values below ``min_value`` or above ``high`` (one bound, or one per row); infinities are always out."""
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isposinf(numbers) if col.nonnegative else np.isinf(numbers)  # -inf of a non-negative: negative_value
    if col.min_value is not None:
        bad |= numbers < col.min_value
    if high is not None:
        bad |= numbers > high
    if not bad.any():
        return []
    n = int(bad.sum())
    ex = examples_where(bad, values, offset)
    low_text = bound_text(col.min_value) if col.min_value is not None else ("0" if col.nonnegative else None)
    if isinstance(high, np.ndarray):
        high_text = "the year of its record's as_of"
    else:
        high_text = bound_text(high) if high is not None else None
    span = (f"between {low_text} and {high_text}" if low_text and high_text else
            f"at least {low_text}" if low_text else f"at most {high_text}" if high_text else "finite")
    return [Issue("error", spec.name, col.name, "out_of_range",
                  f"{plural(n, 'row')} of {spec.name}.{col.name} are out of range, e.g. {format_examples(ex)}; "
                  f"values must be {span}.", count=n, examples=ex)]


def check_consistency(frame: pd.DataFrame, spec: TableSpec, offset: int) -> list[Issue]:
    """Logical order of timestamps within a row, and the opportunity stage against its close date."""
    issues = []
    for table, earlier, later in ORDERED_TIMES:
        if table != spec.name:
            continue
        bad = (frame[later] < frame[earlier]).to_numpy()
        if bad.any():
            n = int(bad.sum())
            shown = frame[earlier].dt.strftime("%Y-%m-%d") + " > " + frame[later].dt.strftime("%Y-%m-%d")
            ex = examples_where(bad, shown, offset)
            issues.append(Issue("error", spec.name, later, "inconsistent_dates",
                                f"{plural(n, 'row')} of {spec.name} have {later} before {earlier}, e.g. "
                                f"{format_examples(ex)}; fix the dates or swap them.", count=n, examples=ex))
    if spec.name == "opportunities":
        closed = frame["stage"].isin(CLOSED_STAGES)
        has_close = frame["closed_at"].notna()
        for mask, text in (((closed & ~has_close).to_numpy(), "are won or lost but have no closed_at"),
                           ((frame["stage"].eq("open") & has_close).to_numpy(), "are open but have a closed_at")):
            if mask.any():
                n = int(mask.sum())
                ex = examples_where(mask, frame["stage"], offset)
                issues.append(Issue("warning", spec.name, "closed_at", "stage_mismatch",
                                    f"{plural(n, 'row')} of opportunities {text}, e.g. {format_examples(ex)}; "
                                    "check the stage and close date.", count=n, examples=ex))
    if spec.name == "spend":
        issues += _spend_targets(frame, offset)
    return issues


def _spend_targets(frame: pd.DataFrame, offset: int) -> list[Issue]:
    """Each spend row is for one channel or one campaign: neither leaves it nowhere, both would count it twice."""
    has_channel, has_campaign = frame["channel"].notna().to_numpy(), frame["campaign_id"].notna().to_numpy()
    issues = []
    for mask, text in ((~has_channel & ~has_campaign, "have neither a channel nor a campaign_id"),
                       (has_channel & has_campaign, "have both a channel and a campaign_id")):
        if mask.any():
            n = int(mask.sum())
            ex = examples_where(mask, frame["amount"], offset)
            issues.append(Issue("error", "spend", "channel, campaign_id", "spend_target",
                                f"{plural(n, 'row')} of spend {text}, e.g. {format_examples(ex)}; give exactly one of "
                                "them (a campaign's own spend goes under its campaign_id, anything else under its "
                                "channel, e.g. sales).", count=n, examples=ex))
    return issues


def check_references(frames: dict[str, pd.DataFrame], offsets: dict[str, int]) -> list[Issue]:
    """Every non-missing reference must point at an existing key; targets that are absent are not checked."""
    issues = []
    for name, frame in frames.items():
        spec = TABLES[name]
        for column, target in spec.references.items():
            if target not in frames or frames[target].empty:  # absent or already reported as empty
                continue
            target_key = TABLES[target].key[0] if TABLES[target].key else column
            codes, uniques = split_text(frame[column])
            known = split_text(frames[target][target_key])[1]
            unknown_unique = ~pd.Index(uniques, dtype=object).isin(known) & (_counts(codes, len(uniques)) > 0)
            if not unknown_unique.any():
                continue
            bad = join_codes(codes, unknown_unique, False)
            n = int(bad.sum())
            ex = examples_where(bad, frame[column], offsets[name])
            issues.append(Issue("error", name, column, "unknown_reference",
                                f"{plural(n, 'row')} of {name} have a {column} that is not in {target} "
                                f"({plural(int(unknown_unique.sum()), 'distinct id')}), e.g. {format_examples(ex)}; "
                                f"add the missing {target} or remove those rows.", count=n, examples=ex))
    return issues


def _counts(codes: np.ndarray, n: int) -> np.ndarray:
    """Rows per code 0..n-1 (code -1, missing, is counted in a slot that is then left out: cheaper than a mask)."""
    return np.bincount(codes.astype(np.intp) + 1, minlength=n + 1)[1:]
