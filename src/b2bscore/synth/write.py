"""Deterministic writers: pyarrow tables with explicit schemas, no pandas index, fixed formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from b2bscore.data.contract import TABLES

NS = 1_000_000_000


def take(strings: np.ndarray | list[str] | tuple[str, ...], index: np.ndarray) -> pa.Array:
    """``strings[index]`` as an Arrow string array, null where ``index < 0`` (no Python loop)."""
    values = pa.array(np.asarray(strings, dtype=object), type=pa.string())
    index = np.asarray(index, dtype=np.int64)
    return values.take(pa.array(index, mask=index < 0)) if len(index) else pa.array([], pa.string())


def timestamps(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as tz-naive ``timestamp[ns]`` (UTC wall time), null where ``null``."""
    values = (np.asarray(seconds, dtype=np.int64) * NS).astype("datetime64[ns]")
    return pa.array(values, type=pa.timestamp("ns"), mask=null)


def floats(values: np.ndarray, decimals: int) -> pa.Array:
    """Rounded float64 (so CSV text is stable), null where NaN."""
    values = np.round(np.asarray(values, dtype=np.float64), decimals)
    return pa.array(values, type=pa.float64(), mask=np.isnan(values))


def contract_table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """Assemble ``name`` with exactly the contract's columns, in the contract's order."""
    expected = TABLES[name].column_names
    if tuple(columns) != expected:
        raise ValueError(f"table {name}: columns {tuple(columns)} differ from the contract {expected}")
    return pa.table(columns)


def write_arrow(table: pa.Table, path: Path) -> Path:
    """Write ``table`` as Parquet or CSV depending on ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
        return path
    cols = []
    for field, col in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
        cols.append(col)
    pa_csv.write_csv(pa.table(cols, names=table.column_names), path)
    return path
