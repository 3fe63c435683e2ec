"""The latest segmentation's tier and data-driven segment per account, for the scores the service and batch return.

Segment versions are written whole by ``b2bscore segment`` and read through the home's
:class:`~b2bscore.segments.store.SegmentStore`; this keeps the newest one's labels and re-reads only when a newer
version appears, so a refresh reaches the service without a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from b2bscore.segments.store import SegmentStore

COLUMNS = ("tier", "cluster_name")


@dataclass
class SegmentLookup:
    """Labels from the segmentation versions in ``root`` (a project home's ``segments_dir``)."""

    root: Path
    version: str | None = None
    _table: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self) -> str | None:
        """Load the newest segmentation if it changed; returns the version in use (None: no segmentation yet)."""
        with self._lock:
            store = SegmentStore(self.root)
            newest = store.latest()
            if newest is not None and newest != self.version:
                frame = store.labels(newest, columns=COLUMNS).frame.reindex(columns=["account_id", *COLUMNS])
                frame = frame.astype(object).where(frame.notna(), None)
                self._table = {a: (t, c) for a, t, c in frame.itertuples(index=False)}
                self.version = newest
            return self.version

    def of(self, account_id: str | None) -> tuple[str | None, str | None]:
        """The (tier, segment) of one account (None, None when it is not segmented yet)."""
        return self._table.get(account_id, (None, None))

    def label(self, scores: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
        """``scores`` with the ``tier`` and ``segment`` (those of ``columns``) of each row's account (None for an
        account not segmented yet), in the order of ``columns``."""
        out = scores.copy()
        found = [self._table.get(a, (None, None)) for a in out["account_id"]]
        out["tier"] = pd.Series([t for t, _ in found], index=out.index, dtype=object)
        out["segment"] = pd.Series([c for _, c in found], index=out.index, dtype=object)
        return out[[c for c in columns if c in out.columns]]
