"""Monitoring building blocks on tiny seeded frames: drift tests per type, calibration, ranking, rules, config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from b2bscore.errors import ConfigError
from b2bscore.monitoring.config import (
    DriftTestConfig,
    Levels,
    MonitorConfig,
    RulesConfig,
    load_monitor_config,
    window_days,
)
from b2bscore.monitoring.drift import FeatureSchema, check_drift
from b2bscore.monitoring.result import Performance
from b2bscore.monitoring.rules import judge
from b2bscore.monitoring.stats import (
    CATEGORICAL,
    NUMERIC,
    calibration,
    column_drift,
    ranking,
    ranking_drop,
    segment_share,
)

DRIFT = DriftTestConfig()


def test_numeric_drift_needs_both_a_large_amount_and_significance():
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(0, 1, 2000))
    same = column_drift("x", ref, pd.Series(rng.normal(0, 1, 500)), categorical=False, config=DRIFT)
    moved = column_drift("x", ref, pd.Series(rng.normal(0.8, 1, 500)), categorical=False, config=DRIFT)
    tiny = column_drift("x", ref, pd.Series(rng.normal(0.8, 1, 8)), categorical=False, config=DRIFT)
    assert same.kind == NUMERIC and same.amount_method == "wasserstein" and same.test_method == "ks"
    assert not same.drifted and same.amount < 0.1
    assert moved.drifted and moved.amount == pytest.approx(0.8, abs=0.1) and moved.p_value < 1e-6
    assert tiny.amount > DRIFT.numeric_threshold and not tiny.drifted  # large but not significant on 8 rows


def test_categorical_and_few_valued_columns_use_categorical_tests():
    rng = np.random.default_rng(1)
    ref = pd.Series(rng.choice(["paid_search", "events", "organic"], 3000, p=[.5, .2, .3]))
    cur = pd.Series(rng.choice(["paid_search", "events", "organic"], 600, p=[.1, .6, .3]))
    shifted = column_drift("lead_source", ref, cur, categorical=True, config=DRIFT)
    assert shifted.kind == CATEGORICAL and shifted.test_method == "chisquare" and shifted.drifted
    flags = column_drift("uses_competitor", pd.Series(rng.random(1000) < .3), pd.Series(rng.random(300) < .3),
                         categorical=True, config=DRIFT)
    assert flags.test_method == "z" and not flags.drifted
    counts = column_drift("tech_crm_count", pd.Series(rng.integers(0, 3, 1000)), pd.Series(rng.integers(0, 3, 300)),
                          categorical=False, config=DRIFT)
    assert counts.kind == CATEGORICAL and counts.amount_method == "jensenshannon"


def test_a_column_without_values_on_one_side_is_not_tested():
    assert column_drift("x", pd.Series([np.nan, np.inf]), pd.Series([1.0, 2.0]), categorical=False, config=DRIFT) is None


def test_calibration_gap_is_measured_against_the_segment_at_reference_time():
    rng = np.random.default_rng(2)
    p_ref = rng.uniform(0.05, 0.3, 4000)
    y_ref = (rng.random(4000) < p_ref).astype(float)
    p = rng.uniform(0.05, 0.3, 800)
    steady = calibration((rng.random(800) < p).astype(float), p, reference_label=y_ref, reference_prediction=p_ref,
                         kind="classification")
    doubled = calibration((rng.random(800) < 2 * p).astype(float), p, reference_label=y_ref, reference_prediction=p_ref,
                          kind="classification")
    assert abs(steady.gap) < 0.15 and abs(steady.z) < 2.5
    assert doubled.gap == pytest.approx(1.0, abs=0.2) and doubled.z > 8
    # a segment that was already under-predicted by half at reference time is not news when it still is
    biased = calibration((rng.random(800) < 1.5 * p).astype(float), p, reference_label=(rng.random(4000) < 1.5 * p_ref),
                         reference_prediction=p_ref, kind="classification")
    assert biased.reference_ratio == pytest.approx(1.5, abs=0.1) and abs(biased.gap) < 0.15


def test_ranking_with_standard_errors_and_drop():
    rng = np.random.default_rng(3)
    p = rng.random(2000)
    good = ranking((rng.random(2000) < p).astype(float), p, kind="classification", min_outcomes=15)
    noise = ranking((rng.random(2000) < 0.5).astype(float), p, kind="classification", min_outcomes=15)
    assert good.metric == "roc_auc" and good.value > 0.7 and 0 < good.se < 0.03
    drop, z = ranking_drop(good, noise)
    assert drop > 0.2 and z > 5
    assert ranking(np.array([0, 0, 1.0]), np.array([.1, .2, .3]), kind="classification", min_outcomes=15) is None
    values = rng.gamma(2, 1000, 500)
    assert ranking(values, values * rng.uniform(0.8, 1.2, 500), kind="regression", min_outcomes=15).metric == "spearman"


def test_segment_share_compares_like_windows_and_allows_for_bursts():
    halved = segment_share(200, 1000, 100, 1000)
    assert halved.factor == pytest.approx(2.0) and halved.z < -5
    # by window (as long as the current one) the reference share is lower than over the whole reference ...
    steady = segment_share(400, 1000, 100, 1000, window_shares=np.array([0.11, 0.09, 0.10, 0.10]))
    assert steady.reference == pytest.approx(0.10) and abs(steady.z) < 1
    # ... and a share that swings between windows needs a larger change to count
    bursty = segment_share(200, 1000, 100, 1000, window_shares=np.array([0.30, 0.10, 0.28, 0.12]))
    assert bursty.window_sd > 0.09 and abs(bursty.z) < 1.5
    assert segment_share(100, 1000, 0, 500).factor == float("inf")


def _drift(column, amount, p_value, threshold=0.2):
    from b2bscore.monitoring.stats import ColumnDrift

    return ColumnDrift(column, NUMERIC, "wasserstein", amount, threshold, "ks", p_value,
                       amount >= threshold and p_value < 0.001, 500, 100)


def test_rules_give_the_worst_level_and_say_why():
    rules = RulesConfig()
    quiet = tuple(_drift(f"f{i}", 0.05, 0.5) for i in range(10))
    assert judge(quiet, _drift("prediction", 0.05, 0.5), None, key_features=("f0",), rules=rules, p_value=0.001)[0] == "ok"
    key = (_drift("f0", 0.9, 1e-6), *quiet[1:])
    status, findings = judge(key, None, None, key_features=("f0",), rules=rules, p_value=0.001)
    assert status == "warn" and findings[0].rule == "key_feature" and "f0" in findings[0].text
    many = tuple(_drift(f"f{i}", 0.5, 1e-6) for i in range(10))
    assert judge(many, None, None, key_features=(), rules=rules, p_value=0.001)[0] == "alert"
    score = _drift("prediction", 0.6, 0.2)  # large but not significant: ignored
    assert judge(quiet, score, None, key_features=(), rules=rules, p_value=0.001)[0] == "ok"
    score = _drift("prediction", 0.6, 1e-5)
    assert judge(quiet, score, None, key_features=(), rules=rules, p_value=0.001)[0] == "alert"
    rng = np.random.default_rng(4)
    p = rng.uniform(.05, .2, 500)
    cal = calibration((rng.random(500) < 2.5 * p).astype(float), p, reference_label=(rng.random(2000) < p[:1].repeat(2000)),
                      reference_prediction=p[:1].repeat(2000), kind="classification")
    status, findings = judge(quiet, None, Performance(cal, None, None), key_features=(), rules=rules, p_value=0.001)
    assert status == "alert" and findings[0].rule == "calibration_gap" and "realised" in findings[0].text


def test_a_segment_whose_share_of_the_accounts_changed_is_judged_by_the_share_rule():
    rules = RulesConfig()  # segment_share: warn at x1.5, alert at x2 (either way), counted from |z| >= min_z
    quiet = tuple(_drift(f"f{i}", 0.05, 0.5) for i in range(10))
    doubled = segment_share(100, 1000, 200, 1000)
    status, findings = judge(quiet, None, None, key_features=(), rules=rules, p_value=0.001, share=doubled)
    assert status == "alert" and [f.rule for f in findings] == ["segment_share"]
    assert "from 10.0% to 20.0% (x2.00" in findings[0].text
    grown = segment_share(1000, 10000, 1600, 10000)  # x1.6 on many accounts: a warning
    assert judge(quiet, None, None, key_features=(), rules=rules, p_value=0.001, share=grown)[0] == "warn"
    halved = segment_share(2000, 10000, 1000, 10000)
    assert judge(quiet, None, None, key_features=(), rules=rules, p_value=0.001, share=halved)[0] == "alert"
    noise = segment_share(2, 100, 4, 100)  # x2 on a handful of accounts: not significant
    assert judge(quiet, None, None, key_features=(), rules=rules, p_value=0.001, share=noise) == ("ok", ())
    new = judge(quiet, None, None, key_features=(), rules=rules, p_value=0.001, share=segment_share(0, 1000, 100, 1000))
    assert new[0] == "alert" and "a new segment: 10.0%" in new[1][0].text


def _frames(seed: int, *, drift_healthcare: bool):
    """Reference and current rows of a toy model: x drives the score; healthcare's x jumps when drifted."""
    rng = np.random.default_rng(seed)

    def rows(n: int, shift: bool) -> pd.DataFrame:
        industry = rng.choice(["software", "retail", "healthcare", "education"], n, p=[.4, .3, .25, .05])
        x = rng.normal(0, 1, n) + np.where(shift & (industry == "healthcare"), 1.5, 0)
        other = rng.normal(5, 2, n)
        prediction = 1 / (1 + np.exp(-(x - 2)))
        label = (rng.random(n) < prediction * np.where(shift & (industry == "healthcare"), 2.0, 1.0)).astype(float)
        return pd.DataFrame({"industry": industry, "x": x, "other": other, "prediction": prediction, "label": label,
                             "account_id": [f"A{i}" for i in range(n)]})

    return rows(4000, False), rows(1200, drift_healthcare), rows(1500, drift_healthcare)


def test_check_drift_flags_the_touched_segment_only():
    reference, current, matured = _frames(5, drift_healthcare=True)
    config = MonitorConfig(segments={"columns": ("industry",), "min_rows": 100, "min_reference_rows": 100})
    schema = FeatureSchema(numeric=("x", "other"), categorical=("industry",), key=("x",))
    segments, notes = check_drift(reference, current, matured, kind="classification", schema=schema, config=config)
    by_name = {s.name: s for s in segments}
    assert by_name["industry=healthcare"].status == "alert"
    assert {f.column for f in by_name["industry=healthcare"].drifted} == {"x"}
    assert {f.rule for f in by_name["industry=healthcare"].findings} >= {"score_drift", "calibration_gap"}
    assert by_name["industry=software"].status == by_name["industry=retail"].status == "ok"
    small = by_name["industry=education"]  # too few rows to judge drift; its share of the accounts is still judged
    assert small.features == () and "drift not judged" in small.notes[0] and small.share is not None and small.status == "ok"
    assert segments[0].name == "all"


def test_tier_membership_today_is_not_judged_as_a_share_change():
    """A customer today was a prospect in the reference: a tier assigned today can hold few of the reference's
    rows by construction, so its share is not judged (a fixed segment's share is)."""
    reference, current, matured = _frames(7, drift_healthcare=False)
    reference = reference.assign(tier=np.where(np.arange(len(reference)) % 10 == 0, "Tier 1", "Tier 2"))  # 10% then
    current = current.assign(tier=np.where(np.arange(len(current)) % 2 == 0, "Tier 1", "Tier 2"))  # 50% now
    config = MonitorConfig(segments={"columns": ("tier", "industry"), "min_rows": 100, "min_reference_rows": 100})
    schema = FeatureSchema(numeric=("x", "other"), categorical=("industry",), key=("x",))
    segments, _ = check_drift(reference, current, None, kind="classification", schema=schema, config=config)
    tier1 = {s.name: s for s in segments}["tier=Tier 1"]
    assert tier1.share is None and "segment_share" not in {f.rule for f in tier1.findings}
    assert {s.name: s for s in segments}["industry=software"].share is not None


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_check_drift_stays_quiet_without_drift(seed):
    reference, current, matured = _frames(seed, drift_healthcare=False)
    config = MonitorConfig(segments={"columns": ("industry",), "min_rows": 100, "min_reference_rows": 100})
    schema = FeatureSchema(numeric=("x", "other"), categorical=("industry",), key=("x",))
    segments, _ = check_drift(reference, current, matured, kind="classification", schema=schema, config=config)
    assert {s.status for s in segments} <= {"ok", "not_judged"}


def test_config_files_windows_and_levels(tmp_path):
    assert window_days("30d") == 30 and window_days("2w") == 14 and window_days("48h") == 2
    with pytest.raises(ValueError, match="not a duration"):
        window_days("a month")
    with pytest.raises(ValueError, match="must not be below"):
        Levels(warn=0.5, alert=0.1)
    path = tmp_path / "monitor.yaml"
    path.write_text("window: 30d\nrules:\n  calibration_gap: {warn: 0.2, alert: 0.4}\nwebhook:\n  url: http://127.0.0.1:9/x\n")
    config = load_monitor_config(path)
    assert config.window_days == 30 and config.rules.calibration_gap.alert == 0.4 and config.webhook.retries == 3
    toml = tmp_path / "monitor.toml"
    toml.write_text('[drift]\nnumeric_amount = "wasserstain"\n')
    with pytest.raises(ConfigError, match=r"drift.numeric_amount.*unknown Evidently stat test 'wasserstain'"):
        load_monitor_config(toml)
    path.write_text("windw: 30d\n")
    with pytest.raises(ConfigError, match="windw"):
        load_monitor_config(path)
