"""``check_drift``: one model's reference against its current rows, overall and per segment.

Per segment: every model feature through Evidently's per-type tests, the score distribution, and realised vs
predicted on the rows whose outcome is known; then the rules give the segment its status. A segment with
fewer rows than the configured minimums is reported as not judged rather than guessed at.

Segments read from a segmentation version (tier, data-driven clusters) are judged on drift only and can warn,
not alert: an account's segment today depends on its scores and behaviour today (a customer today did not churn
then), so its current rows differ from its own past rows by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.grouped import GroupedDrift, supported
from b2bscore.monitoring.result import OVERALL, Performance, SegmentResult
from b2bscore.monitoring.rules import judge
from b2bscore.monitoring.segments import ASSIGNMENT_COLUMNS, Slice, segment_slices
from b2bscore.monitoring.stats import (
    CATEGORICAL,
    NUMERIC,
    calibration,
    column_drift,
    column_kind,
    ranking,
    ranking_drop,
    segment_share,
)


@dataclass(frozen=True)
class FeatureSchema:
    """The model's input columns, split by declared type, and the ones whose drift alone matters."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    key: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def check_drift(reference: pd.DataFrame, current: pd.DataFrame, matured: pd.DataFrame | None, *, kind: str,
                schema: FeatureSchema, config: MonitorConfig) -> tuple[tuple[SegmentResult, ...], tuple[str, ...]]:
    """Judge every segment (the whole population first); returns the results and notes on segments left out.

    ``reference`` and ``matured`` carry ``prediction`` and ``label``; ``current`` carries ``prediction``.
    """
    slices, notes = segment_slices(reference, current, matured, config.segments.columns)
    kinds = {c: column_kind(reference[c].dropna(), current[c].dropna(), categorical=c in schema.categorical,
                            max_categories=config.drift.max_categories) for c in schema.names}
    kinds["prediction"] = NUMERIC
    reference, current = _typed(reference, kinds), _typed(current, kinds)
    totals = (_accounts(reference), _accounts(current))
    windows = _windows(reference, config.window_days)
    # the default tests of every segment from columns prepared once (identical figures, a fraction of the time)
    grouped = GroupedDrift(reference, current, kinds, config.drift) if supported(config.drift) else None
    results = tuple(_check_slice(piece, reference, current, matured, kind=kind, schema=schema, config=config,
                                 totals=totals, windows=windows, kinds=kinds, grouped=grouped) for piece in slices)
    return results, tuple(notes)


def _typed(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Categorical columns as text once, rather than once per segment (missing values stay missing)."""
    text = {c: frame[c].astype(object).where(frame[c].notna(), None).map(lambda v: v if v is None else str(v))
            for c, k in kinds.items() if k == CATEGORICAL and c in frame.columns}
    return frame.assign(**text) if text else frame


def _windows(reference: pd.DataFrame, days: float) -> np.ndarray | None:
    """Which reference window (as long as the current one) each reference row falls in, by its ``as_of``."""
    if "as_of" not in reference.columns or reference.empty:
        return None
    as_of = pd.to_datetime(reference["as_of"])
    return ((as_of - as_of.min()) / pd.Timedelta(days=days)).astype(int).to_numpy()


def _window_shares(reference: pd.DataFrame, positions: np.ndarray, windows: np.ndarray | None) -> np.ndarray | None:
    """The segment's share of the accounts in each full reference window."""
    if windows is None:
        return None
    keys = reference["account_id"].to_numpy() if "account_id" in reference.columns else np.arange(len(reference))
    frame = pd.DataFrame({"window": windows, "account": keys, "mine": np.isin(np.arange(len(reference)), positions)})
    per_window = frame.groupby(["window", "account"], sort=False)["mine"].max().groupby(level="window").mean()
    last = windows.max()
    return per_window.drop(index=last).to_numpy() if last > 0 else per_window.to_numpy()  # the last one may be partial


def _accounts(frame: pd.DataFrame) -> int:
    return int(frame["account_id"].nunique()) if "account_id" in frame.columns else len(frame)


def _once(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per account (its last): the unit of evidence for significance tests."""
    return frame.drop_duplicates("account_id", keep="last") if "account_id" in frame.columns else frame


def _check_slice(piece: Slice, reference: pd.DataFrame, current: pd.DataFrame, matured: pd.DataFrame | None, *,
                 kind: str, schema: FeatureSchema, config: MonitorConfig, totals: tuple[int, int],
                 windows: np.ndarray | None, kinds: dict[str, str], grouped: GroupedDrift | None = None) -> SegmentResult:
    seg = config.segments
    assigned = piece.column in ASSIGNMENT_COLUMNS  # a tier or data-driven segment: membership is today's
    ref, cur = reference.iloc[piece.reference], current.iloc[piece.current]
    mat = matured.iloc[piece.matured] if matured is not None else None
    notes: list[str] = []
    features: tuple = ()
    score = share = None
    if len(cur) >= seg.min_rows and len(ref) >= seg.min_reference_rows and grouped is not None:
        test_ref, test_cur = grouped.once(piece.reference, piece.current)

        def drift(column: str, is_categorical: bool):
            return grouped.drift(column, piece.reference, piece.current, test_ref, test_cur)
    elif len(cur) >= seg.min_rows and len(ref) >= seg.min_reference_rows:
        ref_once, cur_once = _once(ref), _once(cur)

        def drift(column: str, is_categorical: bool):
            return column_drift(column, ref[column], cur[column], categorical=is_categorical, config=config.drift,
                                test_reference=ref_once[column], test_current=cur_once[column], kind=kinds[column])
    if len(cur) >= seg.min_rows and len(ref) >= seg.min_reference_rows:
        categorical = set(schema.categorical)

        features = tuple(d for d in (drift(c, c in categorical) for c in schema.names) if d is not None)
        score = drift("prediction", False)
    else:
        notes.append(f"drift not judged: {len(cur):,} current and {len(ref):,} reference rows "
                     f"(at least {seg.min_rows} and {seg.min_reference_rows} needed)")
    # a tier or data-driven segment is assigned today, from today's scores and behaviour: how many of the reference
    # rows' accounts are in it today says nothing about a market move (customers now were prospects then)
    if (piece.column != OVERALL and not assigned and len(ref) >= seg.min_reference_rows
            and totals[1] >= seg.min_rows):
        share = segment_share(_accounts(ref), totals[0], _accounts(cur), totals[1],  # also when it (nearly) vanished
                              window_shares=_window_shares(reference, piece.reference, windows))
    performance = None
    if assigned:
        mat = None  # today's tier of an account depends on what happened since: a customer now did not churn then
    elif mat is not None and len(mat) >= seg.min_rows:
        performance = _performance(ref, mat, kind=kind, min_outcomes=seg.min_outcomes)
    elif mat is not None and len(mat):
        notes.append(f"performance not judged: {len(mat):,} rows with a known outcome (at least {seg.min_rows} needed)")
    if not features and performance is None and share is None:
        return SegmentResult(piece.column, piece.value, len(ref), len(cur), 0 if mat is None else len(mat), (), None, None,
                             "not_judged", (), tuple(notes))
    status, findings = judge(features, score, performance, key_features=schema.key, rules=config.rules,
                             p_value=config.drift.p_value, share=share)
    if assigned and status == "alert":
        findings = tuple(replace(f, level="warn") for f in findings)
        status = "warn"
        notes.append(f"capped at warn: an account's {piece.column} today comes from its scores and behaviour today, so "
                     "these rows differ from their own past by construction; alerts come from fixed segments")
    return SegmentResult(piece.column, piece.value, len(ref), len(cur), 0 if mat is None else len(mat), features, score,
                         performance, status, findings, tuple(notes), share)


def _performance(reference: pd.DataFrame, matured: pd.DataFrame, *, kind: str, min_outcomes: int) -> Performance:
    label, prediction = matured["label"].to_numpy(dtype=np.float64), matured["prediction"].to_numpy(dtype=np.float64)
    current = ranking(label, prediction, kind=kind, min_outcomes=min_outcomes)
    before = ranking(reference["label"].to_numpy(dtype=np.float64), reference["prediction"].to_numpy(dtype=np.float64),
                     kind=kind, min_outcomes=min_outcomes)
    drop, drop_z = ranking_drop(before, current) if before is not None and current is not None else (None, None)
    gap = calibration(label, prediction, reference_label=reference["label"].to_numpy(dtype=np.float64),
                      reference_prediction=reference["prediction"].to_numpy(dtype=np.float64), kind=kind)
    return Performance(gap, before, current, drop, drop_z)
