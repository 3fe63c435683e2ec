"""The prediction log: every scored record's model inputs, scores, model versions and time, as Parquet parts.

Layout: ``<home>/predictions/<kind>/date=YYYY-MM-DD/part-<time>-<uuid>.parquet`` (kind = leads or accounts),
readable as one dataset by pandas, pyarrow or DuckDB. It holds ids, features and scores — never contact
names, e-mails or free text: free-text columns are dropped before writing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

_PERSONAL = ("name", "email", "first_name", "last_name", "phone", "job_title", "reasons_for", "reasons_against")


class PredictionLog:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def append(self, kind: str, scores: pd.DataFrame, features: pd.DataFrame, *, source: str,
               now: datetime | None = None) -> Path | None:
        """Append one batch; returns the part written (None for an empty batch)."""
        if scores.empty:
            return None
        now = now or datetime.now(timezone.utc)
        keys = [c for c in ("lead_id", "account_id", "as_of") if c in scores.columns]
        inputs = features.drop(columns=[c for c in features.columns if c in scores.columns and c not in keys], errors="ignore")
        frame = scores.merge(inputs, on=keys, how="left", suffixes=("", "_feature")) if len(inputs.columns) > len(keys) else scores.copy()
        frame = frame.drop(columns=[c for c in frame.columns if c in _PERSONAL or c == "icp_flags"], errors="ignore")
        frame["scored_at"] = pd.Timestamp(now).tz_convert("UTC").tz_localize(None)
        frame["source"] = source
        folder = self.root / kind / f"date={now:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
        frame.to_parquet(path, index=False)
        return path

    def read(self, kind: str, since: datetime | None = None) -> pd.DataFrame:
        """Every logged row of ``kind`` (optionally only those scored at or after ``since``)."""
        folder = self.root / kind
        parts = sorted(folder.glob("date=*/part-*.parquet")) if folder.exists() else []
        if not parts:
            return pd.DataFrame()
        frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        if since is not None:
            frame = frame[frame["scored_at"] >= pd.Timestamp(since).tz_localize(None)]
        return frame.reset_index(drop=True)
