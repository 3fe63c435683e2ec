"""The pages a person opens agree with the check: Evidently's drift page counts the same columns the same way as the
summary, amounts are shown as multiples of their threshold, and the performance report is judged at a meaningful cut."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.drift import FeatureSchema, check_drift
from b2bscore.monitoring.report import drift_report, performance_report, summary_html, top_decile_cut
from b2bscore.monitoring.result import MonitorResult, TaskCheck

CONFIG = MonitorConfig(segments={"columns": (), "min_rows": 20, "min_reference_rows": 20})
SCHEMA = FeatureSchema(numeric=("moved", "nudged", "still", "huge"), categorical=("channel",))


def _frames(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """300 reference and 40 current rows. ``moved`` moves by two standard deviations (drifted: amount and test agree);
    ``nudged`` moves by 0.35 sd, over the 0.2 threshold but not significant in 40 rows (Evidently alone would count
    it); ``huge`` barely varies, so its small move is an enormous raw normed amount."""
    rng = np.random.default_rng(seed)

    def frame(n: int, shift: float, nudge: float, channel: list[str], huge: float) -> pd.DataFrame:
        return pd.DataFrame({
            "account_id": [f"a{seed}-{shift}-{i}" for i in range(n)],
            "moved": rng.normal(shift, 1, n), "nudged": rng.normal(nudge, 1, n), "still": rng.normal(0, 1, n),
            "huge": huge + rng.normal(0, 1e-3, n),
            "channel": rng.choice(channel, n), "prediction": rng.uniform(0, 0.3, n), "label": rng.integers(0, 2, n)})

    return frame(300, 0.0, 0.0, ["web", "event", "partner"], 1.0), frame(40, 2.0, 0.35, ["web", "event", "partner"], 1.5)


def _check(reference: pd.DataFrame, current: pd.DataFrame) -> TaskCheck:
    segments, _ = check_drift(reference, current, None, kind="classification", schema=SCHEMA, config=CONFIG)
    return TaskCheck(task="conversion", kind="classification", model_name="b2bscore-conversion", model_version="3",
                     run_id=None, source="data", window_start=None, window_end=pd.Timestamp("2026-01-01"),
                     key_features=(), segments=segments)


@pytest.mark.filterwarnings("ignore")
def test_the_evidently_drift_page_counts_what_the_summary_counts():
    reference, current = _frames()
    check = _check(reference, current)
    overall = check.overall
    drifted = {f.column for f in overall.drifted}
    assert "moved" in drifted and "nudged" not in drifted  # the check's rule: amount and significance together
    nudged = next(f for f in overall.features if f.column == "nudged")
    assert nudged.amount >= nudged.threshold  # ... which Evidently's amount-only verdict would count as drifted

    snapshot = drift_report(reference, current, overall=overall, config=CONFIG)
    metrics = snapshot.dict()["metrics"]
    (count,) = [m["value"] for m in metrics if m["metric_name"].startswith("DriftedColumnsCount")]
    assert count["count"] == len(overall.drifted)
    assert count["share"] == pytest.approx(overall.drifted_share)
    per_column = {m["config"]["column"]: m["value"] for m in metrics if m["metric_name"].startswith("ValueDrift")}
    assert set(per_column) == {f.column for f in overall.features} | {"prediction"}  # model inputs, plus the score
    for f in overall.features:  # each column's figure on the page is its amount in multiples of its threshold
        assert per_column[f.column] == pytest.approx(f.severity)

    page = summary_html(MonitorResult(as_of=pd.Timestamp("2026-01-01"), checked_at=pd.Timestamp("2026-01-02"),
                                      config=CONFIG, tasks=(check,)))
    row = next(r for r in page.split("<tr>") if r.startswith("<td>all</td>"))
    assert f"{len(overall.drifted)} of {len(overall.features)} ({overall.drifted_share:.0%})" in row
    huge = next(f for f in overall.features if f.column == "huge")
    assert huge.amount > 100  # the raw figure ops could not read
    assert f"{huge.amount:.2f}" not in page and re.search(r"huge \(&times;[\d,]+\)", row), row
    assert "model's inputs that have a value on both sides" in page


@pytest.mark.filterwarnings("ignore")
def test_the_performance_report_is_judged_at_the_reference_top_decile():
    rng = np.random.default_rng(3)
    prediction = rng.beta(1, 6, 2000)  # a calibrated model with a ~13% base rate: almost no score reaches 0.5
    reference = pd.DataFrame({"prediction": prediction, "label": (rng.uniform(size=2000) < prediction).astype(int)})
    cut = top_decile_cut(reference)
    assert cut < 0.5 and (reference["prediction"] >= cut).mean() == pytest.approx(0.1, abs=0.01)
    snapshot = performance_report(reference, reference.iloc[:500], kind="classification")
    recall = next(m["value"] for m in snapshot.dict()["metrics"] if m["metric_name"].startswith("Recall"))
    expected = ((reference.iloc[:500]["prediction"] >= cut) & (reference.iloc[:500]["label"] == 1)).sum() / (
        reference.iloc[:500]["label"] == 1).sum()
    assert recall == pytest.approx(expected, abs=0.02) and recall > 0.2
