"""Typed configuration of the monitoring check (one file, YAML or TOML, every field optional).

Thresholds come in two levels, ``warn`` and ``alert``; a segment's status is the worst level any rule
reaches. Drift amounts are Evidently's: the normed Wasserstein distance for numeric columns (how far the
distribution moved, in reference standard deviations) and the Jensen-Shannon distance for categorical ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from b2bscore.config_io import load_model_file
from b2bscore.model.tasks import TASK_NAMES, TaskName

_WINDOW = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0}


def window_days(text: str) -> float:
    """``"30d"`` -> 30.0; hours (``h``), days (``d``) and weeks (``w``) are understood."""
    match = _WINDOW.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r} is not a duration; write e.g. 30d, 12w or 48h")
    return int(match.group(1)) * _UNIT_DAYS[match.group(2)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Levels(_Frozen):
    """A measure reaching ``warn`` makes a segment warn, reaching ``alert`` makes it alert (None: never alerts)."""

    warn: float = Field(ge=0)
    alert: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if self.alert is not None and self.alert < self.warn:
            raise ValueError(f"alert ({self.alert}) must not be below warn ({self.warn})")
        return self

    def level(self, value: float) -> str:
        if value != value:  # NaN never reaches a level
            return "ok"
        if self.alert is not None and value >= self.alert:
            return "alert"
        return "warn" if value >= self.warn else "ok"


class DriftTestConfig(_Frozen):
    """When a column counts as drifted: its drift amount reaches the threshold *and* the significance test
    rejects "same distribution" at ``p_value``. Both are Evidently stat tests chosen by column type; the amount
    alone over-reacts in small segments, the test alone over-reacts in large ones."""

    numeric_amount: str = Field(default="wasserstein", description="Evidently stat test measuring numeric drift.")
    categorical_amount: str = Field(default="jensenshannon", description="Evidently stat test measuring categorical drift.")
    numeric_threshold: float = Field(default=0.2, gt=0)
    categorical_threshold: float = Field(default=0.1, gt=0)
    numeric_test: str = Field(default="ks", description="Significance test of numeric columns.")
    categorical_test: str = Field(default="chisquare", description="Significance test of categorical columns (z for two values).")
    p_value: float = Field(default=0.001, gt=0, lt=1)
    max_categories: int = Field(default=5, ge=2, description="A numeric column with at most this many values is "
                                "tested as categorical.")

    @field_validator("numeric_amount", "categorical_amount", "numeric_test", "categorical_test")
    @classmethod
    def _known_method(cls, name: str) -> str:
        from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

        if name not in _registered_stat_tests:
            raise ValueError(f"unknown Evidently stat test {name!r}; choose one of: {', '.join(sorted(_registered_stat_tests))}")
        return name


class RulesConfig(_Frozen):
    """The rules that set a segment's status (each gives ok, warn or alert; the worst wins)."""

    drifted_share: Levels = Field(default=Levels(warn=0.3, alert=0.6),
                                  description="Share of the model's features that drifted.")
    key_features: tuple[str, ...] = Field(default=(), description="Features whose drift alone matters; empty: the "
                                          "model's `top_features` most important ones.")
    top_features: int = Field(default=5, ge=0)
    key_feature_drift: Levels = Field(default=Levels(warn=2.0), description="A drifted key feature's amount, in "
                                      "multiples of its column threshold (by default feature drift alone never alerts: "
                                      "inputs move with the calendar too; the scores and outcomes say whether it matters).")
    segment_share: Levels = Field(default=Levels(warn=1.5, alert=2.0), description="Factor by which the segment's "
                                  "share of the accounts scored changed, either way (a new industry starts buying, "
                                  "a channel dries up, customers of one segment leave).")
    score_drift: Levels = Field(default=Levels(warn=0.2, alert=0.4), description="Normed Wasserstein distance of the "
                                "score distribution (counted only when the significance test agrees).")
    calibration_gap: Levels = Field(default=Levels(warn=0.25, alert=0.5), description="|realised / expected - 1| on the "
                                    "rows whose outcome is known; expected = predicted x the segment's realised/predicted "
                                    "ratio at reference time.")
    performance_drop: Levels = Field(default=Levels(warn=0.05, alert=0.1), description="Drop of ROC AUC (Spearman for "
                                     "CLTV) from the reference, on the rows whose outcome is known.")
    min_z: float = Field(default=3.0, ge=0, description="A change of share, calibration gap or performance drop counts "
                         "only when it is this many standard errors from zero.")


class SegmentsConfig(_Frozen):
    """Which segments are judged. ``tier`` and ``cluster_name`` come from the latest segmentation version;
    the other columns are model features (a model without the column, e.g. churn and ``lead_source``, skips it).
    A segment smaller than the minimums is reported as not judged."""

    columns: tuple[str, ...] = ("tier", "industry", "region", "size_band", "lead_source", "cluster_name")
    min_rows: int = Field(default=50, ge=1, description="Current rows needed to judge drift in a segment.")
    min_reference_rows: int = Field(default=50, ge=1)
    min_outcomes: int = Field(default=15, ge=1, description="Positives and negatives (rows for CLTV) needed to judge "
                              "realised performance.")


class WebhookConfig(_Frozen):
    """Where alerts go: a JSON POST with a Slack-compatible ``text`` field. No url: alerts go to the log only.

    The payload names the summary page by its path relative to the project home (``report``, e.g.
    ``monitoring/runs/20260201T080000Z/summary.html``); with ``report_base_url`` it also carries ``report_url``,
    that base joined with the path below ``monitoring/``, and the message text links it."""

    url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=3, ge=0, description="Retries after the first attempt, with exponential back-off.")
    backoff_s: float = Field(default=1.0, ge=0)
    report_base_url: str | None = Field(default=None, description="Where the project home's monitoring/ folder is "
                                        "published (e.g. https://reports.example.com/b2bscore/monitoring/), so a "
                                        "remote receiver can open the report.")

    @field_validator("url", "report_base_url")
    @classmethod
    def _http(cls, url: str | None, info) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook {info.field_name} {url!r} must start with http:// or https://")
        return url


class RefreshConfig(_Frozen):
    """What an alert sets off: a segment refresh, and optionally a retraining whose versions stay challengers."""

    segments: bool = True
    retrain: bool = False
    segment_config: Path | None = Field(default=None, description="Segmentation config used by the refresh.")


class MonitorConfig(_Frozen):
    tasks: tuple[TaskName, ...] = Field(default=TASK_NAMES, description="The champions to check.")
    window: str = Field(default="90d", description="Current data: predictions logged (or leads created) in this window "
                        "before the check; accounts are taken as of the check.")
    performance_window: str = Field(default="180d", description="Realised performance: rows whose outcome is known, "
                                    "from this window before the latest such row.")
    source: Literal["auto", "log", "data"] = Field(default="auto", description="Current data from the prediction log, "
                                                   "from features built from the data, or the log when it has rows.")
    drift: DriftTestConfig = DriftTestConfig()
    rules: RulesConfig = RulesConfig()
    segments: SegmentsConfig = SegmentsConfig()
    webhook: WebhookConfig = WebhookConfig()
    refresh: RefreshConfig = RefreshConfig()
    online_store: str | None = Field(default=None, description="The online store whose age is checked: sqlite, "
                                     "redis://HOST:PORT/DB or off; none: $B2BSCORE_ONLINE_STORE, else sqlite.")
    online_store_max_age: str = Field(default="36h", description="The online store's features older than this are a "
                                      "warning (the nightly `b2bscore score` did not run).")

    @field_validator("window", "performance_window", "online_store_max_age")
    @classmethod
    def _duration(cls, text: str) -> str:
        window_days(text)
        return text

    @property
    def window_days(self) -> float:
        return window_days(self.window)

    @property
    def performance_days(self) -> float:
        return window_days(self.performance_window)


def load_monitor_config(path: Path | None) -> MonitorConfig:
    """The default configuration, or one read from YAML/TOML (errors name the file and field)."""
    return MonitorConfig() if path is None else load_model_file(path, MonitorConfig)
