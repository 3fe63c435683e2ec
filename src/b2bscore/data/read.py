"""Finding each table's file in a data directory and reading it (CSV or Parquet) without interpreting values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from b2bscore.data.contract import FILE_SUFFIXES, TABLE_NAMES, TABLES
from b2bscore.data.mapping import MappingConfig
from b2bscore.data.report import Issue
from b2bscore.errors import DataError

IGNORED_DIRS = ("truth",)
"""Sub-folders that belong to the data directory but are never read (e.g. the generator's ground truth)."""

CSV_NA_VALUES = ("", "NULL", "null", "NaN", "nan", "None", "none", "N/A", "n/a", "#N/A")
"""Cells read as missing. "NA" is deliberately absent: it is Namibia's country code."""

ABSENT_CONSEQUENCES = {
    "technographics": "technographic features (installed technologies) will be unavailable",
    "activities": "behavioural features (web, email, product usage) will be unavailable",
    "intent": "intent features will be unavailable",
    "leads": "lead-level features and the conversion model will be unavailable",
    "opportunities": "opportunity history and the win/loss labels will be unavailable",
    "revenue": "customer status, churn and lifetime-value models will be unavailable",
    "campaigns": "campaign ROI will be unavailable, and CAC counts only the spend table",
    "spend": "CAC counts only the campaigns' own costs (no sales or other spend)",
}


@dataclass(frozen=True)
class RawTable:
    """One table as read from its file; the index is the 0-based position of each row in the file.

    Text columns are pandas Categoricals of ``str`` (cheap unique values); other columns keep their file types.
    """

    name: str
    path: Path
    frame: pd.DataFrame
    row_offset: int
    """Add to the index to get the row number as it appears in the file (CSV: 2, header = line 1; Parquet: 1)."""


def find_files(data_dir: Path, mapping: MappingConfig) -> tuple[dict[str, Path], list[Issue]]:
    """The file of every table present in ``data_dir``, and issues about missing, ambiguous or unrelated files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist or is not a directory")
    found: dict[str, Path] = {}
    issues: list[Issue] = []
    claimed: set[str] = set()
    for name in TABLE_NAMES:
        mapped = mapping.table(name).file
        candidates = [mapped] if mapped else [f"{name}{suffix}" for suffix in FILE_SUFFIXES]
        claimed.update(candidates)
        present = [data_dir / c for c in candidates if (data_dir / c).is_file()]
        if len(present) > 1:
            issues.append(Issue("error", name, None, "ambiguous_file",
                                f"Both {' and '.join(p.name for p in present)} exist for table {name}; "
                                "keep only one of them.", count=len(present)))
        elif present:
            found[name] = present[0]
        else:
            issues.append(_absent(name, data_dir, candidates, mapped))
    unrelated = sorted(p.name for p in data_dir.iterdir()
                       if p.name not in claimed and p.name not in IGNORED_DIRS and not p.name.startswith("."))
    if unrelated:
        issues.append(Issue("info", None, None, "unrelated_file",
                            f"{len(unrelated)} file(s) in {data_dir} are not part of the data contract and were "
                            f"ignored: {', '.join(unrelated[:10])}{', ...' if len(unrelated) > 10 else ''}.",
                            count=len(unrelated)))
    return found, issues


def _absent(name: str, data_dir: Path, candidates: list[str], mapped: str | None) -> Issue:
    expected = " or ".join(candidates)
    if mapped or TABLES[name].mandatory:
        source = " (named in the mapping file)" if mapped else ""
        return Issue("error", name, None, "missing_file",
                     f"No {name} table: expected {expected}{source} in {data_dir}. "
                     f"The {name} table is required; see docs/data-contract.md.")
    return Issue("info", name, None, "missing_table",
                 f"No {name} table ({expected}): {ABSENT_CONSEQUENCES.get(name, 'it will be treated as empty')}.")


def read_file(name: str, path: Path) -> tuple[RawTable | None, list[Issue]]:
    """Read ``path`` (by extension) with every CSV cell as text; unreadable files become issues, not exceptions."""
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        return None, [_unreadable(name, path, f"it has the extension {suffix or '(none)'!r}; "
                                              "export the table as .csv or .parquet")]
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype="category", keep_default_na=False, na_values=list(CSV_NA_VALUES),
                                encoding="utf-8-sig")
            offset = 2
        else:
            frame = _read_parquet(path)
            offset = 1
    except pd.errors.EmptyDataError:
        return None, [Issue("error", name, None, "empty_table",
                            f"{path.name} is empty (no header, no rows); remove the file if you have no {name} data.")]
    except UnicodeDecodeError as exc:
        return None, [_unreadable(name, path, f"it is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                              "save it as UTF-8 CSV")]
    except (pd.errors.ParserError, pa.ArrowException, OSError, ValueError) as exc:
        return None, [_unreadable(name, path, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)]
    frame.index = pd.RangeIndex(len(frame))
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(name, path, frame, offset), []


def _read_parquet(path: Path) -> pd.DataFrame:
    """Text columns come back dictionary-encoded (pandas Categorical) so later steps work on unique values."""
    schema = pq.read_schema(path)
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return pq.read_table(path, read_dictionary=text).to_pandas(date_as_object=False)


def _unreadable(name: str, path: Path, why: str) -> Issue:
    return Issue("error", name, None, "unreadable_file",
                 f"{path.name} cannot be read as the {name} table: {why}.")
