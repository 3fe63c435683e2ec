"""What an alert sets off: a segment refresh (the trigger recorded on the new version) and, when configured, a
retraining whose new versions enter the registry as challengers, never straight to champion.

Each alerting segment sets off one refresh: its state entry is marked ``refreshed`` once done, so a persisting
alert does not refresh again and again, while a failed refresh is tried again by the next check.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import B2BScoreError
from b2bscore.home import ProjectHome
from b2bscore.monitoring.config import RefreshConfig
from b2bscore.monitoring.result import MonitorResult
from b2bscore.training.config import TrainConfig

log = logging.getLogger(__name__)
SegmentRefresher = Callable[[str], str]
"""trigger -> the new segmentation version id."""
Retrainer = Callable[[str, str], str]
"""(task, trigger) -> a description of the new registered version."""


@dataclass(frozen=True)
class RefreshOutcome:
    """What was (or, in a dry run, would be) done, and what failed."""

    trigger: str | None
    planned: tuple[str, ...] = ()
    segment_version: str | None = None
    retrained: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"trigger": self.trigger, "planned": list(self.planned), "segment_version": self.segment_version,
                "retrained": list(self.retrained), "errors": list(self.errors), "dry_run": self.dry_run}


def due_segments(state: dict, result: MonitorResult) -> list[str]:
    """Alerting ``task/segment`` keys that have not set off a refresh yet."""
    alerting = {f"{t.task}/{s.name}" for t, s in result.segments_with("alert")}
    return sorted(k for k in alerting if not state.get("segments", {}).get(k, {}).get("refreshed"))


def refresh_on_alert(result: MonitorResult, state: dict, *, config: RefreshConfig, dry_run: bool,
                     refresh_segments: SegmentRefresher, retrain: Retrainer) -> tuple[RefreshOutcome, dict]:
    """Run (or plan) the refresh for the newly alerting segments; returns the outcome and the updated state."""
    due = due_segments(state, result)
    if not due or not (config.segments or config.retrain):
        return RefreshOutcome(trigger=None, dry_run=dry_run), state
    shown = ", ".join(due[:8]) + (f" and {len(due) - 8} more" if len(due) > 8 else "")
    trigger = f"drift alert (b2bscore monitor, as of {result.as_of:%Y-%m-%d}): {shown}"
    tasks = sorted({key.split("/", 1)[0] for key in due})
    planned = ([f"refresh the segmentation (trigger: {trigger})"] if config.segments else []) + (
        [f"retrain {', '.join(tasks)}; the new versions stay challengers" ] if config.retrain else [])
    if dry_run:
        return RefreshOutcome(trigger, tuple(planned), dry_run=True), state
    errors: list[str] = []
    version = None
    retrained: list[str] = []
    if config.segments:
        try:
            version = refresh_segments(trigger)
        except B2BScoreError as exc:
            errors.append(f"segment refresh failed: {exc}")
    if config.retrain:
        for task in tasks:
            try:
                retrained.append(retrain(task, trigger))
            except B2BScoreError as exc:
                errors.append(f"retraining {task} failed: {exc}")
    state = copy.deepcopy(state)
    if not errors:
        for key in due:
            state["segments"][key]["refreshed"] = True
    return RefreshOutcome(trigger, tuple(planned), version, tuple(retrained), tuple(errors)), state


def segment_refresher(known: Dataset, *, home: ProjectHome, as_of: pd.Timestamp, config_path: Path | None) -> SegmentRefresher:
    """A new segmentation version of ``known`` as of ``as_of``, recording the trigger."""
    def run(trigger: str) -> str:
        from b2bscore.segments.config import load_segment_config
        from b2bscore.segments.job import run_segment_dataset

        result = run_segment_dataset(known, home=home, as_of=as_of, config=load_segment_config(config_path), trigger=trigger)
        return result.version

    return run


def retrainer(known: Dataset, *, home: ProjectHome, configs: dict[str, TrainConfig], truth_dir: Path | None) -> Retrainer:
    """Train ``task`` again as its champion was trained, except that the new version is never promoted automatically;
    the trigger is recorded on the run and on the new version."""
    def run(task: str, trigger: str) -> str:
        from b2bscore.model.tracking import activate, resolve_tracking
        from b2bscore.training.job import train_dataset

        base = configs[task]
        config = base.model_copy(update={"promotion": base.promotion.model_copy(update={"auto_promote": False})})
        result = train_dataset((task,), known, config=config, home=home, truth_dir=truth_dir)[0]
        client = activate(resolve_tracking(home))
        client.set_tag(result.run_id, "b2bscore.trigger", trigger[:5000])
        client.set_model_version_tag(result.decision.name, result.decision.version, "trigger", trigger[:5000])
        status = "champion" if result.decision.promoted else "challenger"
        return f"{result.decision.name} v{result.decision.version} ({status}): {result.decision.reason}"

    return run
