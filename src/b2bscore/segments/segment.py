"""``segment_accounts``: one segmentation of every account as of a date -- frames in, a typed result out.

Features and KPIs read only the data before ``as_of``; given an earlier segmentation, the result also says who
moved where and why. Nothing is written here: the job stores the result as a version folder through
:class:`~b2bscore.segments.store.SegmentStore` (``write_segmentation`` writes it into any new folder).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.features import build_features, feature_specs
from b2bscore.segments.assign import AssignmentResult, assign_segments
from b2bscore.segments.backtest import TierBacktest, backtest_tiers
from b2bscore.segments.calls import CallLists, call_lists
from b2bscore.segments.cluster import carry_cluster_names
from b2bscore.segments.config import SegmentConfig, check_rule_columns
from b2bscore.segments.diff import SegmentDiff, diff_assignments, diff_kpis
from b2bscore.segments.kpis import segment_campaigns, segment_kpis, unavailable_kpis
from b2bscore.segments.report import ranked_accounts, summary_html


@dataclass(frozen=True)
class SegmentationSnapshot:
    """An earlier segmentation to compare with: its assignment frame, the features it was built from, and
    ``source``, where it was read from (recorded as ``previous`` in the new segmentation's manifest); ``kpis``, its
    KPI table (None for a version written before there was one to compare: then no CAC or ROI moves are reported)."""

    assignments: pd.DataFrame
    features: pd.DataFrame
    source: str
    kpis: pd.DataFrame | None = None


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
    backtest: TierBacktest | None = None
    calls: CallLists | None = None  # the prospects' and the customers' call lists
    campaigns: pd.DataFrame | None = None  # ROI per campaign and per campaign x segment
    kpi_notes: tuple[str, ...] = ()  # the KPIs this data cannot give, and why

    @property
    def fallback(self) -> bool:
        return self.assignments.fallback

    @property
    def notes(self) -> tuple[str, ...]:
        return self.assignments.notes


def segment_accounts(data: Dataset, as_of: pd.Timestamp | str, config: SegmentConfig, scores: pd.DataFrame | None,
                     previous: SegmentationSnapshot | None = None, outcomes: Dataset | None = None) -> SegmentationResult:
    """Segment ``data`` as of ``as_of`` (features and KPIs use only data before it).

    ``scores``: ``account_id`` with ``p_convert`` (and ``best_lead_id``), ``p_win``, ``p_churn``, ``cltv_pred``
    (None: fit-and-behaviour fallback). ``previous``: an earlier segmentation to compare with; its clusters' names are kept for the
    clusters that are the same. ``outcomes``: the data including what happened after ``as_of``, for the tier
    backtest (default ``data``); only the backtest reads past ``as_of``.
    """
    as_of = pd.Timestamp(as_of)
    check_rule_columns(config, [s.name for s in feature_specs(config.features)] + ["account_id"])
    features = build_features(data, as_of=as_of, config=config.features)  # point-in-time: only data before as_of
    assignments = assign_segments(features, scores, config)
    if previous is not None:
        assignments = _carry_names(assignments, previous)
    tier_order = tuple(dict.fromkeys([r.label for r in config.tiers.rules] + [config.tiers.default]))
    backtest = backtest_tiers(assignments.frame, data if outcomes is None else outcomes, as_of,
                              tier_order=tier_order, horizon_days=config.kpis.backtest_days)
    kpis = _with_backtest(segment_kpis(assignments.frame, data, as_of, config.kpis, attribution=config.attribution),
                          backtest)
    campaigns = segment_campaigns(assignments.frame, data, as_of, config.kpis, attribution=config.attribution)
    kpi_notes = tuple(unavailable_kpis(data, config.kpis))
    diff = (diff_assignments(previous.assignments, assignments.frame, previous.features, features)
            if previous is not None else None)
    if diff is not None and previous.kpis is not None:
        diff = replace(diff, kpi_moves=diff_kpis(previous.kpis, kpis))
    ranked = ranked_accounts(assignments.frame, data.accounts, tier_order)
    calls = call_lists(assignments.frame, features, data.accounts.set_index("account_id")["name"], _best_leads(scores))
    page = summary_html(assignments.frame, kpis, assignments.profiles, as_of=as_of, notes=assignments.notes,
                        diff_text=diff.render() if diff else None, backtest=backtest, config=config.kpis,
                        kpi_notes=kpi_notes, attribution=config.attribution)
    manifest = _manifest(as_of, config, assignments, kpis, previous) | {"backtest": backtest.to_dict(),
                                                                         "kpi_notes": list(kpi_notes)}
    return SegmentationResult(as_of=as_of, features=features, assignments=assignments, kpis=kpis, ranked=ranked,
                              diff=diff, summary=page, manifest=manifest, backtest=backtest, calls=calls,
                              campaigns=campaigns, kpi_notes=kpi_notes)


def _best_leads(scores: pd.DataFrame | None) -> pd.DataFrame | None:
    """Each account's open lead with the best conversion score (the lead to call), from the champions' scores."""
    if scores is None or "best_lead_id" not in scores.columns:
        return None
    best = scores.dropna(subset=["best_lead_id"])
    return best.rename(columns={"best_lead_id": "lead_id"})[["account_id", "lead_id", "p_convert"]]


def _carry_names(assignments: AssignmentResult, previous: SegmentationSnapshot) -> AssignmentResult:
    """The clusters that are the same as the previous version's keep their names (``carry_cluster_names``)."""
    frame = assignments.frame.copy()
    names = carry_cluster_names(previous.assignments, frame["account_id"].to_numpy(dtype=object),
                                frame["cluster"].to_numpy(), {p.cluster: p.name for p in assignments.profiles})
    frame["cluster_name"] = np.array([names[c] for c in frame["cluster"]], dtype=object)
    profiles = [replace(p, name=names[p.cluster]) for p in assignments.profiles]
    return replace(assignments, frame=frame, profiles=profiles)


BACKTEST_COLUMNS = {"prospects": "backtest_prospects", "conversion_rate": "backtest_conversion_rate",
                    "revenue_per_account": "backtest_revenue_per_account", "customers": "backtest_customers",
                    "churn_rate": "backtest_churn_rate"}
"""Backtest figure -> the KPI column holding it on the tier rows (NaN elsewhere, or when there is no backtest)."""


def _with_backtest(kpis: pd.DataFrame, backtest: TierBacktest) -> pd.DataFrame:
    kpis = kpis.copy()
    for column in BACKTEST_COLUMNS.values():
        kpis[column] = np.nan
    if backtest.available and len(kpis):
        rows = backtest.rows.set_index("tier")
        tier = (kpis["kind"] == "tier").to_numpy()
        for source, column in BACKTEST_COLUMNS.items():
            kpis.loc[tier, column] = kpis.loc[tier, "segment"].map(rows[source]).to_numpy(dtype=np.float64)
    return kpis


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
