"""``record_run``: one MLflow run per check in the ``b2bscore-monitoring`` experiment, with the reports as artifacts."""

from __future__ import annotations

import math
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag

from b2bscore import __version__
from b2bscore.home import ProjectHome
from b2bscore.model.tracking import activate, ensure_experiment, owner_tags, resolve_tracking, settle_abandoned_runs
from b2bscore.monitoring.result import STATUSES, MonitorResult

MONITORING_EXPERIMENT = "b2bscore-monitoring"


def _metrics(result: MonitorResult, stamp: int) -> list[Metric]:
    values: dict[str, float] = {f"segments_{s}": sum(seg.status == s for t in result.tasks for seg in t.segments)
                                for s in STATUSES}
    for check in result.tasks:
        overall = check.overall
        values[f"{check.task}_status"] = STATUSES.index(check.status) - 1  # -1 not judged, 0 ok, 1 warn, 2 alert
        values[f"{check.task}_current_rows"] = overall.current_rows
        values[f"{check.task}_drifted_share"] = overall.drifted_share
        if overall.score is not None:
            values[f"{check.task}_score_drift"] = overall.score.amount
        if overall.performance is not None:
            values[f"{check.task}_calibration_gap"] = overall.performance.calibration.gap
            if overall.performance.current is not None:
                values[f"{check.task}_{overall.performance.current.metric}"] = overall.performance.current.value
    return [Metric(k, float(v), stamp, 0) for k, v in values.items() if math.isfinite(float(v))]


def _params(result: MonitorResult) -> list[Param]:
    config = result.config
    values = {"as_of": result.as_of.isoformat(), "window": config.window, "performance_window": config.performance_window,
              "source": config.source, "segment_columns": ",".join(config.segments.columns),
              "min_rows": config.segments.min_rows, "p_value": config.drift.p_value,
              "numeric_threshold": config.drift.numeric_threshold, "categorical_threshold": config.drift.categorical_threshold,
              **{f"model.{t.task}": f"{t.model_name} v{t.model_version}" for t in result.tasks}}
    return [Param(k, str(v)) for k, v in values.items()]


def record_run(result: MonitorResult, folder: Path, home: ProjectHome) -> str:
    """Log the check (status, counts, overall figures, the report folder) and return the run id."""
    tracking = resolve_tracking(home)
    client = activate(tracking)
    experiment_id = ensure_experiment(MONITORING_EXPERIMENT, tracking)
    settle_abandoned_runs(client)  # runs of killed checks (or jobs) left RUNNING are marked FAILED
    run = client.create_run(experiment_id, run_name=f"monitor-{result.as_of:%Y-%m-%d}", tags=owner_tags())
    run_id = run.info.run_id
    alerting = [f"{t.task}/{s.name}" for t, s in result.segments_with("alert")]
    tags = {"b2bscore.version": __version__, "monitor.status": result.status, "monitor.as_of": result.as_of.isoformat(),
            "monitor.alerts": ", ".join(alerting)[:5000] or "none", "monitor.folder": str(folder)}
    try:
        stamp = int(result.checked_at.timestamp() * 1000)
        client.log_batch(run_id, metrics=_metrics(result, stamp), params=_params(result),
                         tags=[RunTag(k, str(v)) for k, v in tags.items()])
        client.log_artifacts(run_id, str(folder))
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id
