"""Typed configuration of the segmentation job: tier, value, technographic and buying-stage rules,
firmographic groups, clustering, the fallback proxies and the KPI checks.

Rules read *columns*: the derived ``fit``, ``propensity`` and ``value`` (see ``assign.py``) or any
feature ``build_features`` returns. A rule list is ordered; the first rule whose conditions hold
places an account, and its name is recorded. Quantile thresholds are computed within the account's
customer status (prospects and customers separately) unless ``quantile_scope`` is ``"all"``,
because propensity means "will convert" for a prospect and "will stay" for a customer.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from b2bscore.config_io import load_model_file
from b2bscore.errors import ConfigError
from b2bscore.features.config import FeatureConfig

DERIVED_COLUMNS: tuple[str, ...] = ("fit", "propensity", "value", "churn_risk", "p_convert", "p_churn", "cltv_pred")
"""Columns ``assign_segments`` derives before applying rules; rules may read them beside the features."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Condition(_Frozen):
    """``column op threshold``. ``>=`` / ``<`` take an absolute ``value`` or a ``quantile`` (0-1) of
    the column; ``in`` takes ``values``; ``is_true`` / ``is_false`` read a yes/no column.
    Missing values never satisfy a condition."""

    column: str
    op: Literal[">=", "<", "in", "is_true", "is_false"]
    value: float | None = None
    quantile: float | None = Field(default=None, ge=0, le=1)
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_operands(self) -> Condition:
        if self.op in (">=", "<") and (self.value is None) == (self.quantile is None):
            raise ValueError(f"condition on {self.column!r}: op {self.op!r} needs exactly one of 'value' or 'quantile'")
        if self.op == "in" and not self.values:
            raise ValueError(f"condition on {self.column!r}: op 'in' needs 'values'")
        return self


class SegmentRule(_Frozen):
    """Places an account in ``label`` when all of ``all_of`` hold and, if ``any_of`` is given, at least one of it."""

    name: str = Field(description="Identifier recorded per account, e.g. 'tier1_fit_and_momentum'.")
    label: str = Field(description="Segment the rule places accounts in, e.g. 'Tier 1'.")
    description: str = Field(default="", description="Plain-language sentence shown as a reason.")
    all_of: tuple[Condition, ...] = ()
    any_of: tuple[Condition, ...] = ()


class RuleList(_Frozen):
    """An ordered rule list; accounts no rule places get ``default``."""

    rules: tuple[SegmentRule, ...]
    default: str
    default_description: str = ""


def _c(column: str, op: str, **kw) -> Condition:
    return Condition(column=column, op=op, **kw)


DEFAULT_TIERS = RuleList(
    rules=(
        SegmentRule(name="tier1_fit_and_momentum", label="Tier 1",
                    description="strong ICP fit with high propensity or high value",
                    all_of=(_c("fit", ">=", quantile=0.6),),
                    any_of=(_c("propensity", ">=", quantile=0.8), _c("value", ">=", quantile=0.8))),
        SegmentRule(name="tier2_fit", label="Tier 2", description="strong ICP fit, no momentum yet",
                    all_of=(_c("fit", ">=", quantile=0.6),)),
        SegmentRule(name="tier2_momentum", label="Tier 2", description="moderate ICP fit with high propensity or high value",
                    all_of=(_c("fit", ">=", quantile=0.3),),
                    any_of=(_c("propensity", ">=", quantile=0.8), _c("value", ">=", quantile=0.8))),
    ),
    default="Tier 3",
    default_description="weak fit or little momentum: automated nurture",
)
DEFAULT_VALUE_BANDS = RuleList(
    rules=(
        SegmentRule(name="value_high", label="high value", description="in the top 20% by (predicted) value",
                    all_of=(_c("value", ">=", quantile=0.8),)),
        SegmentRule(name="value_medium", label="medium value", description="in the middle 40% by (predicted) value",
                    all_of=(_c("value", ">=", quantile=0.4),)),
    ),
    default="low value",
    default_description="in the bottom 40% by (predicted) value",
)
DEFAULT_TECHNOGRAPHIC = RuleList(
    rules=(
        SegmentRule(name="competitor_user", label="competitor user", description="uses a competitor's product",
                    all_of=(_c("uses_competitor", "is_true"),)),
        SegmentRule(name="legacy_stack", label="legacy stack", description="runs a legacy on-premise stack",
                    all_of=(_c("legacy_stack", "is_true"),)),
        SegmentRule(name="modern_cloud_stack", label="modern cloud stack", description="runs a modern cloud stack",
                    all_of=(_c("modern_stack", "is_true"),)),
    ),
    default="other",
)
DEFAULT_BUYING_STAGES = RuleList(
    rules=(
        SegmentRule(name="decision", label="decision", description="open deal, demo request or repeated pricing views",
                    any_of=(_c("open_opportunities", ">=", value=1), _c("demo_request_30d", ">=", value=1),
                            _c("pricing_page_view_30d", ">=", value=2))),
        SegmentRule(name="consideration", label="consideration",
                    description="surging intent, new leads or content engagement in the last 30 days",
                    any_of=(_c("intent_surging_topics", ">=", value=1), _c("pricing_page_view_30d", ">=", value=1),
                            _c("content_download_30d", ">=", value=1), _c("webinar_attended_30d", ">=", value=1),
                            _c("leads_90d", ">=", value=1))),
    ),
    default="awareness",
    default_description="little recent buying behaviour",
)


class FirmographicConfig(_Frozen):
    """How size bands and industries are grouped into the firmographic segment ``size x industry group x region``."""

    size_groups: dict[str, str] = {"1_49": "smb", "50_199": "smb", "200_999": "mid-market",
                                   "1000_4999": "enterprise", "5000_plus": "enterprise"}
    industry_groups: dict[str, str] = {
        "software": "software", "financial_services": "financial services", "manufacturing": "industrial",
        "logistics": "industrial", "healthcare": "public & healthcare", "education": "public & healthcare",
        "retail": "retail", "professional_services": "professional services",
    }
    other: str = "other"


DEFAULT_CLUSTER_FEATURES: tuple[str, ...] = (
    # fit: the ICP score and what it is made of (firmographics and the stack)
    "icp_fit_score", "log_employees", "industry", "region", "legacy_stack", "modern_stack", "uses_competitor",
    # behaviour, intent and value: one or two representative columns each, so that no family
    # outweighs the others merely by having more (highly correlated) columns
    "activity_total_30d", "product_usage_minutes_30d", "intent_max", "value",
)


class ClusterConfig(_Frozen):
    """Data-driven segments: K-means (or a Gaussian mixture) on robust-scaled features.

    Numeric features are log-transformed when non-negative and skewed, then centred on the
    median and divided by the IQR; categories are one-hot encoded. ``k`` fixes the number of
    clusters; otherwise it is chosen in ``k_min..k_max`` by ``criterion`` (silhouette on a
    fixed-seed sample of ``sample_size`` accounts, or BIC of the Gaussian mixture).
    """

    features: tuple[str, ...] = DEFAULT_CLUSTER_FEATURES
    method: Literal["kmeans", "gmm"] = "kmeans"
    criterion: Literal["silhouette", "bic"] = "silhouette"
    k: int | None = Field(default=None, ge=2)
    k_min: int = Field(default=2, ge=2)
    k_max: int = Field(default=10, ge=2)
    sample_size: int = Field(default=3000, ge=100)
    seed: int = Field(default=0, ge=0)
    n_init: int = Field(default=4, ge=1)
    min_accounts_per_cluster: int = Field(default=5, ge=1)
    profile_top_features: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        if self.criterion == "bic" and self.method != "gmm":
            raise ValueError("criterion 'bic' needs method 'gmm'")
        if not self.features:
            raise ValueError("features must name at least one column")
        return self


class ProxyConfig(_Frozen):
    """The fallback used when no model scores are given (heuristic lead/health scoring, no training).

    Prospect propensity = points / (points + ``half_points``), points = sum of weight x feature.
    Customer propensity (to stay) = ``half_risk`` / (risk + ``half_risk``), risk = sum of weight x
    feature (each clipped at 0, so only bad news adds risk). Both stay within ``[floor, 1 - floor]``.
    """

    prospect_weights: dict[str, float] = {
        "open_opportunities": 10.0, "demo_request_30d": 8.0, "pricing_page_view_30d": 3.0,
        "webinar_attended_30d": 2.0, "content_download_30d": 1.5, "email_click_30d": 1.0,
        "engaged_roles_90d": 2.0, "leads_90d": 2.0, "intent_surging_topics": 4.0,
    }
    half_points: float = Field(default=20.0, gt=0)
    customer_risk_weights: dict[str, float] = {
        "support_ticket_30d": 1.0, "negative_product_usage_trend": 3.0, "negative_revenue_trend": 3.0,
    }
    half_risk: float = Field(default=3.0, gt=0)
    floor: float = Field(default=0.001, gt=0, lt=0.5, description=(
        "The least chance a proxy gives (and 1 - floor the most): no recent behaviour is a low chance, not none -- a "
        "rep reads 0 as 'never call'."))


class KpiConfig(_Frozen):
    """Per-segment KPIs over the window ``[as_of - window_days, as_of)``, the checks on them, and the tier backtest
    over ``[as_of, as_of + backtest_days)`` when the data reaches that far."""

    window_days: int = Field(default=365, ge=1)
    churn_lookback_days: int = Field(default=90, ge=1, description="Revenue within this many days makes a customer.")
    min_segment_size: int = Field(default=30, ge=1, description="Smaller segments are never flagged: too few to act on.")
    alpha: float = Field(default=0.05, gt=0, lt=1,
                         description="False discovery rate of the Benjamini-Hochberg correction over all segments tested.")
    min_customers: int = Field(default=30, ge=1, description="Churn is shown only for segments with this many customers.")
    backtest_days: int = Field(default=90, ge=1, description="Horizon of the tier backtest after the as-of date.")
    min_new_customers: int = Field(default=5, ge=1, description=(
        "A segment is judged not actionable (CAC above its predicted value) only with this many new customers: a CAC "
        "over one or two customers is noise."))
    accounts_are_market: bool = Field(default=False, description=(
        "The accounts table holds the whole addressable market, so customers / accounts is a segment's market share; "
        "leave false for a CRM's own accounts, where that ratio would overstate it."))


class AttributionConfig(_Frozen):
    """How won deals and spend are credited to campaigns (CAC and campaign ROI): ``rule`` over the touches (leads and
    activities naming a campaign) of the deal's account before its opportunity was opened, at most ``lookback_days``
    before; spend no account can be charged with (sales, channel spend, a campaign without a touch in the window) is
    split over segments by ``unattributed_split``: their share of the window's touches, or of its new customers."""

    rule: Literal["first_touch", "last_touch", "linear"] = Field(default="last_touch", description=(
        "first_touch: all credit to the earliest touch; last_touch: to the latest before the opportunity; linear: "
        "an equal share to each touch in the lookback."))
    lookback_days: int = Field(default=180, ge=1, description="Touches this many days before the opportunity count.")
    unattributed_split: Literal["touches", "new_customers"] = Field(default="touches", description=(
        "How spend no account can be charged with is split over segments."))


class SegmentConfig(_Frozen):
    """Everything the segmentation job needs; every part has a sensible default."""

    tiers: RuleList = DEFAULT_TIERS
    value_bands: RuleList = DEFAULT_VALUE_BANDS
    technographic: RuleList = DEFAULT_TECHNOGRAPHIC
    buying_stages: RuleList = DEFAULT_BUYING_STAGES
    quantile_scope: Literal["customer_status", "all"] = "customer_status"
    firmographic: FirmographicConfig = FirmographicConfig()
    clustering: ClusterConfig = ClusterConfig()
    fallback: ProxyConfig = ProxyConfig()
    kpis: KpiConfig = KpiConfig()
    attribution: AttributionConfig = AttributionConfig()
    reasons: int = Field(default=3, ge=1, le=10, description="Reasons listed per account.")
    features: FeatureConfig = FeatureConfig()


def load_segment_config(path: Path | None) -> SegmentConfig:
    """The default configuration, or one read from YAML/TOML (errors name the file and field)."""
    return SegmentConfig() if path is None else load_model_file(path, SegmentConfig)


def check_rule_columns(config: SegmentConfig, available: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for the first rule or cluster feature naming a column that does not exist."""
    known = sorted({*available, *DERIVED_COLUMNS})
    for kind in ("tiers", "value_bands", "technographic", "buying_stages"):
        for rule in getattr(config, kind).rules:
            for condition in (*rule.all_of, *rule.any_of):
                _require(condition.column, known, f"{kind} rule {rule.name!r}")
    for column in config.clustering.features:
        _require(column, known, "clustering.features")
    derived_risk = {"negative_product_usage_trend", "negative_revenue_trend"}
    for column in config.fallback.prospect_weights:
        _require(column, known, "fallback.prospect_weights")
    for column in config.fallback.customer_risk_weights:
        _require(column, [*known, *derived_risk], "fallback.customer_risk_weights")


def _require(column: str, known: list[str], where: str) -> None:
    if column in known:
        return
    close = difflib.get_close_matches(column, known, n=5, cutoff=0.5)
    hint = f"did you mean: {', '.join(close)}?" if close else f"valid columns include: {', '.join(known[:12])}, ..."
    raise ConfigError(f"{where} reads unknown feature {column!r}; {hint}")
