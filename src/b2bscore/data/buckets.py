"""Account buckets: a data directory split by a stable hash of ``account_id``, one folder of Parquet files per bucket.

Every feature is a function of one account's history, so the work splits by account. ``b2bscore partition DATA
--buckets N --out DIR`` loads and validates the data once with the ordinary loader (mapping, contract checks,
canonical types) and writes each table's rows to ``DIR/bucket=KKKKK/<table>.parquet`` by the bucket of their
``account_id`` (leads, opportunities, activities and the rest follow their account), then ``DIR/_buckets.json``
last, so a half-written folder is never read as a partition.

Why a bucketed layout rather than filters on the customer's own files: the files may be CSV, use the customer's
column names (a mapping) and spellings, and hold ids that are only canonical after the loader's coercion; a filter
on raw values could put an account's rows in two buckets. Writing canonical rows once keeps the contract checks and
the mapping in one place (the loader) and makes reading a bucket one small Parquet read per table, from a local
path or any URI ``pyarrow.fs`` reaches (``s3://``, ``gs://``, ``hdfs://``): what a Spark task needs.

The bucket of an id is ``int(md5(utf8(account_id)).hexdigest()[:15], 16) % N``: the same in every process, on
every platform and Python version (Python's ``hash`` is salted per process), and computable in Spark SQL as
:data:`SPARK_SQL_BUCKET`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from b2bscore.data.contract import SPEND_TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError
from b2bscore.home import Progress, no_progress

MANIFEST = "_buckets.json"
FORMAT = 1
HASH = "md5-60"
SPARK_SQL_BUCKET = "pmod(cast(conv(substr(md5(account_id), 1, 15), 16, 10) as bigint), {buckets})"
"""The bucket of ``account_id`` as a Spark SQL expression (``.format(buckets=N)``), equal to :func:`bucket_of`."""


def bucket_of(account_ids, buckets: int) -> np.ndarray:
    """The bucket (0 .. ``buckets`` - 1) of each account id; each distinct id is hashed once."""
    if buckets < 1:
        raise DataError(f"the number of buckets must be at least 1, not {buckets}")
    codes, uniques = pd.factorize(pd.Series(np.asarray(account_ids, dtype=object)).astype(str))
    hashed = np.fromiter((int(hashlib.md5(u.encode("utf-8")).hexdigest()[:15], 16) % buckets for u in uniques),
                         dtype=np.int64, count=len(uniques))
    return hashed[codes] if len(codes) else np.empty(0, dtype=np.int64)


def split_dataset(data: Dataset, buckets: int) -> list[Dataset]:
    """``data`` as ``buckets`` datasets, each holding the rows of its accounts in their original order (the tables of
    spend, which no feature reads, are left out)."""
    tables = _account_tables(data)
    assigned = {name: bucket_of(data.table(name)["account_id"], buckets) for name in tables}
    return [replace(data, **{name: data.table(name)[assigned[name] == k].reset_index(drop=True) for name in tables},
                    **{name: None for name in SPEND_TABLES}) for k in range(buckets)]


def _account_tables(data: Dataset) -> tuple[str, ...]:
    return tuple(name for name in data.available if name not in SPEND_TABLES)


def filesystem(uri: str | Path) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``uri`` (a local path or any URI pyarrow reaches) and the path inside it."""
    text = str(uri)
    if "://" not in text:
        text = str(Path(text).expanduser().resolve())
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (pa.ArrowException, ValueError) as exc:
        raise DataError(f"cannot open {uri}: {exc}") from None
    return fs, path.rstrip("/")


@dataclass(frozen=True)
class PartitionedData:
    """A data directory split into account buckets by :func:`partition_dataset` (small: it travels to Spark tasks)."""

    uri: str
    buckets: int
    tables: tuple[str, ...]
    accounts: tuple[int, ...]  # accounts per bucket

    @classmethod
    def open(cls, uri: str | Path) -> PartitionedData | None:
        """The partition at ``uri``; None when ``uri`` holds no manifest (e.g. an ordinary data directory)."""
        fs, root = filesystem(uri)
        try:
            with fs.open_input_stream(f"{root}/{MANIFEST}") as stream:
                manifest = json.loads(stream.read().decode("utf-8"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the bucket manifest {uri}/{MANIFEST}: {exc}") from None
        if manifest.get("format") != FORMAT or manifest.get("hash") != HASH:
            raise DataError(f"{uri} was partitioned by another b2bscore release; partition the data again")
        return cls(uri=root if "://" not in str(uri) else str(uri).rstrip("/"), buckets=int(manifest["buckets"]),
                   tables=tuple(manifest["tables"]), accounts=tuple(manifest["accounts"]))

    def _path(self, bucket: int, table: str) -> str:
        return f"{filesystem(self.uri)[1]}/bucket={bucket:05d}/{table}.parquet"

    def load_bucket(self, bucket: int) -> Dataset:
        """The canonical tables of one bucket's accounts (already validated when the data was partitioned)."""
        fs, _ = filesystem(self.uri)
        return Dataset(**{name: _read(fs, self._path(bucket, name)) for name in self.tables})

    def read_table(self, bucket: int, table: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
        """One bucket's rows of ``table``, only ``columns`` of them (those it has); None when the data has no such
        table."""
        if table not in self.tables:
            return None
        fs, _ = filesystem(self.uri)
        path = self._path(bucket, table)
        wanted = [c for c in columns if c in pq.read_schema(path, filesystem=fs).names]
        return pq.read_table(path, columns=wanted, filesystem=fs).to_pandas()

    def bucket_view(self, bucket: int, columns: dict[str, tuple[str, ...]]) -> Dataset:
        """One bucket's rows of the tables and columns named (as :meth:`global_view`, for one bucket)."""
        fs, _ = filesystem(self.uri)
        return Dataset(**{name: self.read_table(bucket, name, columns[name]) if columns[name]
                          else _read(fs, self._path(bucket, name)) for name in self.tables if name in columns})

    def global_view(self, columns: dict[str, tuple[str, ...]]) -> Dataset:
        """Every bucket's rows of the tables and columns named (all columns for an empty tuple; tables not named
        and absent columns are left out), for the decisions taken once on the whole data."""
        fs, _ = filesystem(self.uri)
        frames = {}
        for name in self.tables:
            if name not in columns:
                continue
            parts = []
            for bucket in range(self.buckets):
                path = self._path(bucket, name)
                wanted = [c for c in columns[name] if c in pq.read_schema(path, filesystem=fs).names] or None
                parts.append(pq.read_table(path, columns=wanted, filesystem=fs))
            frames[name] = pa.concat_tables(parts).to_pandas()
        return Dataset(**frames)


def _read(fs: pafs.FileSystem, path: str) -> pd.DataFrame:
    try:
        return pq.read_table(path, filesystem=fs).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read the bucket file {path}: {exc}") from None


def partition_dataset(data: Dataset, buckets: int, out: str | Path, *,
                      progress: Progress = no_progress) -> PartitionedData:
    """Write ``data`` split into ``buckets`` account buckets under ``out`` (a folder or URI; an earlier partition
    there is replaced, any other non-empty folder is refused)."""
    bucket_of([], buckets)  # checks the count
    fs, root = filesystem(out)
    _prepare(fs, root, out)
    accounts = np.bincount(bucket_of(data.accounts["account_id"], buckets), minlength=buckets)
    tables = _account_tables(data)
    for n, name in enumerate(tables):
        frame = data.table(name)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        assigned = bucket_of(frame["account_id"], buckets)
        order = np.argsort(assigned, kind="stable")
        bounds = np.searchsorted(assigned[order], np.arange(buckets + 1))
        for bucket in range(buckets):
            path = f"{root}/bucket={bucket:05d}/{name}.parquet"
            try:
                fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
                pq.write_table(table.take(order[bounds[bucket]:bounds[bucket + 1]]), path, filesystem=fs)
            except OSError as exc:
                raise DataError(f"cannot write the partition {out}: {exc}") from None
        progress(f"partition {name}", (n + 1) / len(tables))
    manifest = {"format": FORMAT, "hash": HASH, "buckets": buckets, "tables": list(tables),
                "accounts": accounts.tolist(), "rows": {name: len(data.table(name)) for name in tables}}
    with fs.open_output_stream(f"{root}/{MANIFEST}") as stream:
        stream.write(json.dumps(manifest, indent=1).encode("utf-8"))
    return PartitionedData.open(out)


def _prepare(fs: pafs.FileSystem, root: str, out: str | Path) -> None:
    """An empty folder at ``root``: created, or emptied when it holds an earlier partition."""
    try:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.File:
            raise DataError(f"cannot write the partition {out}: it is a file")
        if info.type == pafs.FileType.Directory:
            if fs.get_file_info(f"{root}/{MANIFEST}").type == pafs.FileType.File:
                fs.delete_file(f"{root}/{MANIFEST}")  # first: a half-rewritten partition is never read
                fs.delete_dir_contents(root)
            elif fs.get_file_info(pafs.FileSelector(root)):
                raise DataError(f"cannot write the partition {out}: the folder holds other files; choose a new or "
                                "empty folder")
        fs.create_dir(root, recursive=True)
        probe = f"{root}/.b2bscore-write-check"
        fs.open_output_stream(probe).close()
        fs.delete_file(probe)
    except OSError as exc:
        raise DataError(f"cannot write the partition {out}: {exc}") from None
