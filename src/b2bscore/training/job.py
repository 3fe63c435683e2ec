"""The training job: load a data directory once and train one or all models on it (``train_tasks``), or train
already loaded data (``train_dataset``); the computation of each model is ``b2bscore.training.train``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset
from b2bscore.data.mapping import MappingConfig
from b2bscore.errors import DataError
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.model.tasks import TASK_NAMES
from b2bscore.training.config import TrainConfig
from b2bscore.training.history import fit_to_history
from b2bscore.training.train import TrainResult, check_trainable, train


def as_known_at(data: Dataset, as_of: pd.Timestamp) -> Dataset:
    """The data as it stood at ``as_of``; an ``as_of`` outside the data's time range is an error."""
    return data.known_before(data.resolve_as_of(as_of, purpose="training"))


def train_tasks(task: str, data_dir: Path, *, config: TrainConfig, home: ProjectHome, mapping: MappingConfig | None = None,
                as_of: pd.Timestamp | None = None, progress: Progress = no_progress, features_from: Path | None = None,
                features_to: Path | None = None) -> list[TrainResult]:
    """Train ``task`` (or every task for ``"all"``) on the data in ``data_dir``, as known at ``as_of`` if given;
    ``features_from`` / ``features_to``: see :func:`b2bscore.training.train.train`."""
    if task != "all" and task not in TASK_NAMES:
        raise DataError(f"unknown model {task!r}; choose one of: {', '.join(TASK_NAMES)}, all")
    tasks = TASK_NAMES if task == "all" else (task,)
    progress("load data", 0.0)
    dataset, _ = load_dataset(Path(data_dir), mapping)
    if as_of is not None:
        dataset = as_known_at(dataset, as_of)
    truth = Path(data_dir) / "truth"
    return train_dataset(tasks, dataset, config=config, home=home, truth_dir=truth if truth.is_dir() else None,
                         progress=progress, features_from=features_from, features_to=features_to)


def train_dataset(tasks: tuple[str, ...], dataset: Dataset, *, config: TrainConfig, home: ProjectHome,
                  truth_dir: Path | None = None, progress: Progress = no_progress, features_from: Path | None = None,
                  features_to: Path | None = None) -> list[TrainResult]:
    """Train ``tasks`` in order on an already loaded dataset; every task is checked before any is registered."""
    if features_from is not None and not Path(features_from).is_dir():
        raise DataError(f"{features_from}: no such folder of feature tables (one <model>.parquet per model)")
    for name in tasks:
        fit_to_history(name, dataset, config, check_trainable)
    results = []
    for i, name in enumerate(tasks):
        def step(label: str, fraction: float, i: int = i, name: str = name) -> None:
            progress(f"{name}: {label}", (i + fraction) / len(tasks))

        results.append(train(name, dataset, config=config, home=home, truth_dir=truth_dir, progress=step,
                             features_from=features_from, features_to=features_to))
    return results
