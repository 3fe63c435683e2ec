"""``check_task``: assemble one champion's reference and current rows, then judge them per segment."""

from __future__ import annotations

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError
from b2bscore.model.champions import Champion
from b2bscore.model.tasks import TASKS
from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.current import CurrentRows, current_from_data, current_from_log, matured_rows
from b2bscore.monitoring.drift import FeatureSchema, check_drift
from b2bscore.monitoring.reference import Reference, check_columns, load_reference
from b2bscore.monitoring.result import TaskCheck
from b2bscore.monitoring.segments import attach_segments
from b2bscore.segments.store import SegmentLabels
from b2bscore.serving.predlog import PredictionLog


def feature_schema(champion: Champion, config: MonitorConfig) -> FeatureSchema:
    """The champion's inputs; key features are the configured ones it reads, else its most important ones."""
    inputs = champion.model.inputs_
    named = tuple(f for f in config.rules.key_features if f in inputs.names)
    if not config.rules.key_features and config.rules.top_features:
        named = tuple(champion.model.feature_importance().index[:config.rules.top_features])
    return FeatureSchema(numeric=tuple(inputs.numeric), categorical=tuple(inputs.categorical), key=named)


def current_rows(champion: Champion, data: Dataset, *, as_of: pd.Timestamp, now: pd.Timestamp, config: MonitorConfig,
                 log: PredictionLog | None) -> CurrentRows:
    """From the prediction log when configured (or, for ``auto``, when it holds the champion's rows), else from the data."""
    if config.source in ("log", "auto") and log is not None:
        logged = current_from_log(log, champion, since=now - pd.Timedelta(days=config.window_days), until=now)
        if len(logged.frame) or config.source == "log":
            return logged
    return current_from_data(data, champion, as_of=as_of, window_days=config.window_days)


def check_task(champion: Champion, data: Dataset, *, as_of: pd.Timestamp, now: pd.Timestamp, config: MonitorConfig,
               assignments: SegmentLabels, log: PredictionLog | None = None,
               reference: Reference | None = None) -> tuple[TaskCheck, dict[str, pd.DataFrame]]:
    """One champion's check; also returns the frames compared (reference, current, matured) for the reports.

    ``data`` is the data as known at ``as_of``; ``assignments`` are the latest segmentation's labels per account
    (:meth:`SegmentStore.labels`). Raises DataError when the check cannot run (no current rows,
    columns that do not match, no reference).
    """
    reference = reference or load_reference(champion)
    spec = TASKS[champion.task]
    current = current_rows(champion, data, as_of=as_of, now=now, config=config, log=log)
    if current.frame.empty:
        raise DataError(f"{champion.task}: nothing to compare in the window: {current.note}; widen it (--window) "
                        + ("or score new data (b2bscore score)" if current.source == "log" else "or check the data's dates"))
    schema = feature_schema(champion, config)
    required = (*schema.names, "prediction")
    check_columns(reference.frame, current.frame, required, reference_name=f"{champion.name} v{champion.version}",
                  current_name="prediction log" if current.source == "log" else "features built from the data")
    matured = matured_rows(data, champion, reference.train_config, window_days=config.performance_days)
    columns = config.segments.columns
    frames = {"reference": attach_segments(reference.frame, assignments, columns),
              "current": attach_segments(current.frame, assignments, columns),
              "matured": None if matured is None else attach_segments(matured, assignments, columns)}
    segments, notes = check_drift(frames["reference"], frames["current"], frames["matured"], kind=spec.kind, schema=schema,
                                  config=config)
    if matured is None:
        notes = (*notes, "realised performance not judged: no outcome is known yet in the data")
    check = TaskCheck(task=champion.task, kind=spec.kind, model_name=champion.name, model_version=champion.version,
                      run_id=champion.run_id, source=current.source, window_start=current.start, window_end=current.end,
                      key_features=schema.key, segments=segments, notes=tuple(notes))
    return check, frames
