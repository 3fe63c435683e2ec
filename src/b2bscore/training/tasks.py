"""What training adds to each task of :data:`b2bscore.model.tasks.TASKS`: how its rows are labelled, its horizon,
the metric it is promoted on, and the synthetic world's truth to compare it with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.model.tasks import TASKS, Task, TaskName
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


def truth_frame(task: TaskName, truth_dir: Path | None, horizon: int | None = None,
                churn_definition: str = "revenue_drop") -> pd.DataFrame | None:
    """The generator's oracle for ``task`` (keys, as_of, oracle), when the data came with a truth folder and its
    truth has the horizon (default: the task's own, :attr:`Task.oracle_horizon_days`) and, for churn, the label's
    definition (a subscriber's churn within 180 days; a buyer's silence within 90, 180 or 365 days)."""
    if truth_dir is None:
        return None
    horizon = TASKS[task].oracle_horizon_days if horizon is None else horizon
    if task == "conversion":
        path = truth_dir / "leads.parquet"
        if horizon != 90 or not path.exists():
            return None
        frame = pd.read_parquet(path, columns=["lead_id", "p_convert"])
        return frame.rename(columns={"p_convert": "oracle"})
    sources = {  # file, column, the horizons it has
        "propensity": [("prospects.parquet", "p_win_90d", (90,))],
        "churn": ([("customers.parquet", "p_churn_180d", (180,))] if churn_definition == "revenue_drop"
                  else [("buyers.parquet", "p_no_order_{h}d", (90, 180, 365))]),
        # buyers without a contract (truth/buyers.parquet): their expected revenue is defined the same way
        "cltv": [("customers.parquet", "expected_revenue_365d", (365,)),
                 ("buyers.parquet", "expected_revenue_{h}d", (90, 180, 365))],
    }
    frames = []
    for name, column, horizons in sources[task]:
        path = truth_dir / name
        if horizon in horizons and path.exists():  # a world generated before its truth had this table has none
            column = column.format(h=horizon)
            frame = pd.read_parquet(path, columns=["account_id", "as_of", column]).rename(columns={column: "oracle"})
            frames.append(frame.assign(as_of=pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")))
    return pd.concat(frames, ignore_index=True) if frames else None
