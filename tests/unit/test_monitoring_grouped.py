"""The grouped drift tests (columns prepared once) give exactly the figures of ``column_drift`` slice by slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import b2bscore.monitoring.drift as drift_module
from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.drift import FeatureSchema, check_drift
from b2bscore.monitoring.grouped import supported


def _frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    industry = rng.choice(["software", "retail", "healthcare", "tiny"], n, p=[.45, .3, .24, .01])
    frame = pd.DataFrame({
        "account_id": rng.integers(0, n // 3, n).astype(str),
        "industry": industry,
        "region": rng.choice(["emea", "apac"], n),
        "plan": rng.choice(["a", "b", "c", None], n),
        "flag": rng.choice(["yes", "no"], n),
        "constant": np.ones(n),
        "small_int": rng.integers(0, 4, n),
        "normal": rng.normal(np.where(industry == "healthcare", shift, 0.0), 1, n),
        "heavy": np.where(rng.random(n) < 0.5, 0.0, rng.exponential(10, n)),
        "counts": rng.poisson(3, n).astype(float),
    })
    frame.loc[rng.random(n) < 0.05, "normal"] = np.nan
    frame.loc[rng.random(n) < 0.02, "heavy"] = np.inf
    frame["prediction"] = 1 / (1 + np.exp(-frame["counts"].to_numpy() / 3 + 1))
    frame["label"] = (rng.random(n) < frame["prediction"]).astype(float)
    return frame


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("accounts", [True, False])
def test_grouped_drift_equals_column_by_column(monkeypatch, seed, accounts):
    rng = np.random.default_rng(seed)
    reference, current = _frame(rng, 3000, 0.0), _frame(rng, 2500, 1.0)
    if not accounts:
        reference, current = reference.drop(columns="account_id"), current.drop(columns="account_id")
    matured = current.sample(600, random_state=seed).reset_index(drop=True)
    schema = FeatureSchema(numeric=("constant", "small_int", "normal", "heavy", "counts"),
                           categorical=("industry", "region", "plan", "flag"), key=("normal",))
    config = MonitorConfig(segments={"columns": ("industry", "region"), "min_rows": 20, "min_reference_rows": 20})
    assert supported(config.drift)
    fast, fast_notes = check_drift(reference, current, matured, kind="classification", schema=schema, config=config)
    monkeypatch.setattr(drift_module, "supported", lambda _config: False)
    slow, slow_notes = check_drift(reference, current, matured, kind="classification", schema=schema, config=config)
    assert fast_notes == slow_notes
    assert len(fast) == len(slow) == 7
    assert sum(len(r.features) for r in fast) > 40
    for a, b in zip(fast, slow):
        assert repr(a) == repr(b)  # every float to the last bit (repr: NaN equal to NaN)
