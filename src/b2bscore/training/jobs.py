"""``train_tasks``: load a data directory once and train one or all models on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset
from b2bscore.data.mapping import MappingConfig
from b2bscore.errors import DataError
from b2bscore.home import ProjectHome
from b2bscore.training.config import TrainConfig
from b2bscore.training.labels import data_end
from b2bscore.training.tasks import TASKS
from b2bscore.training.train import TrainResult, check_trainable, train

Progress = Callable[[str, float], None]


def data_start(data: Dataset) -> pd.Timestamp:
    """The earliest recorded event of any dated table."""
    from b2bscore.data.contract import TABLES

    stamps = [frame[TABLES[name].time_column].min() for name in data.available if name != "accounts"
              and len(frame := data.table(name))]
    stamps = [s for s in stamps if pd.notna(s)]
    if not stamps:
        raise DataError("the data holds no dated events, so nothing can be labelled")
    return pd.Timestamp(min(stamps))


def as_known_at(data: Dataset, as_of: pd.Timestamp) -> Dataset:
    """The data as it stood at ``as_of``; an ``as_of`` outside the data's time range is an error."""
    as_of = pd.Timestamp(as_of)
    first, last = data_start(data), data_end(data)
    if not first < as_of <= last + pd.Timedelta(days=1):
        raise DataError(f"as-of {as_of.date()} is outside the data, which runs from {first.date()} to {last.date()}; "
                        "choose a date inside that range (training then uses only what was known before it)")
    return data.known_before(as_of)


def train_tasks(task: str, data_dir: Path, *, config: TrainConfig, home: ProjectHome, mapping: MappingConfig | None = None,
                as_of: pd.Timestamp | None = None, progress: Progress | None = None) -> list[TrainResult]:
    """Train ``task`` (or every task for ``"all"``) on the data in ``data_dir``, as known at ``as_of`` if given."""
    notify = progress or (lambda step, fraction: None)
    if task != "all" and task not in TASKS:
        raise DataError(f"unknown model {task!r}; choose one of: {', '.join(TASKS)}, all")
    tasks = TASKS if task == "all" else (task,)
    notify("load data", 0.0)
    dataset, _ = load_dataset(Path(data_dir), mapping)
    if as_of is not None:
        dataset = as_known_at(dataset, as_of)
    truth = Path(data_dir) / "truth"
    return train_dataset(tasks, dataset, config=config, home=home, truth_dir=truth if truth.is_dir() else None,
                         progress=notify)


def train_dataset(tasks: tuple[str, ...], dataset: Dataset, *, config: TrainConfig, home: ProjectHome,
                  truth_dir: Path | None = None, progress: Progress | None = None) -> list[TrainResult]:
    """Train ``tasks`` in order on an already loaded dataset; every task is checked before any is registered."""
    notify = progress or (lambda step, fraction: None)
    for name in tasks:
        check_trainable(name, dataset, config)
    results = []
    for i, name in enumerate(tasks):
        def step(label: str, fraction: float, i: int = i, name: str = name) -> None:
            notify(f"{name}: {label}", (i + fraction) / len(tasks))

        results.append(train(name, dataset, config=config, home=home, truth_dir=truth_dir, progress=step))
    return results
