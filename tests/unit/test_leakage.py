"""The single-feature leakage screen: planted leaks are flagged, honest signal is not."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from b2bscore.errors import DataError
from b2bscore.training.leakage import screen_leaky_features

N = 4000


def honest_world(seed: int = 0, n: int = N, rate: float = 0.2) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels with real but partial signal in a number and in a 500-value category, and constants."""
    rng = np.random.default_rng(seed)
    city_effect = rng.normal(0, 1.0, 500)
    city = rng.integers(0, 500, n)
    visits = rng.poisson(3, n).astype(np.float64)
    logit = np.log(rate / (1 - rate)) + 0.4 * (visits - 3) + city_effect[city]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({
        "visits": visits,
        "city": np.array([f"c{c:03d}" for c in range(500)], dtype=object)[city],
        "constant_number": np.ones(n),
        "constant_text": np.array(["same"] * n, dtype=object),
        "all_missing": np.full(n, np.nan),
    })
    return frame, y


def names(found) -> list[str]:
    return [f.name for f in found]


def test_honest_features_and_constants_are_not_flagged():
    frame, y = honest_world()
    found = screen_leaky_features(frame, y, ["visits", "constant_number", "all_missing"], ["city", "constant_text"])
    assert found == []


def test_an_honest_500_value_category_is_not_flagged_by_memorisation():
    frame, y = honest_world(n=500)  # about one row per city: in-sample rates memorise the labels
    codes = pd.factorize(frame["city"])[0]
    in_sample = (np.bincount(codes, weights=y) / np.bincount(codes))[codes]
    assert roc_auc_score(y, in_sample) >= 0.95  # guard: an in-sample screen would flag it
    assert screen_leaky_features(frame, y, ["visits"], ["city"]) == []


def test_a_planted_leaky_number_is_flagged_with_its_auc():
    frame, y = honest_world()
    rng = np.random.default_rng(1)
    frame["days_to_close"] = np.where(y == 1, rng.uniform(0, 10, N), rng.uniform(9.9, 100, N))
    frame["reversed"] = -frame["days_to_close"]
    found = screen_leaky_features(frame, y, ["visits", "days_to_close", "reversed"], ["city"])
    assert names(found) == ["days_to_close", "reversed"]
    assert found[0].figure < 0.01 and "in reverse with ROC AUC 0.00" in found[0].reason
    assert found[1].figure > 0.99 and found[1].sentence.startswith("Feature reversed alone predicts the label with ROC AUC")


def test_a_number_missing_exactly_when_the_label_is_negative_is_flagged():
    frame, y = honest_world()
    frame["closed_amount"] = np.where(y == 1, np.random.default_rng(2).uniform(1, 100, N), np.nan)
    (found,) = screen_leaky_features(frame, y, ["closed_amount"], [])
    assert "is missing on 0.0% of the positive rows and 100.0% of the negative ones" in found.reason
    assert found.figure == 1.0


def test_a_planted_leaky_text_column_is_flagged_by_its_value():
    frame, y = honest_world()
    frame["status"] = np.where(y == 1, "converted", "open").astype(object)
    (found,) = screen_leaky_features(frame, y, ["visits"], ["city", "status"])
    assert found.name == "status" and found.figure == 1.0
    assert "is 'converted' on 100.0% of the positive rows and 0.0% of the negative ones" in found.reason


def test_a_leaky_many_valued_category_is_flagged_by_its_out_of_fold_rate():
    frame, y = honest_world()
    rng = np.random.default_rng(3)
    # 40 codes used only by positive rows, 40 only by negative ones: no single code marks the label
    frame["stage_code"] = np.where(y == 1, rng.integers(0, 40, N), rng.integers(40, 80, N)).astype(str).astype(object)
    (found,) = screen_leaky_features(frame, y, [], ["city", "stage_code"])
    assert found.name == "stage_code" and "ROC AUC 1.000" in found.reason


def test_a_rare_label_does_not_make_a_near_constant_column_agree():
    frame, y = honest_world(rate=0.004, n=20000)
    rng = np.random.default_rng(4)
    # a flag on 0.5% of rows, twice as frequent among positives: honest, and agrees with "not converted" on ~99% rows
    frame = frame.assign(flag=np.where(rng.random(len(y)) < np.where(y == 1, 0.01, 0.005), "yes", "no").astype(object),
                         rare_number=np.where(rng.random(len(y)) < 0.005, 1.0, 0.0))
    assert y.sum() > 10
    assert screen_leaky_features(frame, y, ["visits", "rare_number"], ["city", "flag"]) == []


def test_labels_must_be_binary_and_match_the_rows():
    frame, y = honest_world(n=50)
    with pytest.raises(DataError, match="0/1 labels"):
        screen_leaky_features(frame, y * 2.5, ["visits"], [])
    with pytest.raises(DataError, match="49 labels for 50 feature rows"):
        screen_leaky_features(frame, y[:-1], ["visits"], [])
    with pytest.raises(DataError, match="asked about nope, which the feature frame lacks"):
        screen_leaky_features(frame, y, ["nope"], [])
    assert screen_leaky_features(frame, np.zeros(50), ["visits"], ["city"]) == []


def test_the_screen_is_fast_on_a_wide_frame():
    rng = np.random.default_rng(5)
    n = 100_000
    y = (rng.random(n) < 0.1).astype(int)
    numbers = pd.DataFrame(rng.normal(size=(n, 120)), columns=[f"n{i}" for i in range(120)])
    texts = pd.DataFrame({f"c{i}": np.array([f"v{v}" for v in range(50)], dtype=object)[rng.integers(0, 50, n)]
                          for i in range(30)})
    frame = pd.concat([numbers, texts], axis=1)
    start = time.perf_counter()
    found = screen_leaky_features(frame, y, list(numbers.columns), list(texts.columns))
    assert found == [] and time.perf_counter() - start < 15
