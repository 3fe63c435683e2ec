"""The typed result of a check: per model, per segment, what drifted, by how much, and the status it earned.

HTML, JSON, alerts and the MLflow run are all written from these objects (never from the Evidently snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.stats import Calibration, ColumnDrift, Ranking, SegmentShare, _round

STATUSES: tuple[str, ...] = ("not_judged", "ok", "warn", "alert")
OVERALL = "all"


def worst(statuses) -> str:
    """The most severe of ``statuses`` (``not_judged`` only when nothing was judged)."""
    ranked = [STATUSES.index(s) for s in statuses]
    return STATUSES[max(ranked)] if ranked else "not_judged"


@dataclass(frozen=True)
class Finding:
    """One rule that fired in a segment: which, at what level, and a sentence saying why."""

    rule: str
    level: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "level": self.level, "text": self.text}


@dataclass(frozen=True)
class Performance:
    """Realised vs predicted on the segment's rows whose outcome is known; rankings are None when too few outcomes."""

    calibration: Calibration
    reference: Ranking | None
    current: Ranking | None
    drop: float | None = None
    drop_z: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"calibration": self.calibration.to_dict(),
                "reference": None if self.reference is None else self.reference.to_dict(),
                "current": None if self.current is None else self.current.to_dict(),
                "drop": None if self.drop is None else _round(self.drop),
                "drop_z": None if self.drop_z is None else _round(self.drop_z, 2)}


@dataclass(frozen=True)
class SegmentResult:
    """One segment of one model's check (``column == "all"`` is the whole population)."""

    column: str
    value: str
    reference_rows: int
    current_rows: int
    matured_rows: int
    features: tuple[ColumnDrift, ...]
    score: ColumnDrift | None
    performance: Performance | None
    status: str
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    share: SegmentShare | None = None

    @property
    def name(self) -> str:
        return OVERALL if self.column == OVERALL else f"{self.column}={self.value}"

    @property
    def drifted(self) -> tuple[ColumnDrift, ...]:
        return tuple(sorted((f for f in self.features if f.drifted), key=lambda f: -f.severity))

    @property
    def drifted_share(self) -> float:
        return len(self.drifted) / len(self.features) if self.features else 0.0

    def to_dict(self, *, all_features: bool = False) -> dict[str, object]:
        return {
            "segment": self.name, "column": self.column, "value": self.value, "status": self.status,
            "reference_rows": self.reference_rows, "current_rows": self.current_rows, "matured_rows": self.matured_rows,
            "tested_features": len(self.features), "drifted_share": round(self.drifted_share, 4),
            "drifted_features": [f.to_dict() for f in self.drifted],
            **({"features": [f.to_dict() for f in self.features]} if all_features else {}),
            "share_of_accounts": None if self.share is None else self.share.to_dict(),
            "score_drift": None if self.score is None else self.score.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "findings": [f.to_dict() for f in self.findings], "notes": list(self.notes),
        }


@dataclass(frozen=True)
class TaskCheck:
    """One champion's check: where its reference and current rows came from, and every segment's result."""

    task: str
    kind: str
    model_name: str
    model_version: str
    run_id: str | None
    source: str
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp
    key_features: tuple[str, ...]
    segments: tuple[SegmentResult, ...]
    reports: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return worst(s.status for s in self.segments)

    @property
    def overall(self) -> SegmentResult:
        return self.segments[0]

    def status_summary(self) -> str:
        """``"1 alert, 2 warn, 27 ok, 1 not judged"``: how many segments reached each status, worst first."""
        counts = {s: sum(seg.status == s for seg in self.segments) for s in reversed(STATUSES)}
        return ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task, "model": self.model_name, "version": self.model_version, "run_id": self.run_id,
            "source": self.source, "window_start": None if self.window_start is None else self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(), "status": self.status, "key_features": list(self.key_features),
            "segments": [s.to_dict(all_features=s.column == OVERALL) for s in self.segments],
            "reports": dict(self.reports), "notes": list(self.notes),
        }


@dataclass(frozen=True)
class MonitorResult:
    """Everything one check found. ``skipped``: model -> why it could not be checked."""

    as_of: pd.Timestamp
    checked_at: pd.Timestamp
    config: MonitorConfig
    tasks: tuple[TaskCheck, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    store: object | None = None
    """The online store's freshness (``b2bscore.monitoring.freshness.StoreFreshness``): a stale store is a warning."""

    @property
    def status(self) -> str:
        store = getattr(self.store, "status", "not_judged")
        return worst([*(t.status for t in self.tasks), *([store] if store != "not_judged" else [])])

    def segments_with(self, status: str) -> list[tuple[TaskCheck, SegmentResult]]:
        return [(t, s) for t in self.tasks for s in t.segments if s.status == status]

    def to_dict(self) -> dict[str, object]:
        counts = {s: sum(1 for t in self.tasks for seg in t.segments if seg.status == s) for s in STATUSES}
        return {
            "status": self.status, "as_of": self.as_of.isoformat(), "checked_at": self.checked_at.isoformat(),
            "segments": counts,
            "alerts": [f"{t.task}/{s.name}" for t, s in self.segments_with("alert")],
            "warnings": [f"{t.task}/{s.name}" for t, s in self.segments_with("warn")],
            "tasks": [t.to_dict() for t in self.tasks], "skipped": dict(self.skipped), "notes": list(self.notes),
            "online_store": None if self.store is None else self.store.to_dict(),
            "thresholds": self.config.model_dump(mode="json", exclude={"webhook"}),
        }
