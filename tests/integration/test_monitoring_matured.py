"""The rows a check judges realised performance on are whole snapshots, never a selection by outcome.

A prospect that wins (a customer that churns) leaves the population: it has no row at the next snapshot. Keeping
"each account's latest row" over a window therefore kept an earlier row for exactly the accounts whose outcome was
positive -- on the 900-account demo 12 rows of an older snapshot, 11 of them winners, beside 619 rows of the
latest: a realised rate of 4.1% against 2.2% predicted, and a calibration alert on a world without drift.
"""

from __future__ import annotations

import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.model.champions import load_champions
from b2bscore.model.tasks import TASKS
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.monitoring.current import matured_rows
from b2bscore.monitoring.reference import load_reference
from b2bscore.training.tasks import label_rows


@pytest.mark.parametrize("task", ["propensity", "churn"])
def test_matured_rows_are_whole_snapshots(trained_world, task):
    champion = load_champions(activate(resolve_tracking(trained_world.home))).get(task)
    if champion is None:
        pytest.fail(f"the trained world has no {task} champion")
    data = load_dataset(trained_world.world)[0]
    config = load_reference(champion).train_config  # the champion's own label definitions, as a check uses them
    rows = matured_rows(data, champion, config, window_days=180)
    assert rows is not None and len(rows)
    labelled = label_rows(TASKS[task], data, config).rows
    for as_of, group in rows.groupby("as_of"):
        snapshot = labelled[labelled["as_of"] == as_of]
        assert len(group) == len(snapshot), f"{as_of:%Y-%m-%d}: {len(group)} of its {len(snapshot)} rows"
        assert group["label"].mean() == pytest.approx(snapshot["label"].mean())
    horizon = pd.Timedelta(days=getattr(config, task).horizon_days)
    dates = sorted(rows["as_of"].unique())
    assert all(b - a >= horizon for a, b in zip(dates, dates[1:])), "outcome windows overlap"
