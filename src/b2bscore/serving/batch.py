"""``b2bscore score``: every open lead and every account scored with the champions, in chunks, to CSV or Parquet."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset
from b2bscore.data.mapping import MappingConfig
from b2bscore.errors import ConfigError, DataError
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.io import check_writable, remove_leftovers, temporary_name
from b2bscore.model.champions import load_champions
from b2bscore.model.scoring import shown_probability
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.serving.online import OnlineStoreWriter, StoreLocation, plan_views
from b2bscore.serving.predict import (
    ACCOUNT_FILE_COLUMNS,
    LEAD_FILE_COLUMNS,
    Scorer,
    score_account_rows,
    score_lead_rows,
)
from b2bscore.serving.predlog import PredictionLog, log_rows
from b2bscore.serving.segments import SegmentLookup

FORMATS = (".csv", ".parquet")
CSV_PROBABILITIES = ("probability", "propensity_probability", "churn_probability")
CSV_WHOLE_NUMBERS = ("score", "propensity_score", "churn_score", "cltv_pred")
"""What a CRM import reads in the CSV files: probabilities to 3 decimals, scores and money as whole numbers."""


@dataclass(frozen=True)
class BatchResult:
    leads_path: Path | None
    accounts_path: Path
    leads: int
    accounts: int
    as_of: pd.Timestamp
    versions: dict[str, str]
    segmentation: str | None = None  # the segment version whose tiers the files carry
    online_store: dict | None = None  # the manifest of the online-store generation written (None: none was)


class _Writer:
    """Appends chunks to one CSV or Parquet file, written under a fresh temporary name (never a leftover of a
    killed run) and renamed into place by :meth:`publish`; :meth:`discard` removes it."""

    def __init__(self, path: Path, as_text=None) -> None:
        self.path = path
        self.as_text = crm_text if as_text is None else as_text  # what a CSV shows (feature files: the values)
        remove_leftovers(path.parent)
        self.partial = path.with_name(temporary_name(path.name))
        self.parquet: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.path.suffix == ".csv":
            frame = self.as_text(frame)
            frame.to_csv(self.partial, mode="w" if self.rows == 0 else "a", header=self.rows == 0, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.parquet is None:  # an all-empty text column (e.g. no tier yet) is typed as text, not null
                table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                                              for f in table.schema]))
                self.parquet = pq.ParquetWriter(self.partial, table.schema)
            self.parquet.write_table(table.cast(self.parquet.schema))
        self.rows += len(frame)

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
            self.parquet = None

    def publish(self) -> None:
        """Rename the complete file into place (nothing is written when no row was)."""
        if self.rows:
            os.replace(self.partial, self.path)

    def discard(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
            self.parquet = None
        self.partial.unlink(missing_ok=True)


def crm_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as the CSV files show it (the API and the Parquet files keep the full values): probabilities to 3
    decimals, scores and money as whole numbers, the as-of as a date (YYYY-MM-DD), and the reasons as plain text
    joined by "; " (the API's JSON lists), as in the segment files."""
    out = frame.copy()
    for column in out.columns:
        if column in CSV_PROBABILITIES:
            out[column] = shown_probability(out[column])
        elif column in CSV_WHOLE_NUMBERS:
            out[column] = out[column].astype(np.float64).round(0).astype("Int64")
        elif column.startswith("reasons_"):
            out[column] = ["; ".join(json.loads(v)) if isinstance(v, str) else v for v in out[column]]
    if "as_of" in out.columns:
        out["as_of"] = pd.to_datetime(out["as_of"]).dt.strftime("%Y-%m-%d")
    return out


def _with_company(scores: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """``scores`` with each row's company name (``company``) and, for accounts, its ``status``."""
    out = scores.copy()
    out["company"] = names.reindex(out["account_id"]).to_numpy(dtype=object)
    if "is_customer" in out.columns:
        customer, prospect = out["is_customer"].to_numpy(dtype=bool), out["is_prospect"].to_numpy(dtype=bool)
        out["status"] = np.where(customer, "customer", np.where(prospect, "prospect", "former customer")).astype(object)
    return out


def _output_paths(out: Path) -> tuple[Path, Path]:
    if out.suffix not in FORMATS:
        raise ConfigError(f"--out {out}: use a .csv or .parquet file name")
    paths = out.with_name(f"{out.stem}-leads{out.suffix}"), out.with_name(f"{out.stem}-accounts{out.suffix}")
    for path in paths:
        check_writable(path)
    return paths


def run_batch_scoring(data_dir: Path, out: Path, *, home: ProjectHome, as_of: pd.Timestamp | None = None,
                      mapping: MappingConfig | None = None, chunk_size: int = 20_000, log_predictions: bool = True,
                      online_store: StoreLocation = StoreLocation(), progress: Progress = no_progress) -> BatchResult:
    """Score open leads and all accounts of ``data_dir`` as of ``as_of`` (default: midnight after the data's last
    event, the as-of ``b2bscore segment`` uses).

    Writes ``<out>-leads.<ext>`` and ``<out>-accounts.<ext>`` chunk by chunk, so the memory used by
    features and scores stays bounded by ``chunk_size`` rows whatever the number of entities; and the scored feature
    rows into a new generation of the online store (``online_store``), published together with the files.
    """
    _output_paths(Path(out))
    _champions(home)
    progress("load data", 0.0)
    data, _ = load_dataset(Path(data_dir), mapping)
    return score_dataset(data, out, home=home, as_of=as_of, chunk_size=chunk_size, log_predictions=log_predictions,
                         online_store=online_store, progress=progress)


def _champions(home: ProjectHome) -> dict:
    champions = load_champions(activate(resolve_tracking(home)))
    if not champions:
        raise DataError("no champion models are registered yet: run `b2bscore train all --data DIR` first")
    return champions


def scorers(champions: dict) -> dict[str, Scorer]:
    """Each champion with its reason writer: built once per process (or Spark executor), then used for every chunk
    and bucket."""
    return {task: Scorer(champion) for task, champion in champions.items()}


def _score_into(data: Dataset, champions: dict[str, Scorer], when: pd.Timestamp, segments, log,
                chunk_size: int, progress: Progress, leads, accounts, online=None):
    """Score open leads (with the conversion champion) and every account (churn, CLTV), chunk by chunk, into the
    two writers (and the prediction log, and each task's feature rows into ``online``: ``write(task, features)``)."""
    accounts_table = data.accounts.drop_duplicates("account_id").set_index("account_id")
    names = accounts_table["name"] if "name" in accounts_table.columns else pd.Series(dtype=object)
    if "conversion" in champions:
        scorer = champions["conversion"]
        entities = data.open_leads(when)
        for start in range(0, len(entities), chunk_size):
            scores, features = score_lead_rows(scorer, data, entities.iloc[start:start + chunk_size])
            leads.write(segments.label(_with_company(scores, names), LEAD_FILE_COLUMNS))
            if log:
                log.append("leads", scores, features, source="batch")
            if online is not None:
                online.write("conversion", features)
            progress("leads", 0.1 + 0.4 * min(1.0, (start + chunk_size) / max(len(entities), 1)))
    churn, cltv, propensity = champions.get("churn"), champions.get("cltv"), champions.get("propensity")
    frame = pd.DataFrame({"account_id": data.accounts["account_id"].to_numpy(), "as_of": when})
    if churn or cltv or propensity:
        for start in range(0, len(frame), chunk_size):
            by_task: dict[str, pd.DataFrame] | None = {} if online is not None else None
            scores, features = score_account_rows(churn, cltv, data, frame.iloc[start:start + chunk_size],
                                                  propensity=propensity, features_out=by_task)
            accounts.write(segments.label(_with_company(scores, names), ACCOUNT_FILE_COLUMNS))
            if log:
                log.append("accounts", scores, features, source="batch")
            for task, rows in (by_task or {}).items():
                online.write(task, rows)
            progress("accounts", 0.5 + 0.5 * min(1.0, (start + chunk_size) / len(frame)))
    return leads, accounts


def _segments_and_folder(home: ProjectHome, leads_path: Path) -> SegmentLookup:
    """The latest segmentation (its tier and segment label the file rows), once the output folder exists."""
    segments = SegmentLookup(home.segments_dir)
    segments.refresh()
    try:
        leads_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write output file {leads_path}: {exc.strerror}") from None
    return segments


@contextmanager
def _published(*writers: _Writer, online: OnlineStoreWriter | None = None) -> Iterator[tuple[_Writer, ...]]:
    """The writers of one set of files, written under temporary names and renamed together when the block ends
    without error (a run that fails or is killed leaves the previous complete set as it was), discarded otherwise.
    ``online``, the online store's new generation, is published just before the files are renamed (a failure there
    discards the files too)."""
    try:
        yield writers
        for writer in writers:
            writer.close()
        if online is not None:
            online.publish()
        for writer in writers:
            writer.publish()
    except BaseException:
        for writer in writers:
            writer.discard()
        if online is not None:
            online.discard()
        raise


def _online_writer(home: ProjectHome, location: StoreLocation, champions: dict,
                   when: pd.Timestamp) -> OnlineStoreWriter | None:
    """The online store's next generation for these champions (None: the store is off)."""
    if not location.enabled:
        return None
    return OnlineStoreWriter(home, location, plan_views(champions), when)


def score_dataset(data: Dataset, out: Path, *, home: ProjectHome, as_of: pd.Timestamp | None = None,
                  chunk_size: int = 20_000, log_predictions: bool = True, online_store: StoreLocation = StoreLocation(),
                  progress: Progress = no_progress) -> BatchResult:
    """``run_batch_scoring`` on an already loaded ``Dataset``."""
    leads_path, accounts_path = _output_paths(Path(out))
    champions = _champions(home)
    # the default as-of is the segmentation's (midnight after the last event): the date the files and summary show
    when = pd.Timestamp(as_of) if as_of is not None else data.resolve_as_of(None, purpose="scoring")
    log = PredictionLog(home.predictions_dir) if log_predictions else None
    segments = _segments_and_folder(home, leads_path)
    online = _online_writer(home, online_store, champions, when)
    with _published(_Writer(leads_path), _Writer(accounts_path), online=online) as writers:
        leads, accounts = _score_into(data, scorers(champions), when, segments, log, chunk_size, progress, *writers,
                                      online=online)
    progress("done", 1.0)
    return BatchResult(leads_path=leads_path if leads.rows else None, accounts_path=accounts_path, leads=leads.rows,
                       accounts=accounts.rows, as_of=when, versions={t: c.version for t, c in champions.items()},
                       segmentation=segments.version, online_store=_summary(online))


def _summary(online: OnlineStoreWriter | None) -> dict | None:
    return None if online is None else {"generation": online.generation, "rows": dict(online.rows),
                                        "store": online.location.describe()}


@dataclass(frozen=True)
class EntityScores:
    """The scored rows of some accounts (one bucket's), before the segmentation's labels: the file rows of their
    open leads and of the accounts (company and status included), and the prediction-log rows of both (empty when
    not logged)."""

    leads: list[pd.DataFrame]
    accounts: list[pd.DataFrame]
    logged: dict[str, list[pd.DataFrame]]
    features: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    """Each task's scored feature rows (for the online store; empty when not asked for)."""


class _Collected(list):
    """A writer that keeps the chunks (``_Writer``'s ``write`` and ``rows``)."""

    rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        self.append(frame)
        self.rows += len(frame)


class _Unlabelled:
    """Segment labels are added where the files are written (the segmentation lives in the project home)."""

    @staticmethod
    def label(scores: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
        return scores


@dataclass
class _LogRows:
    now: datetime
    rows: dict[str, list[pd.DataFrame]]

    def append(self, kind: str, scores: pd.DataFrame, features: pd.DataFrame, *, source: str) -> None:
        if not scores.empty:
            self.rows.setdefault(kind, []).append(log_rows(scores, features, source=source, now=self.now))


class _FeatureRows(dict):
    """An online writer that keeps each task's feature chunks (``OnlineStoreWriter``'s ``write``)."""

    def write(self, task: str, features: pd.DataFrame) -> None:
        self.setdefault(task, []).append(features)


def score_entities(data: Dataset, champions: dict[str, Scorer], when: pd.Timestamp, *, chunk_size: int = 20_000,
                   log_at: datetime | None = None, keep_features: bool = False) -> EntityScores:
    """Score the open leads and accounts of ``data`` (typically one bucket of accounts) as ``score_dataset`` does,
    keeping the rows instead of writing them; ``log_at``: the prediction log's time (None: nothing logged);
    ``keep_features``: keep each task's feature rows too (for the online store)."""
    log = _LogRows(log_at, {}) if log_at is not None else None
    features = _FeatureRows() if keep_features else None
    leads, accounts = _score_into(data, champions, when, _Unlabelled(), log, chunk_size, no_progress, _Collected(),
                                  _Collected(), online=features)
    return EntityScores(leads=list(leads), accounts=list(accounts), logged=log.rows if log else {},
                        features=dict(features or {}))


def write_entity_scores(parts: Iterable[EntityScores], out: Path, *, home: ProjectHome, champions: dict,
                        when: pd.Timestamp, log_at: datetime | None, online_store: StoreLocation = StoreLocation(),
                        progress: Progress = no_progress) -> BatchResult:
    """Write the parts from :func:`score_entities` in the order given into ``<out>-leads`` and ``<out>-accounts``
    (renamed into place together when all are written, as ``score_dataset`` does), with the latest segmentation's
    tier and segment, append their rows to the prediction log when ``log_at`` is set, and their feature rows
    (``score_entities(..., keep_features=True)``) into a new generation of ``online_store``."""
    leads_path, accounts_path = _output_paths(Path(out))
    log = PredictionLog(home.predictions_dir) if log_at is not None else None
    segments = _segments_and_folder(home, leads_path)
    online = _online_writer(home, online_store, champions, when)
    with _published(_Writer(leads_path), _Writer(accounts_path), online=online) as (leads, accounts):
        for part in parts:
            for frame in part.leads:
                leads.write(segments.label(frame, LEAD_FILE_COLUMNS))
            for frame in part.accounts:
                accounts.write(segments.label(frame, ACCOUNT_FILE_COLUMNS))
            for kind, frames in part.logged.items():
                if log is not None and frames:
                    log.write(kind, pd.concat(frames, ignore_index=True), now=log_at)
            for task, frames in part.features.items():
                for frame in frames if online is not None else ():
                    online.write(task, frame)
    progress("done", 1.0)
    return BatchResult(leads_path=leads_path if leads.rows else None, accounts_path=accounts_path, leads=leads.rows,
                       accounts=accounts.rows, as_of=when, versions={t: c.version for t, c in champions.items()},
                       segmentation=segments.version, online_store=_summary(online))
