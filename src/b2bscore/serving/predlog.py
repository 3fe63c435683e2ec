"""The prediction log: every scored record's model inputs, scores, model versions and time, as Parquet parts.

Layout: ``<home>/predictions/<kind>/date=YYYY-MM-DD/part-<time>-<uuid>.parquet`` (kind = leads or accounts),
readable as one dataset by pandas, pyarrow or DuckDB. It holds ids, features and scores — never contact
names, e-mails or free text: free-text columns are dropped before writing.

Each part is written whole under a temporary name (hidden, so no ``part-*.parquet`` reader sees it) and renamed
into place, so a crash never leaves a half-written part. The batch job writes one part per chunk
(:meth:`PredictionLog.append`); the service collects its requests' rows in a :class:`PredictionBuffer` and writes
one part every N rows or S seconds and when it stops, so a day's log stays a handful of files.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa

from b2bscore.errors import B2BScoreError
from b2bscore.io import atomic_output

log = logging.getLogger(__name__)

_PERSONAL = ("name", "email", "first_name", "last_name", "phone", "job_title", "reasons_for", "reasons_against")
PART_GLOB = "date=*/part-*.parquet"


def log_rows(scores: pd.DataFrame, features: pd.DataFrame, *, source: str, now: datetime) -> pd.DataFrame:
    """The rows the log keeps for one scored batch: scores joined to their model inputs, without personal data."""
    keys = [c for c in ("lead_id", "account_id", "as_of") if c in scores.columns]
    inputs = features.drop(columns=[c for c in features.columns if c in scores.columns and c not in keys], errors="ignore")
    if len(inputs.columns) <= len(keys):
        frame = scores.copy()
    elif _aligned(scores, inputs, keys):  # one feature row per scored row, in order: ids may repeat in a batch
        extra = inputs.drop(columns=keys).reset_index(drop=True)
        frame = pd.concat([scores.reset_index(drop=True), extra], axis=1)
    else:
        frame = scores.merge(inputs, on=keys, how="left", suffixes=("", "_feature"))
    frame = frame.drop(columns=[c for c in frame.columns if c in _PERSONAL or c == "icp_flags"], errors="ignore")
    frame["scored_at"] = pd.Timestamp(now).tz_convert("UTC").tz_localize(None)
    frame["source"] = source
    return frame


def _aligned(scores: pd.DataFrame, features: pd.DataFrame, keys: list[str]) -> bool:
    """Whether row i of ``features`` is the input of row i of ``scores`` (same length, same keys row by row)."""
    if len(scores) != len(features) or not set(keys) <= set(features.columns):
        return False
    return all(scores[k].reset_index(drop=True).equals(features[k].reset_index(drop=True)) for k in keys)


class PredictionLog:
    """The log under ``root`` (a project home's ``predictions_dir``).

    After :meth:`read`, ``skipped`` lists the parts it could not read (e.g. truncated by a crash of an older
    version), so a caller can report them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.skipped: list[Path] = []

    def append(self, kind: str, scores: pd.DataFrame, features: pd.DataFrame, *, source: str,
               now: datetime | None = None) -> Path | None:
        """Write one batch as one part, now; returns the part written (None for an empty batch)."""
        if scores.empty:
            return None
        now = now or datetime.now(timezone.utc)
        return self.write(kind, log_rows(scores, features, source=source, now=now), now=now)

    def write(self, kind: str, rows: pd.DataFrame, *, now: datetime) -> Path:
        """Write ``rows`` (from :func:`log_rows`) as one part in the folder of ``now``'s date, atomically (temporary
        parts that killed writers left in that folder are removed: never renamed, they were never read)."""
        folder = self.root / kind / f"date={now:%Y-%m-%d}"
        path = folder / f"part-{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
        with atomic_output(path) as temporary:
            rows.to_parquet(temporary, index=False)
        return path

    def read(self, kind: str, since: datetime | None = None) -> pd.DataFrame:
        """Every logged row of ``kind`` (optionally only those scored at or after ``since``).

        A part that cannot be read is skipped with a warning naming it, and listed in ``skipped``."""
        folder = self.root / kind
        parts = sorted(folder.glob(PART_GLOB)) if folder.exists() else []
        frames, self.skipped = [], []
        for part in parts:
            try:
                frames.append(pd.read_parquet(part))
            except (OSError, ValueError, pa.ArrowException) as exc:
                log.warning("skipped the unreadable prediction-log part %s (%s)", part, str(exc)[:200])
                self.skipped.append(part)
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True)
        if since is not None:
            frame = frame[frame["scored_at"] >= pd.Timestamp(since).tz_localize(None)]
        return frame.reset_index(drop=True)


class PredictionBuffer:
    """The service's rows waiting to be written to ``log``: one part per kind every ``max_rows`` rows, or once the
    oldest row waited ``max_seconds`` (:meth:`flush_due`, called by a timer), and whatever is left at
    :meth:`flush`. Safe to use from the service's request threads."""

    def __init__(self, log: PredictionLog, *, max_rows: int, max_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self._clock = clock
        self._rows: dict[str, list[pd.DataFrame]] = {}
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def add(self, kind: str, scores: pd.DataFrame, features: pd.DataFrame, *, source: str,
            now: datetime | None = None) -> list[Path]:
        """Keep one scored batch; returns the parts written when this batch filled the buffer (usually none)."""
        if scores.empty:
            return []
        rows = log_rows(scores, features, source=source, now=now or datetime.now(timezone.utc))
        with self._lock:
            self._rows.setdefault(kind, []).append(rows)
            self._since.setdefault(kind, self._clock())
            full = sum(len(r) for r in self._rows[kind]) >= self.max_rows
        return self._flush([kind], min_rows=self.max_rows) if full else []

    def add_later(self, kind: str, rows: int, payload: object, build: Callable[[list], pd.DataFrame]) -> list[Path]:
        """Keep a scored batch of ``rows`` rows as ``payload``; its log rows (from :func:`log_rows`) are built when
        they are written, by one ``build(payloads)`` call for all the consecutive batches of the same ``build``:
        the by-id path builds no frame while it answers, and a part of many requests costs one build."""
        if rows <= 0:
            return []
        with self._lock:
            self._rows.setdefault(kind, []).append(_Later(rows, payload, build))  # type: ignore[arg-type]
            self._since.setdefault(kind, self._clock())
            full = sum(len(r) for r in self._rows[kind]) >= self.max_rows
        return self._flush([kind], min_rows=self.max_rows) if full else []

    def pending(self, kind: str) -> int:
        with self._lock:
            return sum(len(r) for r in self._rows.get(kind, []))

    def flush_due(self) -> list[Path]:
        """Write the kinds whose oldest row has waited ``max_seconds``."""
        now = self._clock()
        with self._lock:
            due = [kind for kind, since in self._since.items() if now - since >= self.max_seconds]
        return self._flush(due) if due else []

    def flush(self) -> list[Path]:
        """Write every waiting row."""
        with self._lock:
            kinds = list(self._rows)
        return self._flush(kinds)

    def _flush(self, kinds: list[str], *, min_rows: int = 0) -> list[Path]:
        """Write the rows of ``kinds`` (of those holding at least ``min_rows``, checked once this writer's turn came:
        another thread may have written them meanwhile)."""
        written = []
        with self._write_lock:  # one writer at a time, so rows reach the log in the order they came
            for kind in kinds:
                with self._lock:
                    if sum(len(r) for r in self._rows.get(kind, [])) < max(min_rows, 1):
                        continue
                    batches = self._rows.pop(kind, [])
                    self._since.pop(kind, None)
                if not batches:
                    continue
                batches = _built(batches)
                try:
                    frame = pd.concat(batches, ignore_index=True)
                    pa.Table.from_pandas(frame)  # batches that cannot share one part (a column of two types)...
                except (ValueError, pa.ArrowException):
                    written += [p for b in batches if (p := self._write_alone(kind, b)) is not None]  # ...go alone
                    continue
                dates = frame["scored_at"].dt.date
                for date in sorted(dates.unique()):  # a part per day, in that day's folder
                    day = frame[dates == date].reset_index(drop=True)
                    try:
                        written.append(self.log.write(kind, day, now=day["scored_at"].max().to_pydatetime()))
                    except (OSError, B2BScoreError) as exc:  # a full disk, say: keep the rows, retry at the next flush
                        rest = frame[dates >= date]
                        log.warning("could not write the prediction log under %s (%s); %d %s rows kept in memory",
                                    self.log.root / kind, exc, len(rest), kind)
                        with self._lock:
                            self._rows[kind] = [rest, *self._rows.get(kind, [])]
                            self._since.setdefault(kind, self._clock())
                        break
        return written

    def _write_alone(self, kind: str, rows: pd.DataFrame) -> Path | None:
        try:
            return self.log.write(kind, rows, now=rows["scored_at"].max().to_pydatetime())
        except (OSError, ValueError, pa.ArrowException, B2BScoreError) as exc:
            log.error("could not write %d %s rows to the prediction log under %s: %s", len(rows), kind,
                      self.log.root / kind, exc)
            return None


class _Later:
    """Rows of the buffer built only when written (:meth:`PredictionBuffer.add_later`)."""

    def __init__(self, rows: int, payload: object, build: Callable[[list], pd.DataFrame]) -> None:
        self.rows, self.payload, self.build = rows, payload, build

    def __len__(self) -> int:
        return self.rows


def _built(batches: list) -> list[pd.DataFrame]:
    """``batches`` with each run of consecutive :class:`_Later` batches of one ``build`` built in one call."""
    out: list[pd.DataFrame] = []
    run: list[_Later] = []
    for batch in [*batches, None]:
        if run and not (isinstance(batch, _Later) and batch.build is run[0].build):
            out.append(run[0].build([later.payload for later in run]))
            run = []
        if isinstance(batch, _Later):
            run.append(batch)
        elif batch is not None:
            out.append(batch)
    return out
