"""Models registered by an earlier release keep loading and scoring the same after an upgrade.

``tests/data/registered-0.1/<task>`` holds the MLflow models the 0.1.0 demo registered (their pickles name the
classes where 0.1.0 kept them), without their copied code, and what they returned for their input example. They
keep their grades' cut-offs (quantiles of their validation period); a churn model's grade now reads as a risk level.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "registered-0.1"


@pytest.mark.parametrize("task", ["conversion", "churn", "cltv"])
def test_a_model_registered_by_0_1_scores_as_it_did(task):
    folder = DATA / task
    model = mlflow.pyfunc.load_model(str(folder))
    example = json.loads((folder / "input_example.json").read_text())
    scored = model.predict(pd.DataFrame(example["data"], columns=example["columns"]))
    expected = pd.read_json(folder / "expected.json", orient="split", convert_dates=["as_of"])
    if task == "churn":  # churn is now a risk level; an earlier model's is read off its own cut-offs: A high, D low
        expected = expected.rename(columns={"grade": "risk_level"})
        expected["risk_level"] = expected["risk_level"].map({"A": "high", "B": "medium", "C": "medium", "D": "low"})
    scored["as_of"] = pd.to_datetime(scored["as_of"])
    pd.testing.assert_frame_equal(scored.reset_index(drop=True), expected, check_dtype=False, rtol=1e-12)
