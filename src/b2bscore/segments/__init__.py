"""Segments: tiers, value, firmographic, technographic, buying-stage and data-driven segments, their KPIs,
refresh diffs and the reports sales teams open.

``segment_accounts`` (``segment.py``) is the computation, ``backtest_tiers`` (``backtest.py``) checks the tiers
against what happened after the segmentation date; :class:`~b2bscore.segments.store.SegmentStore` owns the
versions kept under a project home. The versioned job over a home (model scores from the registry, one MLflow run
per version) is ``b2bscore.segments.job.run_segment_job`` / ``run_segment_dataset``; it is not imported here
because it loads MLflow and the registry's models.
"""

from b2bscore.segments.assign import SEGMENT_KINDS, AssignmentResult, assign_segments
from b2bscore.segments.backtest import TierBacktest, backtest_tiers
from b2bscore.segments.cluster import Clustering, carry_cluster_names, cluster_accounts, profile_clusters
from b2bscore.segments.config import SegmentConfig, check_rule_columns, load_segment_config
from b2bscore.segments.diff import SegmentDiff, diff_assignments
from b2bscore.segments.kpis import segment_kpis
from b2bscore.segments.report import ranked_accounts, summary_html
from b2bscore.segments.segment import SegmentationResult, SegmentationSnapshot, segment_accounts
from b2bscore.segments.store import SegmentLabels, SegmentStore, write_segmentation

__all__ = [
    "SEGMENT_KINDS", "AssignmentResult", "Clustering", "SegmentConfig", "SegmentDiff", "SegmentLabels",
    "SegmentStore", "SegmentationResult", "SegmentationSnapshot", "TierBacktest", "assign_segments", "backtest_tiers",
    "carry_cluster_names", "check_rule_columns", "cluster_accounts", "diff_assignments", "load_segment_config", "profile_clusters", "ranked_accounts",
    "segment_accounts", "segment_kpis", "summary_html", "write_segmentation",
]
