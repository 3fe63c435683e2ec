"""Fit a task's defaults to the history at hand: a shorter horizon and denser snapshots when the configured ones leave
no out-of-time split, down to a floor, with a note saying what was chosen and why.

A 365-day CLTV horizon needs about two years of revenue (a year of outcomes behind every snapshot, then a purge of a
year between training, validation and test); a 12-month export of a wholesaler's orders has none of that. Only the
values the user left at their defaults adapt: a horizon or snapshot spacing set in the configuration is kept, and
the run fails with the configured values' reason if they do not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from b2bscore.data.contract import TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError, MissingTableError
from b2bscore.model.tasks import TASKS, TaskName
from b2bscore.training.config import TrainConfig
from b2bscore.training.labels import LabelSet, churn_definition
from b2bscore.training.splits import OutOfTimeSplit

HORIZONS: dict[str, tuple[int, ...]] = {"cltv": (365, 180, 90), "churn": (180, 90), "propensity": (90,),
                                        "conversion": (90,)}
"""Per task, the horizons tried when the configured one does not fit, longest first (the last is the floor)."""
DENSEST_SNAPSHOTS = 1  # months between snapshots when the configured spacing leaves too few as-of times

Check = Callable[[TaskName, Dataset, TrainConfig], tuple[LabelSet, OutOfTimeSplit]]


@dataclass(frozen=True)
class Fitted:
    """The configuration a task trains with, its labels and split, and what changed (None: nothing)."""

    config: TrainConfig
    labels: LabelSet
    split: OutOfTimeSplit
    note: str | None = None


def fit_to_history(task: TaskName, data: Dataset, config: TrainConfig, check: Check) -> Fitted:
    """``config`` if ``check`` accepts it, else the first default-derived alternative it accepts (longest horizon
    first, then denser snapshots); a DataError with the configured values' reason when none fits."""
    notes = []
    if task == "churn" and config.churn.definition == "auto":
        definition = churn_definition(data, config.churn)
        config = config.model_copy(update={"churn": config.churn.model_copy(update={"definition": definition})})
        if definition == "silence":
            notes.append("churn means no order within the horizon: the revenue table looks like orders placed at "
                         "will, not a billing cycle (set churn.definition to revenue_drop to choose otherwise)")
    try:
        return Fitted(config, *check(task, data, config), "; ".join(notes) or None)
    except MissingTableError:
        raise  # no horizon helps
    except DataError as first:
        error = first
    settings = getattr(config, task)
    explicit = settings.model_fields_set
    spaced = "snapshot_months" in type(settings).model_fields  # snapshot tasks; conversion labels every lead
    current = (settings.horizon_days, settings.snapshot_months if spaced else None)
    horizons = [current[0]]
    if "horizon_days" not in explicit:
        horizons += [h for h in HORIZONS[task] if h < current[0]]
    spacings = [current[1]]
    if spaced and "snapshot_months" not in explicit and current[1] > DENSEST_SNAPSHOTS:
        spacings.append(DENSEST_SNAPSHOTS)
    tried = []
    for horizon in horizons:
        for months in spacings:
            if (horizon, months) == current:
                continue
            update = {"horizon_days": horizon} | ({"snapshot_months": months} if spaced else {})
            candidate = config.model_copy(update={task: settings.model_copy(update=update)})
            tried.append(_describe(horizon, months))
            try:
                labels, split = check(task, data, candidate)
            except DataError:
                continue
            first = min(data.table(name)[TABLES[name].time_column].min() for name in TASKS[task].tables)
            notes.append(f"the default {_describe(*current)} leaves no out-of-time split on "
                         f"{(data.end - first).days / 30.44:.0f} months of {' and '.join(TASKS[task].tables)} "
                         f"({first:%Y-%m-%d} to {data.end:%Y-%m-%d}); trained with a "
                         f"{_describe(horizon, months)} instead (set {task}.horizon_days"
                         + (" and snapshot_months" if spaced else "") + " in the training configuration to choose)")
            return Fitted(candidate, labels, split, "; ".join(notes))
    if tried:
        raise DataError(f"{error}; the shorter defaults tried ({'; '.join(tried)}) do not fit either") from None
    raise error


def _describe(horizon: int, months: int | None) -> str:
    spacing = "" if months is None else f" with snapshots every {'month' if months == 1 else f'{months} months'}"
    return f"{horizon}-day horizon{spacing}"
