"""Writing result tables to CSV or Parquet, chosen by the file's extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from b2bscore.errors import DataError

OUTPUT_SUFFIXES = (".csv", ".parquet")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` (.csv or .parquet), creating the parent folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise DataError(f"output file {path}: unsupported extension {suffix or '(none)'!r}; use .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
