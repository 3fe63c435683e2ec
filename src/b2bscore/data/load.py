"""Public entry points: validate a data directory, or load it into a canonical :class:`Dataset`.

Both run the same steps — find files, read, rename, check columns, drop exact duplicates, coerce types,
check values, check references — so whatever ``validate_data`` accepts, ``load_dataset`` loads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from b2bscore.data import checks
from b2bscore.data.canonical import coerce_table, materialise, rename_columns
from b2bscore.data.contract import TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.data.mapping import MappingConfig, TableMapping
from b2bscore.data.read import RawTable, find_files, read_file
from b2bscore.data.report import Issue, ValidationReport
from b2bscore.errors import DataError


def validate_data(data_dir: Path, mapping: MappingConfig | None = None, *,
                  now: pd.Timestamp | None = None) -> ValidationReport:
    """Check every table in ``data_dir`` against the contract; ``now`` (UTC) defaults to the current time."""
    return read_data(data_dir, mapping, now=resolve_now(now))[1]


def load_dataset(data_dir: Path, mapping: MappingConfig | None = None, *,
                 now: pd.Timestamp | None = None) -> tuple[Dataset, ValidationReport]:
    """Load ``data_dir`` into a canonical :class:`Dataset`; raise :class:`DataError` (the rendered errors) unless ok."""
    frames, report = read_data(data_dir, mapping, now=resolve_now(now))
    if not report.ok:
        raise DataError(f"the data in {data_dir} violates the data contract:\n"
                        + report.render(severities=("error",)))
    return Dataset(**frames), report


def read_data(data_dir: Path, mapping: MappingConfig | None, *,
              now: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """The shared path: canonical frames (index reset) of every table read, and the full report."""
    mapping = mapping or MappingConfig()
    paths, issues = find_files(Path(data_dir), mapping)
    frames: dict[str, pd.DataFrame] = {}
    offsets: dict[str, int] = {}
    row_counts: dict[str, int] = {}
    for name, path in paths.items():
        raw, found = read_file(name, path)
        issues.extend(found)
        if raw is None:
            continue
        row_counts[name] = len(raw.frame)
        frame, found = _canonical_table(raw, mapping, now)
        issues.extend(found)
        frames[name], offsets[name] = frame, raw.row_offset
    issues.extend(checks.check_references(frames, offsets))
    report = ValidationReport(issues=tuple(issues), row_counts=row_counts,
                              files={name: str(path) for name, path in paths.items()})
    return {name: _finish(frame) for name, frame in frames.items()}, report


def _canonical_table(raw: RawTable, mapping: MappingConfig, now: pd.Timestamp) -> tuple[pd.DataFrame, list[Issue]]:
    """Rename, check columns, drop exact duplicates, coerce and check one table."""
    spec, table_mapping, offset = TABLES[raw.name], mapping.table(raw.name), raw.row_offset
    frame, issues = rename_columns(raw.frame, spec, table_mapping)
    frame, found, absent = checks.check_columns(frame, spec)
    issues += found
    issues += checks.check_not_empty(frame, spec, raw.path.name)
    frame, found = checks.drop_duplicate_rows(frame, spec, offset)
    issues += found
    issues += checks.check_missing(frame, spec, offset, absent)
    frame, found = coerce_table(frame, spec, table_mapping, offset)
    issues += found
    issues += checks.check_key(frame, spec, offset)
    issues += checks.check_values(frame, spec, offset, now)
    issues += checks.check_consistency(frame, spec, offset)
    return frame, issues


def canonical_rows(name: str, frame: pd.DataFrame, *, latest_year: np.ndarray) -> tuple[pd.DataFrame, list[Issue]]:
    """Rows of table ``name`` from elsewhere than a data directory (request records), made canonical by the loader's
    own steps: missing required values, coercion (the same normalisation of categories, the same number parsing)
    and the contract's bounds, a calendar year being at most ``latest_year`` (one per row). ``frame`` holds the
    contract's columns; its index numbers the rows in the issues. Timestamps are not compared with now: features
    read only what lies before each as-of."""
    spec = TABLES[name]
    issues = checks.check_missing(frame, spec, 0, frozenset())
    frame, found = coerce_table(frame, spec, TableMapping(), 0)
    issues += found
    issues += checks.check_values(frame, spec, 0, None, latest_year=latest_year)
    return materialise(frame), issues


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical text columns and a fresh 0..n-1 index (rows may have been dropped)."""
    out = materialise(frame)
    out.index = pd.RangeIndex(len(out))
    return out


def resolve_now(now: datetime | pd.Timestamp | None = None) -> pd.Timestamp:
    """``now`` as a timezone-naive UTC timestamp; the current time only when not given."""
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
