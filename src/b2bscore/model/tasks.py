"""The predictive tasks, declared once: what each scores, its registered model, experiment and primary metric.

Everything that names a task -- training, the registry, champions, serving, segments, monitoring and the CLI --
reads it from :data:`TASKS`, so a task's names are spelled in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from b2bscore.errors import ConfigError

TaskName = Literal["conversion", "propensity", "churn", "cltv"]
Kind = Literal["classification", "regression"]
Entity = Literal["lead", "account"]
MODEL_PREFIX = "b2bscore-"


@dataclass(frozen=True)
class Task:
    """One predictive task.

    ``primary_metric`` is the default metric a challenger must beat the champion on (the training configuration's
    ``promotion.<task>_metric`` may choose another); ``oracle_horizon_days`` is the horizon of the synthetic world's
    truth for this task (its oracle is comparable only at that horizon).
    """

    name: TaskName
    kind: Kind
    entity: Entity
    tables: tuple[str, ...]
    primary_metric: str
    oracle_horizon_days: int
    description: str

    @property
    def key(self) -> str:
        """The entity's id column."""
        return "lead_id" if self.entity == "lead" else "account_id"

    @property
    def model_name(self) -> str:
        """The registered model's name (``b2bscore-<task>``)."""
        return f"{MODEL_PREFIX}{self.name}"

    @property
    def experiment(self) -> str:
        """The MLflow experiment its training runs are logged to (named like the registered model)."""
        return self.model_name


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("conversion", "classification", "lead", ("leads", "opportunities"), "pr_auc", 90,
         "Probability that a lead reaches a won deal within the horizon"),
    Task("propensity", "classification", "account", ("opportunities",), "pr_auc", 90,
         "Probability that a prospect account wins its first deal within the horizon"),
    Task("churn", "classification", "account", ("revenue",), "roc_auc", 180,
         "Probability that a paying customer's revenue stops within the horizon"),
    Task("cltv", "regression", "account", ("revenue",), "spearman", 365,
         "Revenue a customer brings over the horizon"),
)}
TASK_NAMES: tuple[TaskName, ...] = tuple(TASKS)  # type: ignore[assignment]
MODEL_NAMES: dict[str, str] = {name: task.model_name for name, task in TASKS.items()}


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name is a :class:`ConfigError` listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(TASKS)}") from None


def task_of_model(model_name: str) -> Task | None:
    """The task whose registered model is ``model_name`` (None for another name)."""
    return next((task for task in TASKS.values() if task.model_name == model_name), None)
