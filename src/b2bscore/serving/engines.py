"""Where ``b2bscore features`` and ``b2bscore score`` run: ``local`` (the whole data in one process: the default and
the path of :func:`b2bscore.serving.batch.run_batch_scoring`), ``buckets`` (account buckets one after another in
this process, so memory stays flat as the data grows) or ``spark`` (one Spark task per bucket).

Both bucketed engines run the same per-bucket code — :func:`b2bscore.features.build_features` and
:func:`b2bscore.serving.batch.score_entities` on one bucket's accounts — and write the buckets' rows in bucket order,
so their files hold the same rows and values as the local path's (in another row order). What is decided on the
whole data is decided once, before the buckets run, and handed to every bucket: the customer's own columns and
activity topics that become features (:func:`b2bscore.features.resolve_custom_features`) and the default as-of (the
data's end). Everything else a score needs (BTYD fits, target encoders, calibration) lives in the champion models,
which are built once per process, or broadcast once to Spark's executors.

The data is read from a partition written by ``b2bscore partition`` (:mod:`b2bscore.data.buckets`); given an
ordinary data directory, a bucketed engine partitions it first into a temporary folder (a local Spark master only:
a cluster's executors cannot read this machine's temporary folder).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from b2bscore.data.buckets import PartitionedData, partition_dataset
from b2bscore.data.dataset import as_of_after
from b2bscore.data.load import load_dataset
from b2bscore.data.mapping import MappingConfig
from b2bscore.errors import ConfigError, DataError
from b2bscore.features import FeatureConfig, build_features, resolve_custom_features
from b2bscore.features.custom import ActivitySummary
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.io import check_table_path
from b2bscore.serving.batch import (
    BatchResult,
    EntityScores,
    _champions,
    _output_paths,
    _published,
    _Writer,
    score_entities,
    scorers,
    write_entity_scores,
)
from b2bscore.serving.online import StoreLocation

ENGINES = ("local", "buckets", "spark")
DEFAULT_BUCKETS = 8
FEATURE_VIEW = {"accounts": (), "leads": ()}
"""What ``resolve_custom_features`` reads of the whole data: the accounts' and leads' columns. The activities' topics
and values it needs only counted: summarised bucket by bucket (:func:`_activities_of_bucket`), so the driver never
holds every activity."""
ACTIVITY_COLUMNS = ("occurred_at", "topic", "value")
TIME_VIEW = {"accounts": ("account_id",), "activities": ("occurred_at",), "revenue": ("invoice_at",),
             "leads": ("created_at",), "opportunities": ("created_at", "closed_at"),
             "technographics": ("first_seen_at",), "intent": ("week_start",)}
"""The time columns that give the data's start and end (the default as-of)."""


@dataclass(frozen=True)
class Engine:
    """Which engine runs the work: ``name`` one of :data:`ENGINES`; ``buckets`` when the data is partitioned here
    (default :data:`DEFAULT_BUCKETS`; a partition keeps its own); ``master`` Spark's master URL (default: the one
    ``spark-submit`` was given, else ``local[*]``)."""

    name: str = "local"
    buckets: int | None = None
    master: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"unknown engine {self.name!r}; choose one of: {', '.join(ENGINES)}")
        if self.buckets is not None and self.buckets < 1:
            raise ConfigError(f"--buckets must be at least 1, not {self.buckets}")
        if self.master is not None and self.name != "spark":
            raise ConfigError("--master is a Spark master URL: use it with --engine spark")


@dataclass(frozen=True)
class FeaturesResult:
    path: Path
    rows: int
    columns: int
    buckets: int


def run_features(data_dir: str | Path, out: Path, *, as_of: pd.Timestamp, entity: str = "account",
                 config: FeatureConfig = FeatureConfig(), mapping: MappingConfig | None = None,
                 engine: Engine = Engine("buckets"), progress: Progress = no_progress) -> FeaturesResult:
    """``b2bscore features`` on a bucketed engine: the features of every account (or lead created by ``as_of``),
    bucket by bucket, into ``out`` (.parquet or .csv, renamed into place when complete)."""
    check_table_path(out)
    as_of = pd.Timestamp(as_of)
    with _partitioned(data_dir, mapping, engine, progress) as source:
        if entity == "lead" and "leads" not in source.tables:
            source.global_view({"accounts": ("account_id",)}).require("leads", purpose="lead features")
        progress("resolve custom features", 0.2)
        activities = sum((_activities_of_bucket(source, bucket, as_of) for bucket in range(source.buckets)),
                         ActivitySummary())  # in this process: a few columns a bucket, not worth a Spark job
        config = resolve_custom_features(source.global_view(FEATURE_VIEW), config, as_of, activities=activities)
        columns = 0
        with _published(_Writer(Path(out), as_text=lambda frame: frame)) as (writer,):
            for _, frames in _each_bucket(source, _features_of_bucket, (as_of, entity, config), engine, progress):
                for frame in frames:
                    writer.write(frame)
                    columns = frame.shape[1]
    progress("done", 1.0)
    return FeaturesResult(path=Path(out), rows=writer.rows, columns=columns, buckets=source.buckets)


def run_scoring(data_dir: str | Path, out: Path, *, home: ProjectHome, as_of: pd.Timestamp | None = None,
                mapping: MappingConfig | None = None, chunk_size: int = 20_000, log_predictions: bool = True,
                engine: Engine = Engine("buckets"), online_store: StoreLocation = StoreLocation(),
                progress: Progress = no_progress) -> BatchResult:
    """``b2bscore score`` on a bucketed engine: the files and prediction log of
    :func:`~b2bscore.serving.batch.run_batch_scoring`, computed bucket by bucket."""
    _output_paths(Path(out))
    champions = _champions(home)
    with _partitioned(data_dir, mapping, engine, progress) as source:
        when = pd.Timestamp(as_of) if as_of is not None else as_of_after(_data_end(source))
        log_at = datetime.now(timezone.utc) if log_predictions else None
        shared = (scorers(champions), when, chunk_size, log_at, online_store.enabled)
        parts = (part for _, part in _each_bucket(source, _scores_of_bucket, shared, engine, progress))
        return write_entity_scores(parts, Path(out), home=home, champions=champions, when=when, log_at=log_at,
                                   online_store=online_store, progress=progress)


def _data_end(source: PartitionedData) -> pd.Timestamp:
    """The data's last event, bucket by bucket: a whole-data view of the time columns (every activity's time) grew
    the driver's memory with the data. The latest of the buckets' ends is the whole data's end."""
    ends, error = [], None
    for bucket in range(source.buckets):
        try:
            ends.append(source.bucket_view(bucket, TIME_VIEW).end)
        except DataError as exc:  # no dated event in this bucket
            error = exc
    if not ends:
        raise error
    return max(ends)


def _activities_of_bucket(source: PartitionedData, bucket: int, as_of: pd.Timestamp) -> ActivitySummary:
    activities = source.read_table(bucket, "activities", ACTIVITY_COLUMNS)
    return ActivitySummary() if activities is None else ActivitySummary.of(activities, as_of)


def _features_of_bucket(source: PartitionedData, bucket: int, shared) -> list[pd.DataFrame]:
    as_of, entity, config = shared
    if not source.accounts[bucket]:
        return []
    return [build_features(source.load_bucket(bucket), as_of=as_of, entity=entity, config=config)]


def _scores_of_bucket(source: PartitionedData, bucket: int, shared) -> EntityScores:
    champions, when, chunk_size, log_at, keep_features = shared
    if not source.accounts[bucket]:
        return EntityScores(leads=[], accounts=[], logged={})
    return score_entities(source.load_bucket(bucket), champions, when, chunk_size=chunk_size, log_at=log_at,
                          keep_features=keep_features)


def _each_bucket(source: PartitionedData, task: Callable, shared, engine: Engine,
                 progress: Progress) -> Iterator[tuple[int, object]]:
    """``(bucket, task(source, bucket, shared))`` for every bucket, in bucket order."""
    if engine.name == "spark":
        from b2bscore.serving.spark import run_on_spark

        yield from run_on_spark(source, task, shared, master=engine.master, progress=progress)
        return
    for bucket in range(source.buckets):
        progress(f"bucket {bucket + 1} of {source.buckets}", 0.3 + 0.6 * bucket / source.buckets)
        yield bucket, task(source, bucket, shared)


@contextmanager
def _partitioned(data_dir: str | Path, mapping: MappingConfig | None, engine: Engine,
                 progress: Progress) -> Iterator[PartitionedData]:
    """The partition at ``data_dir``, or ``data_dir`` loaded and partitioned into a temporary folder."""
    source = PartitionedData.open(data_dir)
    if source is not None:
        if engine.buckets is not None and engine.buckets != source.buckets:
            raise ConfigError(f"{data_dir} is partitioned into {source.buckets} buckets, not {engine.buckets}: "
                              f"leave --buckets out or partition it again with --buckets {engine.buckets}")
        if mapping is not None:
            raise ConfigError(f"{data_dir} is partitioned: its mapping was applied by `b2bscore partition`; "
                              "leave --mapping out")
        yield source
        return
    if engine.name == "spark" and engine.master is not None and not engine.master.startswith("local"):
        raise ConfigError(f"{data_dir} is not partitioned: on a cluster, first write the buckets where the executors "
                          "can read them (b2bscore partition DATA --buckets N --out URI), then pass that URI")
    progress("load", 0.05)
    data, _ = load_dataset(Path(data_dir), mapping)
    with tempfile.TemporaryDirectory(prefix="b2bscore-buckets-") as folder:
        progress("partition", 0.1)
        yield partition_dataset(data, engine.buckets or DEFAULT_BUCKETS, folder)


def partition(data_dir: str | Path, out: str | Path, *, buckets: int = DEFAULT_BUCKETS,
              mapping: MappingConfig | None = None, progress: Progress = no_progress) -> PartitionedData:
    """``b2bscore partition``: load and validate ``data_dir``, then write it split into account buckets at ``out``."""
    if buckets < 1:
        raise ConfigError(f"--buckets must be at least 1, not {buckets}")
    if PartitionedData.open(data_dir) is not None:
        raise DataError(f"{data_dir} is already partitioned")
    progress("load", 0.1)
    data, _ = load_dataset(Path(data_dir), mapping)
    return partition_dataset(data, buckets, out, progress=lambda step, f: progress(step, 0.3 + 0.7 * f))
