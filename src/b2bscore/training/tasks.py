"""What training adds to each task of :data:`b2bscore.model.tasks.TASKS`: how its rows are labelled, its horizon,
the metric it is promoted on, and the synthetic world's truth to compare it with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.model.tasks import Task, TaskName
from b2bscore.training.config import TrainConfig
from b2bscore.training.labels import LabelSet, churn_labels, cltv_labels, conversion_labels, propensity_labels


def label_rows(task: Task, data: Dataset, config: TrainConfig) -> LabelSet:
    """The labelled rows of ``task`` (entity key, ``as_of``, ``label``, ``label_end``) and what was left out."""
    if task.name == "conversion":
        return conversion_labels(data, config.conversion)
    if task.name == "propensity":
        return propensity_labels(data, config.propensity, history_days=config.history_days)
    label = churn_labels if task.name == "churn" else cltv_labels
    return label(data, getattr(config, task.name), lookback_days=config.features.customer_lookback_days,
                 history_days=config.history_days)


def horizon_days(task: TaskName, config: TrainConfig) -> int:
    return getattr(config, task).horizon_days


def primary_metric(task: TaskName, config: TrainConfig) -> str:
    """The metric a new version must beat the champion on (``promotion.<task>_metric``)."""
    return getattr(config.promotion, f"{task}_metric")


def truth_frame(task: TaskName, truth_dir: Path | None) -> pd.DataFrame | None:
    """The generator's oracle for ``task`` (keys, as_of, oracle), when the data came with a truth folder."""
    if truth_dir is None:
        return None
    if task == "conversion":
        path = truth_dir / "leads.parquet"
        if not path.exists():
            return None
        frame = pd.read_parquet(path, columns=["lead_id", "p_convert"])
        return frame.rename(columns={"p_convert": "oracle"})
    name, column = {"propensity": ("prospects.parquet", "p_win_90d"), "churn": ("customers.parquet", "p_churn_180d"),
                    "cltv": ("customers.parquet", "expected_revenue_365d")}[task]
    path = truth_dir / name
    if not path.exists():  # a world generated before its truth had this table
        return None
    frame = pd.read_parquet(path, columns=["account_id", "as_of", column])
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    return frame.rename(columns={column: "oracle"})
