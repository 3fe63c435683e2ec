"""``segment_accounts``: one segmentation of every account as of a date -- frames in, a typed result out.

Features and KPIs read only the data before ``as_of``; given an earlier segmentation, the result also says who
moved where and why. Nothing is written here: the job stores the result as a version folder through
:class:`~b2bscore.segments.store.SegmentStore` (``write_segmentation`` writes it into any new folder).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.features import build_features, feature_specs
from b2bscore.segments.assign import AssignmentResult, assign_segments
from b2bscore.segments.config import SegmentConfig, check_rule_columns
from b2bscore.segments.diff import SegmentDiff, diff_assignments
from b2bscore.segments.kpis import segment_kpis
from b2bscore.segments.report import ranked_accounts, summary_html


@dataclass(frozen=True)
class SegmentationSnapshot:
    """An earlier segmentation to compare with: its assignment frame, the features it was built from, and
    ``source``, where it was read from (recorded as ``previous`` in the new segmentation's manifest)."""

    assignments: pd.DataFrame
    features: pd.DataFrame
    source: str


@dataclass(frozen=True)
class SegmentationResult:
    """What one segmentation produced. ``features``: the account features it was built from (what the next
    refresh diffs against); ``summary``: the HTML page for sales; ``manifest``: as-of date, config, fallback
    notes and the clustering choice. ``fallback`` / ``notes`` say when no model scores were used."""

    as_of: pd.Timestamp
    features: pd.DataFrame
    assignments: AssignmentResult
    kpis: pd.DataFrame
    ranked: pd.DataFrame
    diff: SegmentDiff | None
    summary: str
    manifest: dict[str, object]

    @property
    def fallback(self) -> bool:
        return self.assignments.fallback

    @property
    def notes(self) -> tuple[str, ...]:
        return self.assignments.notes


def segment_accounts(data: Dataset, as_of: pd.Timestamp | str, config: SegmentConfig, scores: pd.DataFrame | None,
                     previous: SegmentationSnapshot | None = None) -> SegmentationResult:
    """Segment ``data`` as of ``as_of`` (features and KPIs use only data before it).

    ``scores``: ``account_id`` with ``p_convert``, ``p_churn``, ``cltv_pred`` (None: fit-and-behaviour
    fallback). ``previous``: an earlier segmentation to compare with.
    """
    as_of = pd.Timestamp(as_of)
    check_rule_columns(config, [s.name for s in feature_specs(config.features)] + ["account_id"])
    features = build_features(data, as_of=as_of, config=config.features)  # point-in-time: only data before as_of
    assignments = assign_segments(features, scores, config)
    kpis = segment_kpis(assignments.frame, data, as_of, config.kpis)
    diff = (diff_assignments(previous.assignments, assignments.frame, previous.features, features)
            if previous is not None else None)
    tier_order = tuple(dict.fromkeys([r.label for r in config.tiers.rules] + [config.tiers.default]))
    ranked = ranked_accounts(assignments.frame, data.accounts, tier_order)
    page = summary_html(assignments.frame, kpis, assignments.profiles, as_of=as_of, notes=assignments.notes,
                        diff_text=diff.render() if diff else None)
    manifest = _manifest(as_of, config, assignments, kpis, previous)
    return SegmentationResult(as_of=as_of, features=features, assignments=assignments, kpis=kpis, ranked=ranked,
                              diff=diff, summary=page, manifest=manifest)


def _manifest(as_of: pd.Timestamp, config: SegmentConfig, assignments: AssignmentResult, kpis: pd.DataFrame,
              previous: SegmentationSnapshot | None) -> dict[str, object]:
    frame = assignments.frame
    return {
        "as_of": as_of.isoformat(),
        "accounts": len(frame),
        "fallback": assignments.fallback,
        "notes": list(assignments.notes),
        "tiers": {str(k): int(v) for k, v in frame["tier"].value_counts().sort_index().items()},
        "clustering": {"k": assignments.clustering.k, "criterion": assignments.clustering.criterion,
                       "scores": {str(k): v for k, v in assignments.clustering.scores.items()},
                       "features": list(config.clustering.features)},
        "kpi_window": {"start": kpis["window_start"].iloc[0].isoformat(), "end": kpis["window_end"].iloc[0].isoformat()}
        if len(kpis) else None,
        "flagged_segments": int(kpis["flagged"].sum()) if len(kpis) else 0,
        "previous": previous.source if previous is not None else None,
        "config": config.model_dump(mode="json"),
    }
