"""Typed configuration of the feature pipeline, including the Ideal Customer Profile."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from b2bscore.config_io import load_model_file


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __setstate__(self, state: dict) -> None:
        """Unpickle, giving fields that an older release did not have their defaults (registered models pickle
        their feature configuration)."""
        values = dict(state.get("__dict__", {}))
        for name, field in type(self).model_fields.items():
            if name not in values:
                values[name] = field.get_default(call_default_factory=True)
        super().__setstate__({**state, "__dict__": values})


class IcpRule(_Frozen):
    """One condition on a firmographic or technographic feature.

    ``op``: ``in`` / ``not_in`` (``values``), ``between`` (``min`` and/or ``max``, inclusive),
    ``is_true`` / ``is_false`` (boolean features).
    """

    name: str = Field(description="Short identifier, shown in the list of fired flags.")
    description: str = Field(description="Plain-language sentence shown to sales when the rule fires.")
    feature: str = Field(description="Feature the rule reads, e.g. 'industry' or 'uses_competitor'.")
    op: Literal["in", "not_in", "between", "is_true", "is_false"]
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _check_operands(self) -> IcpRule:
        if self.op in ("in", "not_in") and not self.values:
            raise ValueError(f"rule {self.name!r}: op {self.op!r} needs 'values'")
        if self.op == "between" and self.min is None and self.max is None:
            raise ValueError(f"rule {self.name!r}: op 'between' needs 'min' and/or 'max'")
        return self


class IcpConfig(_Frozen):
    """The Ideal Customer Profile.

    The fit score is the weighted share of ``criteria`` met (0-100), plus ``weight`` points
    per green flag that fires and minus ``weight`` points per red flag, clipped to 0-100.
    """

    criteria: tuple[IcpRule, ...]
    green_flags: tuple[IcpRule, ...] = ()
    red_flags: tuple[IcpRule, ...] = ()


DEFAULT_ICP = IcpConfig(
    criteria=(
        IcpRule(name="target_industry", description="is in a target industry (software, financial services)",
                feature="industry", op="in", values=("software", "financial_services"), weight=2.0),
        IcpRule(name="target_size", description="has 200-5,000 employees, the core of our market",
                feature="employees", op="between", min=200, max=5000, weight=2.0),
        IcpRule(name="target_region", description="is in North America or EMEA, where we sell directly",
                feature="region", op="in", values=("north_america", "emea"), weight=1.0),
        IcpRule(name="has_crm", description="already runs a CRM", feature="tech_crm_count", op="between", min=1, weight=1.0),
    ),
    green_flags=(
        IcpRule(name="modern_cloud_stack", description="runs a modern cloud stack", feature="modern_stack", op="is_true", weight=10),
        IcpRule(name="growth_funding", description="raised a Series B or later", feature="funding_stage",
                op="in", values=("series_b", "series_c_plus"), weight=5),
    ),
    red_flags=(
        IcpRule(name="uses_competitor", description="uses a competitor's product", feature="uses_competitor", op="is_true", weight=15),
        IcpRule(name="legacy_stack", description="runs a legacy on-premise stack", feature="legacy_stack", op="is_true", weight=10),
        IcpRule(name="too_small", description="has fewer than 20 employees", feature="employees", op="between", max=19, weight=20),
    ),
)


class TechConfig(_Frozen):
    """Which technologies count as legacy, competitor, modern-stack or complementary."""

    legacy: tuple[str, ...] = ("sap_ecc", "oracle_ebs", "lotus_notes", "on_prem_exchange", "siebel")
    competitor: tuple[str, ...] = ("rivalscore", "leadmetrics")
    modern: tuple[str, ...] = ("aws", "gcp", "azure", "snowflake", "salesforce", "hubspot", "slack", "databricks")
    complementary: tuple[str, ...] = ("salesforce", "hubspot", "snowflake", "segment", "marketo")
    modern_stack_min: int = Field(default=2, ge=1, description="Modern technologies needed to count as a modern stack.")


CUSTOM_TABLES = ("accounts", "leads")


class CustomColumn(_Frozen):
    """One of the customer's own columns, resolved from the training data into a feature.

    ``kind``: ``number`` (used as is), ``date`` (its age in days at the as-of time) or ``category`` (values
    outside ``categories`` become 'other'). ``feature`` is the feature's name, unique among all features.
    """

    table: Literal["accounts", "leads"]
    column: str
    kind: Literal["number", "category", "date"]
    feature: str
    categories: tuple[str, ...] = ()


class CustomFeatures(_Frozen):
    """The customer's own fields as features: user settings, then what ``resolve_custom_features`` found.

    ``include`` / ``exclude`` name extra columns as ``table.column`` (``accounts.partner_code``,
    ``leads.landing_page_id``); an empty ``include`` means every extra column. ``columns``, ``topics`` and
    ``activity_value`` are the resolved declaration: set by ``resolve_custom_features``, not by hand.
    """

    enabled: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_count: int = Field(default=3, ge=1, description="Values seen fewer times in training are grouped as 'other' "
                           "(a model target-encodes a column of many values, shrinking rare ones toward the mean).")
    max_categories: int = Field(default=1000, ge=1, description="Most frequent values kept per text column.")
    max_topics: int = Field(default=10, ge=0, description="Most frequent activity topics counted as features.")
    columns: tuple[CustomColumn, ...] = ()
    topics: tuple[str, ...] = ()
    activity_value: bool = Field(default=False, description="Whether activities.value is summed over 30/90 days.")

    @field_validator("include", "exclude")
    @classmethod
    def _check_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            table, _, column = name.partition(".")
            if table not in CUSTOM_TABLES or not column:
                raise ValueError(f"{name!r} is not a column name written as table.column with table "
                                 f"{' or '.join(CUSTOM_TABLES)} (e.g. accounts.partner_code)")
        return names


class BtydFit(_Frozen):
    """A buy-till-you-die model fitted on the orders placed strictly before ``fitted_before``: BG/NBD (``r``,
    ``alpha``, ``a``, ``b``; time in days) for the number of future orders and whether a buyer is still alive, and
    Gamma-Gamma (``p``, ``q``, ``v``; None when it could not be fitted) for the value of an order.
    ``spend_fallback`` is the average order value of the repeat buyers, used for a buyer whose Gamma-Gamma
    expectation is undefined (no repeat order while ``q <= 1``, or no Gamma-Gamma fit)."""

    fitted_before: datetime
    customers: int
    r: float
    alpha: float
    a: float
    b: float
    p: float | None = None
    q: float | None = None
    v: float | None = None
    spend_fallback: float = 0.0


class OrderFeatures(_Frozen):
    """Features of a buyer's order history, for customers who order at will rather than on a billing cycle: what a
    buy-till-you-die model knows (repeat orders, recency, age, order values and gaps) and that model's own outputs.
    Resolved by training (``b2bscore.training.btyd``), not set by hand: ``enabled`` when the revenue table looks like
    orders, ``horizon_days`` the horizon of the expected orders and revenue, ``fits`` the models fitted at dates up
    to the training data's end (a row uses the latest one fitted before its as-of time)."""

    enabled: bool = False
    horizon_days: int = Field(default=90, ge=1)
    fits: tuple[BtydFit, ...] = ()


class FeatureConfig(_Frozen):
    """Everything that shapes the features; the same object is used in training and serving."""

    windows_days: tuple[int, int, int] = (7, 30, 90)
    decay_days: float = Field(default=30.0, gt=0, description="Half-life-like scale of recency weighting.")
    intent_weeks: int = Field(default=4, ge=1)
    surge_threshold: float = Field(default=60.0, ge=0, le=100)
    key_topics: tuple[str, ...] = ("lead_scoring", "sales_analytics", "revenue_operations", "data_integration")
    customer_lookback_days: int = Field(default=90, ge=1, description="Revenue within this many days makes a customer.")
    tech: TechConfig = TechConfig()
    icp: IcpConfig = DEFAULT_ICP
    custom: CustomFeatures = CustomFeatures()
    orders: OrderFeatures = OrderFeatures()
    excluded: tuple[str, ...] = Field(default=(), description="Features built but not read by models (e.g. leaky).")

    @model_validator(mode="after")
    def _check_windows(self) -> FeatureConfig:
        if list(self.windows_days) != sorted(set(self.windows_days)):
            raise ValueError("windows_days must be three increasing, distinct day counts")
        return self


def load_feature_config(path: Path | None) -> FeatureConfig:
    """The default configuration, or one read from YAML/TOML (errors name the file and field)."""
    return FeatureConfig() if path is None else load_model_file(path, FeatureConfig)
