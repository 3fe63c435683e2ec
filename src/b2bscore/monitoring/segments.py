"""Which segment each reference and current row belongs to, and the list of segments to judge.

``industry``, ``region``, ``size_band`` (any model feature) are read from the rows themselves. ``tier``,
``cluster_name`` (any segment kind of a segmentation version) come from the latest segmentation version
(:meth:`SegmentStore.labels`), by account: a row is judged in the segment its account is in *now*, on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.errors import ConfigError
from b2bscore.monitoring.result import OVERALL
from b2bscore.segments.assign import SEGMENT_KINDS
from b2bscore.segments.store import SegmentLabels

ASSIGNMENT_COLUMNS: tuple[str, ...] = SEGMENT_KINDS
"""The segmentation columns a row can be judged by (one per segment kind)."""


def check_segment_columns(columns: tuple[str, ...], features: tuple[str, ...], every_feature: tuple[str, ...] = ()
                          ) -> None:
    """Every configured segment column must be a segmentation column or a feature: of a monitored model
    (``features``), or of another one (``every_feature``), which the models without it skip (churn and
    ``lead_source``). Anything else is a misspelling, refused with the choices."""
    known = {*features, *every_feature, *ASSIGNMENT_COLUMNS}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ConfigError(f"segments.columns: {', '.join(unknown)} is neither a model feature nor a segmentation "
                          f"column; choose from {', '.join(ASSIGNMENT_COLUMNS)} or a feature such as industry, region, "
                          "size_band, lead_source")


def attach_segments(frame: pd.DataFrame, segments: SegmentLabels, columns: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with the segmentation columns among ``columns`` joined by ``account_id`` (missing: no label)."""
    wanted = [c for c in columns if c in ASSIGNMENT_COLUMNS and c not in frame.columns]
    if not wanted or segments.frame is None or "account_id" not in frame.columns:
        return frame
    labels = segments.frame[["account_id", *[c for c in wanted if c in segments.frame.columns]]]
    return frame.merge(labels.drop_duplicates("account_id"), on="account_id", how="left")


@dataclass(frozen=True)
class Slice:
    """Row positions of one segment in the reference, current and matured frames."""

    column: str
    value: str
    reference: np.ndarray
    current: np.ndarray
    matured: np.ndarray


def segment_slices(reference: pd.DataFrame, current: pd.DataFrame, matured: pd.DataFrame | None,
                   columns: tuple[str, ...]) -> tuple[list[Slice], list[str]]:
    """The whole population first, then one slice per value of each column; and notes on columns left out."""
    matured = matured if matured is not None else current.iloc[0:0]
    everything = [Slice(OVERALL, OVERALL, np.arange(len(reference)), np.arange(len(current)), np.arange(len(matured)))]
    notes = []
    for column in columns:
        frames = (reference, current, matured) if len(matured) else (reference, current)
        if any(column not in f.columns for f in frames):
            if column in ASSIGNMENT_COLUMNS:
                notes.append(f"segment column {column} is not available (no segmentation version yet: "
                             "run `b2bscore segment --data DIR`)")
            continue  # a feature this model does not read, e.g. lead_source for the churn model
        labels = [f[column].astype(object).where(f[column].notna(), None) if column in f.columns else None
                  for f in (reference, current, matured)]
        values = sorted({str(v) for series in labels if series is not None for v in series.dropna().unique()})
        texts = [series.astype(str).to_numpy() if series is not None and len(series) else None for series in labels]
        for value in values:
            positions = [np.flatnonzero(text == value) if text is not None else np.arange(0) for text in texts]
            everything.append(Slice(column, value, *positions))
    return everything, notes
