"""``assign_segments``: tier, value, firmographic, technographic, buying-stage and data-driven segment per account."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.errors import DataError
from b2bscore.features import feature_specs
from b2bscore.segments._profile import ClusterProfile
from b2bscore.segments._reasons import top_reasons
from b2bscore.segments._rules import apply_rules
from b2bscore.segments._scores import derive_scores
from b2bscore.segments.cluster import Clustering, cluster_accounts, profile_clusters
from b2bscore.segments.config import FirmographicConfig, SegmentConfig, check_rule_columns

SEGMENT_KINDS: tuple[str, ...] = (
    "tier", "value_segment", "firmographic_segment", "technographic_segment", "buying_stage", "cluster_name",
)
"""The columns of an assignment frame that hold a segment label, one per kind of segment."""
_REQUIRED = ("account_id", "is_customer", "icp_fit_score", "size_band", "industry", "region",
             "revenue_90d", "revenue_365d", "log_employees", "product_usage_trend", "revenue_trend")
DERIVED_DESCRIPTIONS = {
    "fit": "Fit with the Ideal Customer Profile (0-100)",
    "propensity": "Propensity: chance to convert (prospects) or to stay (customers)",
    "value": "Value: predicted CLTV (customers) or that of look-alike customers (prospects)",
}


@dataclass(frozen=True)
class AssignmentResult:
    """What :func:`assign_segments` computed: one row per account in ``frame``, the data-driven segments'
    ``profiles`` and ``clustering``; ``fallback`` is True (and ``notes`` say so) when no model scores were used."""

    frame: pd.DataFrame
    profiles: list[ClusterProfile]
    clustering: Clustering
    fallback: bool
    notes: tuple[str, ...]


def assign_segments(features: pd.DataFrame, scores: pd.DataFrame | None,
                    config: SegmentConfig = SegmentConfig()) -> AssignmentResult:
    """Segment every account of ``features`` (one row per account, as ``build_features`` returns).

    ``scores`` holds ``account_id`` and any of ``p_convert``, ``p_win``, ``p_churn``, ``cltv_pred`` (NaN where a
    model is missing or does not apply); ``None`` falls back to fit and behaviour only.
    Output columns: account_id, customer_status (customer, former customer or prospect), tier, tier_rule, value_segment, firmographic_segment,
    technographic_segment, buying_stage, cluster, cluster_name, fit, propensity, value, churn_risk,
    p_convert, p_churn, cltv_pred, propensity_source, value_source, reasons.
    """
    _check_features(features, config)
    derived = derive_scores(features, scores, config.fallback)
    table = pd.concat([features.reset_index(drop=True),
                       derived.frame.drop(columns="account_id").reset_index(drop=True)], axis=1)
    table["size_group"], table["industry_group"] = _firmographic_parts(table, config.firmographic)
    # quantiles within paying customers and within the others (prospects and former customers, whom sales wins the
    # same way): on a backtest this orders the tiers on conversion and revenue, where three groups gave former
    # customers a fixed share of Tier 1 that did not convert (benchmarks/call_lists.py, BENCHMARKS.md)
    groups = table["is_customer"].to_numpy(dtype=bool) if config.quantile_scope == "customer_status" else None

    out = pd.DataFrame({"account_id": table["account_id"].to_numpy(dtype=object),
                        "customer_status": table["status"].to_numpy(dtype=object)})
    out["tier"], out["tier_rule"] = apply_rules(table, config.tiers, groups, kind="tiers")
    out["value_segment"], _ = apply_rules(table, config.value_bands, groups, kind="value_bands")
    out["firmographic_segment"] = _firmographic_label(table)
    out["technographic_segment"], _ = apply_rules(table, config.technographic, groups, kind="technographic")
    out["buying_stage"], _ = apply_rules(table, config.buying_stages, groups, kind="buying_stages")

    descriptions = {s.name: s.description for s in feature_specs(config.features)} | DERIVED_DESCRIPTIONS
    clustering = cluster_accounts(table, config.clustering)
    profiles = profile_clusters(table, clustering.labels, config.clustering, descriptions)
    names = {p.cluster: p.name for p in profiles}
    out["cluster"] = clustering.labels
    out["cluster_name"] = np.array([names[c] for c in clustering.labels], dtype=object)
    for column in ("fit", "propensity", "value", "churn_risk", "p_convert", "p_win", "p_churn", "cltv_pred",
                   "propensity_source", "value_source"):
        out[column] = table[column].to_numpy()
    out["reasons"] = top_reasons(table, descriptions, config.reasons)
    return AssignmentResult(frame=out, profiles=profiles, clustering=clustering, fallback=derived.fallback, notes=derived.notes)


def _check_features(features: pd.DataFrame, config: SegmentConfig) -> None:
    missing = [c for c in _REQUIRED if c not in features.columns]
    if missing:
        raise DataError(f"segment assignment needs the feature column(s) {', '.join(missing)}; "
                        "pass the frame build_features returns for entity='account'")
    if features["account_id"].duplicated().any():
        dupes = ", ".join(map(str, features.loc[features["account_id"].duplicated(), "account_id"].head(5)))
        raise DataError(f"features must hold one row per account; duplicated account_id: {dupes}")
    check_rule_columns(config, features.columns)


def _firmographic_parts(table: pd.DataFrame, config: FirmographicConfig) -> tuple[np.ndarray, np.ndarray]:
    size = table["size_band"].map(config.size_groups).fillna(config.other).to_numpy(dtype=object)
    industry = table["industry"].map(config.industry_groups).fillna(config.other).to_numpy(dtype=object)
    return size, industry


def _firmographic_label(table: pd.DataFrame) -> np.ndarray:
    region = table["region"].fillna("unknown").astype(str)
    return (table["size_group"].astype(str) + " | " + table["industry_group"].astype(str) + " | " + region).to_numpy(dtype=object)
