"""``run_monitor``: the scheduled check. Champions -> reference and current rows -> per-segment statuses ->
reports, MLflow run, alerts, refresh.

Exit codes (``MonitorRun.exit_code``; the CLI exits with it): 0 every judged segment is ok or warns,
1 at least one segment alerts, 3 something the check had to do failed (an alert or recovery could not be
delivered, a refresh or retraining failed; it is kept and retried by the next check). A check that cannot
run at all raises a :class:`B2BScoreError` (exit 2).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset, resolve_now
from b2bscore.data.mapping import MappingConfig
from b2bscore.errors import DataError
from b2bscore.features.build import feature_specs
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.io import remove_leftovers, temporary_name
from b2bscore.model.champions import load_champions
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.monitoring import alerts
from b2bscore.monitoring.check import check_task
from b2bscore.monitoring.config import MonitorConfig, window_days
from b2bscore.monitoring.freshness import check_store_freshness
from b2bscore.monitoring.record import record_run
from b2bscore.monitoring.reference import load_reference
from b2bscore.monitoring.refresh import (
    RefreshOutcome,
    Retrainer,
    SegmentRefresher,
    refresh_on_alert,
    retrainer,
    segment_refresher,
)
from b2bscore.monitoring.report import (
    TOP_SHARE,
    drift_report,
    performance_report,
    top_decile_cut,
    write_summary,
)
from b2bscore.monitoring.result import MonitorResult, TaskCheck
from b2bscore.monitoring.segments import check_segment_columns
from b2bscore.segments.store import SegmentStore
from b2bscore.serving.online import StoreLocation
from b2bscore.serving.predlog import PredictionLog

log = logging.getLogger(__name__)
EXIT_OK, EXIT_ALERT, EXIT_ACTION_FAILED = 0, 1, 3
UNREADABLE_LOG_PART = "skipped the unreadable prediction-log part"
_RUN_NAME = re.compile(r"^\d{8}T\d{6}Z(-\d{2,})?$")


@dataclass(frozen=True)
class MonitorRun:
    """One check and everything it set off. ``folder`` holds the reports; ``run_id`` is its MLflow run (None in a dry run)."""

    result: MonitorResult
    folder: Path
    run_id: str | None
    delivery: alerts.Delivery
    refresh: RefreshOutcome
    dry_run: bool

    @property
    def exit_code(self) -> int:
        failed = (self.delivery.events and not self.delivery.delivered and not self.dry_run) or self.refresh.errors
        if failed:
            return EXIT_ACTION_FAILED
        return EXIT_ALERT if self.result.status == "alert" else EXIT_OK


def run_monitor(data_dir: Path, *, home: ProjectHome, config: MonitorConfig = MonitorConfig(),
                as_of: pd.Timestamp | None = None, now: datetime | None = None, dry_run: bool = False,
                mapping: MappingConfig | None = None, progress: Progress = no_progress,
                refresh_segments: SegmentRefresher | None = None, retrain: Retrainer | None = None,
                sleep: Callable[[float], None] | None = None) -> MonitorRun:
    """Check every configured champion against its reference, overall and per segment, then report and act.

    ``now`` (default: the current time) dates the run and ends the prediction-log window; ``as_of`` (default:
    the end of the data) is the moment the data is read at. ``refresh_segments``, ``retrain`` and ``sleep``
    replace the real segment job, training job and back-off wait (tests, dry runs of other systems).
    """
    checked_at = resolve_now(now)
    client = activate(resolve_tracking(home))
    champions = {t: c for t, c in load_champions(client).items() if t in config.tasks}
    if not champions:
        raise DataError(f"no champion model for {', '.join(config.tasks)} yet, so there is nothing to monitor: "
                        "run `b2bscore train all --data DIR` first")
    every_feature = tuple({s.name for c in champions.values() for s in feature_specs(c.model.feature_config, "lead")})
    check_segment_columns(config.segments.columns, tuple({n for c in champions.values() for n in c.model.inputs_.names}),
                          every_feature)
    progress("load data", 0.05)
    dataset, _ = load_dataset(Path(data_dir), mapping)
    as_of = dataset.resolve_as_of(as_of, purpose="the check")
    known = dataset.known_before(as_of)
    assignments = SegmentStore.of(home).labels()
    logbook = PredictionLog(home.predictions_dir) if config.source != "data" else None
    folder, staging = _run_folder(home, checked_at, dry_run)
    checks, skipped, references, unreadable = [], {}, {}, set()
    try:
        for i, (task, champion) in enumerate(champions.items()):
            progress(f"check {task}", 0.1 + 0.7 * i / len(champions))
            try:
                references[task] = load_reference(champion)
                try:
                    check, frames = check_task(champion, known, as_of=as_of, now=checked_at, config=config,
                                               assignments=assignments, log=logbook, reference=references[task])
                finally:
                    unreadable.update(logbook.skipped if logbook is not None else ())
            except DataError as exc:
                if len(champions) == 1:
                    raise
                skipped[task] = str(exc)  # the other models can still be checked; the summary says why not this one
                continue
            checks.append(_with_reports(check, frames, config, staging, folder))
        if not checks:
            raise DataError("no model could be checked: " + "; ".join(f"{t}: {why}" for t, why in skipped.items()))
        notes = () if assignments.version else ("no segmentation version yet: tier and data-driven segments are not "
                                                "checked (run `b2bscore segment --data DIR`)",)
        notes += tuple(f"{UNREADABLE_LOG_PART} {part}: its rows are not in this check"
                       for part in sorted(unreadable))
        store = check_store_freshness(home, StoreLocation.resolve(config.online_store, os.environ,
                                                                  source="monitor setting online_store"),
                                      now=checked_at, max_age_hours=window_days(config.online_store_max_age) * 24)
        notes += (f"online store: {store.detail}",) if store.status == "warn" else ()
        result = MonitorResult(as_of=as_of, checked_at=checked_at, config=config, tasks=tuple(checks),
                               skipped=skipped, notes=notes, store=store)
        progress("report", 0.85)
        write_summary(result, staging)
        _publish(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a check that could not run leaves no half-written report
        raise
    run_id = None if dry_run else record_run(result, folder, home)
    return _act(result, folder, run_id, home=home, known=known, config=config, dry_run=dry_run,
                refresh_segments=refresh_segments or segment_refresher(known, home=home, as_of=as_of,
                                                                       config_path=config.refresh.segment_config),
                retrain=retrain or retrainer(known, home=home, configs={t: r.train_config for t, r in references.items()},
                                             truth_dir=_truth_dir(data_dir)),
                sleep=sleep)


def _act(result: MonitorResult, folder: Path, run_id: str | None, *, home: ProjectHome, known: Dataset,
         config: MonitorConfig, dry_run: bool, refresh_segments: SegmentRefresher, retrain: Retrainer,
         sleep: Callable[[float], None] | None) -> MonitorRun:
    """Alerts (deduplicated against the saved state), then the refresh; the state is saved unless dry run."""
    state_path = home.alert_state
    events, state = alerts.plan_alerts(alerts.read_state(state_path), result, result.checked_at.isoformat())
    report = (folder / "summary.html").relative_to(home.root).as_posix()  # the receiver may be on another machine
    delivery = alerts.deliver(events, result, config.webhook, report=report, dry_run=dry_run,
                              **({"sleep": sleep} if sleep else {}))
    if delivery.delivered:
        state = alerts.settle(state, events)
    outcome, state = refresh_on_alert(result, state, config=config.refresh, dry_run=dry_run,
                                      refresh_segments=refresh_segments, retrain=retrain)
    if not dry_run:
        alerts.write_state(state_path, state)
    return MonitorRun(result=result, folder=folder, run_id=run_id, delivery=delivery, refresh=outcome, dry_run=dry_run)


def _with_reports(check: TaskCheck, frames: dict, config: MonitorConfig, staging: Path, folder: Path) -> TaskCheck:
    """Write Evidently's drift (and performance) report of the whole population into ``staging``; the check records
    their paths in ``folder``, where they are once the run is published."""
    from dataclasses import replace

    reports, notes = {}, list(check.notes)
    with warnings.catch_warnings():  # Evidently's plots warn on constant or tiny columns; the figures are still right
        warnings.simplefilter("ignore", category=RuntimeWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        name = f"{check.task}-drift.html"
        drift = drift_report(frames["reference"], frames["current"], overall=check.overall, config=config)
        if drift is not None:
            drift.save_html(str(staging / name))
            reports["drift"] = str(folder / name)
        else:
            notes.append("no Evidently drift report: drift was not judged in the whole population")
        matured = frames["matured"]
        if matured is not None and len(matured) and "label" in frames["reference"]:
            name = f"{check.task}-performance.html"
            performance_report(frames["reference"], matured, kind=check.kind).save_html(str(staging / name))
            reports["performance"] = str(folder / name)
            if check.kind == "classification":
                notes.append(f"the performance report judges the scores at {top_decile_cut(frames['reference']):.3f}, "
                             f"where the reference's top {TOP_SHARE:.0%} of scores starts, on both sides (at 0.5 a "
                             "calibrated model with a low base rate would seem to find almost nothing)")
    return replace(check, reports=reports, notes=tuple(notes))


def _run_folder(home: ProjectHome, checked_at: pd.Timestamp, dry_run: bool) -> tuple[Path, Path]:
    """The run's folder (a free name, not created yet) and the hidden folder its reports are written in first.

    Leftovers of killed checks are removed first: their hidden folders, and the empty run folders that checks
    before this version created up front.
    """
    base = home.monitoring_runs(dry_run=dry_run)
    base.mkdir(parents=True, exist_ok=True)
    remove_leftovers(base)
    for old in base.iterdir():
        if old.is_dir() and _RUN_NAME.match(old.name) and not any(old.iterdir()):
            old.rmdir()
    stamp = checked_at.strftime("%Y%m%dT%H%M%SZ")
    folder, n = base / stamp, 1
    while folder.exists():
        n += 1
        folder = base / f"{stamp}-{n:02d}"
    staging = base / temporary_name(folder.name)
    staging.mkdir()
    return folder, staging


def _publish(staging: Path, folder: Path) -> None:
    """Rename the complete run into place; a check that started in the same second and took the name fails."""
    if folder.exists():
        raise DataError(f"monitoring run folder {folder} appeared while this check ran; run the check again")
    staging.rename(folder)


def _truth_dir(data_dir: Path) -> Path | None:
    truth = Path(data_dir) / "truth"
    return truth if truth.is_dir() else None
