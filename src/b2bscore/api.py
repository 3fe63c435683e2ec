"""The small top-level Python API: ``b2bscore.load``, ``train``, ``segment``, ``score`` and ``monitor``.

Each function is the job the matching ``b2bscore`` command runs (the CLI calls these same functions): the same
defaults, the same project home, the same files and MLflow runs. What the CLI takes as a file name is accepted
here as a path *or* as the typed object (``TrainConfig``, ``SegmentConfig``, ``MonitorConfig``,
``MappingConfig``, ``ProjectHome``); ``home=None`` means ``$B2BSCORE_HOME``, else ``./b2bscore-home``, like the CLI.
Dates (``as_of``) may be a ``pandas.Timestamp``, a ``datetime`` or an ISO string.

The heavy modules (MLflow, LightGBM, Evidently) are imported when a function is called, not when
``b2bscore`` is imported.
"""

from __future__ import annotations

from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from b2bscore.config_io import format_validation_error
from b2bscore.errors import ConfigError
from b2bscore.home import Progress, ProjectHome, no_progress

if TYPE_CHECKING:
    from b2bscore.data.dataset import Dataset
    from b2bscore.data.mapping import MappingConfig
    from b2bscore.monitoring.config import MonitorConfig
    from b2bscore.monitoring.job import MonitorRun
    from b2bscore.segments.config import SegmentConfig
    from b2bscore.segments.job import SegmentJobResult
    from b2bscore.serving.batch import BatchResult
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.train import TrainResult

__all__ = ["load", "monitor", "score", "segment", "train"]

PathArg = str | PathLike[str]
ConfigT = TypeVar("ConfigT", bound=BaseModel)
TimeArg = pd.Timestamp | datetime | str | None


def load(data_dir: PathArg, *, mapping: PathArg | MappingConfig | None = None) -> Dataset:
    """Load a data directory into a canonical :class:`~b2bscore.data.dataset.Dataset` (``b2bscore validate``'s
    reading path); data that violates the contract raises :class:`~b2bscore.errors.DataError` listing every problem.

    The full validation report (warnings and notes too) is ``b2bscore.data.load.validate_data(data_dir)``.
    """
    from b2bscore.data.load import load_dataset

    dataset, _ = load_dataset(Path(data_dir), _mapping(mapping))
    return dataset


def train(task: str, data_dir: PathArg, *, home: PathArg | ProjectHome | None = None,
          config: PathArg | TrainConfig | dict | None = None, mapping: PathArg | MappingConfig | None = None,
          as_of: TimeArg = None, progress: Progress = no_progress, features: PathArg | None = None,
          write_features: PathArg | None = None) -> list[TrainResult]:
    """Train, evaluate, log and register ``task`` (a name of ``b2bscore.model.tasks.TASKS``, or ``"all"``), as
    ``b2bscore train`` does: a new version is the challenger and becomes champion only when it wins.

    ``as_of`` trains on the data as it stood then (default: all of it). ``features``: a folder of feature tables
    built elsewhere (``<model>.parquet``, one row per labelled row) to train from instead of building them;
    ``write_features``: a folder to write the tables this run trains on. One result per model, in task order.
    """
    from b2bscore.training.config import TrainConfig, load_train_config
    from b2bscore.training.job import train_tasks

    return train_tasks(task, Path(data_dir), config=_config(config, TrainConfig, load_train_config, "training"),
                       home=_home(home), mapping=_mapping(mapping), as_of=_time(as_of), progress=progress,
                       features_from=None if features is None else Path(features),
                       features_to=None if write_features is None else Path(write_features))


def segment(data_dir: PathArg, *, home: PathArg | ProjectHome | None = None,
            config: PathArg | SegmentConfig | dict | None = None, mapping: PathArg | MappingConfig | None = None,
            as_of: TimeArg = None, progress: Progress = no_progress) -> SegmentJobResult:
    """Segment every account into a new version under the home's ``segments/``, as ``b2bscore segment`` does:
    tiers, value, firmographic, technographic, buying-stage and data-driven segments with their KPIs, on the
    champions' scores (or the fallback proxies when none is registered).

    ``as_of`` defaults to the end of the data; only what was known before it is used.
    """
    from b2bscore.segments import job

    if config is None or isinstance(config, (str, PathLike)):
        return job.run_segment_job(Path(data_dir), home=_home(home), as_of=_time(as_of),
                                   config_path=None if config is None else Path(config), mapping=_mapping(mapping),
                                   progress=progress)
    from b2bscore.segments.config import SegmentConfig, load_segment_config

    settings = _config(config, SegmentConfig, load_segment_config, "segmentation")
    job.check_segment_config(settings)  # before the (slower) load, as the job does with a file
    dataset = load(data_dir, mapping=mapping)
    return job.run_segment_dataset(dataset, home=_home(home), as_of=_time(as_of), config=settings, progress=progress)


def score(data_dir: PathArg, out: PathArg, *, home: PathArg | ProjectHome | None = None,
          mapping: PathArg | MappingConfig | None = None, as_of: TimeArg = None, chunk_size: int = 20_000,
          log_predictions: bool = True, online_store=None, progress: Progress = no_progress) -> BatchResult:
    """Score every open lead and every account with the registered champions, as ``b2bscore score`` does.

    ``out`` names the files (``scores.csv`` writes ``scores-leads.csv`` and ``scores-accounts.csv``; ``.parquet``
    works too). ``as_of`` defaults to just after the data's end; ``log_predictions`` appends the scores to the
    prediction log that monitoring reads; the features go to ``online_store`` (a ``StoreLocation`` or its text:
    ``sqlite``, ``redis://HOST:PORT/DB``, ``off``; default ``$B2BSCORE_ONLINE_STORE``, else ``sqlite``).
    """
    import os

    from b2bscore.serving.batch import run_batch_scoring
    from b2bscore.serving.online import StoreLocation

    location = (online_store if isinstance(online_store, StoreLocation)
                else StoreLocation.resolve(online_store, os.environ, source="online_store"))
    return run_batch_scoring(Path(data_dir), Path(out), home=_home(home), as_of=_time(as_of), mapping=_mapping(mapping),
                             chunk_size=chunk_size, log_predictions=log_predictions, online_store=location,
                             progress=progress)


def monitor(data_dir: PathArg, *, home: PathArg | ProjectHome | None = None,
            config: PathArg | MonitorConfig | dict | None = None, mapping: PathArg | MappingConfig | None = None,
            as_of: TimeArg = None, window: str | None = None, source: Literal["auto", "log", "data"] | None = None,
            dry_run: bool = False, progress: Progress = no_progress) -> MonitorRun:
    """Check every champion for drift, score drift and realised performance, overall and per segment, as
    ``b2bscore monitor`` does: reports, an MLflow run, alerts and, on alert, a segment refresh.

    ``window`` (``"30d"``) and ``source`` override the configuration's. ``run.exit_code`` is the command's exit
    code (0 ok or warnings, 1 alert, 3 an alert or refresh could not be done); ``dry_run`` sends, refreshes and
    records nothing.
    """
    from b2bscore.monitoring import MonitorConfig, load_monitor_config, run_monitor

    settings = _config(config, MonitorConfig, load_monitor_config, "monitoring")
    overrides = {key: value for key, value in {"window": window, "source": source}.items() if value}
    if overrides:
        settings = _validate(MonitorConfig, {**settings.model_dump(), **overrides}, source="options")
    return run_monitor(Path(data_dir), home=_home(home), config=settings, mapping=_mapping(mapping), as_of=_time(as_of),
                       dry_run=dry_run, progress=progress)


def _home(home: PathArg | ProjectHome | None) -> ProjectHome:
    return home if isinstance(home, ProjectHome) else ProjectHome.resolve(None if home is None else Path(home))


def _time(value: TimeArg) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def _mapping(mapping: PathArg | MappingConfig | None) -> MappingConfig | None:
    from b2bscore.data.mapping import MappingConfig, load_mapping

    if mapping is None or isinstance(mapping, MappingConfig):
        return mapping
    if isinstance(mapping, (str, PathLike)):
        return load_mapping(Path(mapping))
    raise TypeError(f"mapping must be a path or a MappingConfig, got {type(mapping).__name__}")


def _config(value: PathArg | ConfigT | dict | None, model: type[ConfigT], read, what: str) -> ConfigT:
    """A typed configuration from ``None`` (the defaults), a file, the object itself or a dict of its fields."""
    if value is None or isinstance(value, (str, PathLike)):
        return read(None if value is None else Path(value))
    if isinstance(value, model):
        return value
    if isinstance(value, dict):
        return _validate(model, value, source=f"{what} configuration")
    raise TypeError(f"the {what} configuration must be a path, a {model.__name__} or a dict of its fields, "
                    f"got {type(value).__name__}")


def _validate(model: type[ConfigT], fields: dict, *, source: str) -> ConfigT:
    """``model`` from ``fields``; an invalid field raises one ConfigError naming ``source`` and the field."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=source)) from None
