"""The three predictive tasks: what they label, which entity they score, what they need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.training.config import TrainConfig
from b2bscore.training.labels import LabelSet, churn_labels, cltv_labels, conversion_labels

TaskName = Literal["conversion", "churn", "cltv"]
TASKS: tuple[TaskName, ...] = ("conversion", "churn", "cltv")


@dataclass(frozen=True)
class TaskSpec:
    name: TaskName
    kind: Literal["classification", "regression"]
    entity: Literal["lead", "account"]
    tables: tuple[str, ...]
    label: Callable[[Dataset, TrainConfig], LabelSet]
    description: str

    @property
    def key(self) -> str:
        return "lead_id" if self.entity == "lead" else "account_id"

    def primary_metric(self, config: TrainConfig) -> str:
        return getattr(config.promotion, f"{self.name}_metric")


def _conversion(data: Dataset, config: TrainConfig) -> LabelSet:
    return conversion_labels(data, config.conversion)


def _churn(data: Dataset, config: TrainConfig) -> LabelSet:
    return churn_labels(data, config.churn, lookback_days=config.features.customer_lookback_days,
                        history_days=config.history_days)


def _cltv(data: Dataset, config: TrainConfig) -> LabelSet:
    return cltv_labels(data, config.cltv, lookback_days=config.features.customer_lookback_days,
                       history_days=config.history_days)


TASK_SPECS: dict[str, TaskSpec] = {
    "conversion": TaskSpec("conversion", "classification", "lead", ("leads", "opportunities"), _conversion,
                           "Probability that a lead reaches a won deal within the horizon"),
    "churn": TaskSpec("churn", "classification", "account", ("revenue",), _churn,
                      "Probability that a paying customer's revenue stops within the horizon"),
    "cltv": TaskSpec("cltv", "regression", "account", ("revenue",), _cltv,
                     "Revenue a customer brings over the horizon"),
}


def horizon_days(task: TaskName, config: TrainConfig) -> int:
    return getattr(config, task).horizon_days


def truth_frame(task: TaskName, truth_dir) -> pd.DataFrame | None:
    """The generator's oracle for ``task`` (keys, as_of, oracle), when the data came with a truth folder."""
    if truth_dir is None:
        return None
    if task == "conversion":
        path = truth_dir / "leads.parquet"
        if not path.exists():
            return None
        frame = pd.read_parquet(path, columns=["lead_id", "p_convert"])
        return frame.rename(columns={"p_convert": "oracle"})
    path = truth_dir / "customers.parquet"
    if not path.exists():
        return None
    column = "p_churn_180d" if task == "churn" else "expected_revenue_365d"
    frame = pd.read_parquet(path, columns=["account_id", "as_of", column])
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    return frame.rename(columns={column: "oracle"})
