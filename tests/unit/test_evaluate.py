"""Evaluation metrics and charts on small hand-made arrays whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from b2bscore.training import plots
from b2bscore.training.evaluate import (_wilson, classification_metrics, expected_calibration_error, lift_table,
                                        metrics_by_segment, regression_metrics, reliability_curve)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- classification -------------------------------------------------------------------------------------------------

def test_perfect_ranker_has_auc_one_and_lift_capped_at_one_over_base_rate():
    y = np.array([1, 1, 1, 1] + [0] * 16)
    p = np.linspace(0.95, 0.05, 20)  # every positive outscores every negative
    m = classification_metrics(y, p)
    assert (m.n, m.positives, m.base_rate) == (20, 4, 0.2)
    assert m.roc_auc == 1.0 and m.pr_auc == 1.0
    # top 10% = 2 rows, both positive; top 20% = 4 rows, all positive: lift can reach 1 / base rate and no higher
    assert m.lift_top10 == pytest.approx(5.0) and m.capture_top10 == pytest.approx(0.5)
    assert m.lift_top20 == pytest.approx(5.0) and m.capture_top20 == pytest.approx(1.0)


def test_lift_and_capture_use_ceil_of_the_top_share():
    y = np.array([1, 1, 0, 1] + [0] * 11)  # 15 rows, 3 positives, base rate 0.2
    m = classification_metrics(y, np.linspace(1.0, 0.0, 15))
    # top 10% = ceil(1.5) = 2 rows -> 2 positives; top 20% = 3 rows -> 2 positives
    assert m.lift_top10 == pytest.approx(1.0 / 0.2) and m.capture_top10 == pytest.approx(2 / 3)
    assert m.lift_top20 == pytest.approx((2 / 3) / 0.2) and m.capture_top20 == pytest.approx(2 / 3)


def test_lift_and_capture_treat_tied_scores_as_one_block():
    """Issue 14: a constant model's lift is 1.0 whatever the row order (it was 0.52, 0.37 or 0.81 by order); tied
    scores at the cut count with their block's average."""
    rng = np.random.default_rng(3)
    y = (rng.random(1000) < 0.13).astype(int)
    for order in (np.arange(1000), rng.permutation(1000), np.arange(1000)[::-1]):
        m = classification_metrics(y[order], np.full(1000, 0.1336))
        assert m.lift_top10 == pytest.approx(1.0) and m.lift_top20 == pytest.approx(1.0)
        assert m.capture_top10 == pytest.approx(0.1) and m.capture_top20 == pytest.approx(0.2)
    # 10 rows: scores 0.9 (positive), then a block of four 0.5 holding one positive, then 0.1s; top 20% = 2 rows =
    # the 0.9 row + 1 of the 4 tied rows, worth 1/4 positive on average
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    m = classification_metrics(y, p)
    assert m.capture_top20 == pytest.approx(1.25 / 3) and m.lift_top20 == pytest.approx((1.25 / 2) / 0.3)
    assert m.capture_top10 == pytest.approx(1 / 3)  # top 10% = the 0.9 row alone: no tie at the cut
    # 100 rows alternating 0.8 / 0.2, ten positives among the 0.8s: the top 10 are 10 of 50 tied rows
    y = np.zeros(100)
    y[0:20:2] = 1
    m = classification_metrics(y, np.tile([0.8, 0.2], 50))
    assert m.capture_top10 == pytest.approx(0.2) and m.lift_top10 == pytest.approx(2.0)


def test_value_capture_treats_tied_predictions_as_one_block():
    y = np.array([10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    for order in (np.arange(10), np.arange(10)[::-1]):
        m = regression_metrics(y[order], np.full(10, 3.0))
        assert m.capture_top10 == pytest.approx(0.1) and m.capture_top20 == pytest.approx(0.2)


def test_brier_and_log_loss_match_hand_values():
    m = classification_metrics([0, 1], [0.5, 0.5])
    assert m.brier == pytest.approx(0.25) and m.log_loss == pytest.approx(math.log(2))
    y, p = np.array([0, 1, 1, 0, 1]), np.array([0.1, 0.8, 0.0, 1.0, 0.6])  # 0 and 1 need clipping
    assert classification_metrics(y, p).log_loss == pytest.approx(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)))


def test_ece_on_twenty_hand_made_points():
    # ten equal-mass bins of two points each: predicted 0.05, 0.15, ..., 0.95
    p = np.repeat(np.arange(0.05, 1.0, 0.1), 2)
    y = np.array([0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1])
    # |observed - predicted| per bin: .05 .15 .25 .15 .05 .05 .15 .25 .15 .05 -> sum 1.3, each bin weighs 1/10
    order = np.random.default_rng(3).permutation(20)  # the input order must not matter
    assert expected_calibration_error(y[order], p[order]) == pytest.approx(0.13)
    assert classification_metrics(y[order], p[order]).ece == pytest.approx(0.13)


def test_ece_separates_calibrated_from_miscalibrated_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert classification_metrics(y, p).ece < 0.01
    assert classification_metrics(y, p**2).ece > 0.05


def test_single_class_gives_nan_ranking_metrics_without_error():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    m = classification_metrics(np.zeros(4), p)
    for name in ("roc_auc", "pr_auc", "lift_top10", "capture_top10", "lift_top20", "capture_top20"):
        assert math.isnan(getattr(m, name)), name
    assert m.brier == pytest.approx(0.075)
    assert m.ece == pytest.approx(0.25)
    assert m.log_loss == pytest.approx(-np.mean(np.log(1 - p)))
    assert set(m.as_dict()) >= {"n", "roc_auc", "ece"} and all(isinstance(v, float) for v in m.as_dict().values())


@pytest.mark.parametrize("metric", [classification_metrics, regression_metrics])
@pytest.mark.parametrize(("y", "p", "message"), [
    ([0, 1, 1], [0.2, 0.4], "same length"),
    ([], [], "0 rows"),
    ([0, 1], [0.5, np.nan], "missing"),
])
def test_bad_inputs_raise_value_error(metric, y, p, message):
    with pytest.raises(ValueError, match=message):
        metric(y, p)


# --- regression -----------------------------------------------------------------------------------------------------

def test_regression_perfect_and_reversed_orderings():
    y = np.array([0.0, 3.0, 1.0, 7.0, 2.0, 10.0, 5.0])
    perfect = regression_metrics(y, 2 * y + 1)  # any increasing transform ranks perfectly
    assert perfect.gini_normalised == pytest.approx(1.0) and perfect.spearman == pytest.approx(1.0)
    reversed_ = regression_metrics(y, -y)
    assert reversed_.gini_normalised == pytest.approx(-1.0) and reversed_.spearman == pytest.approx(-1.0)


def test_regression_errors_and_capture_by_hand():
    y = np.array([5.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    m = regression_metrics(y, y + 1)
    assert (m.n, m.mean_actual, m.mean_predicted) == (10, 1.0, 2.0)
    assert m.mae == pytest.approx(1.0) and m.rmse == pytest.approx(1.0)
    ranked = regression_metrics(y, np.arange(10, 0, -1))  # the prediction ranks rows in their listed order
    assert ranked.capture_top10 == pytest.approx(0.5) and ranked.capture_top20 == pytest.approx(0.8)


def test_regression_constant_actual_gives_nan_rank_metrics():
    m = regression_metrics(np.full(5, 2.0), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert math.isnan(m.spearman) and math.isnan(m.gini_normalised)
    assert math.isnan(regression_metrics(np.zeros(5), [1.0, 2.0, 3.0, 4.0, 5.0]).gini_normalised)


# --- tables ---------------------------------------------------------------------------------------------------------

def test_lift_table_by_hand():
    table = lift_table([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], np.linspace(1.0, 0.1, 10), groups=5)
    assert table["group"].tolist() == [1, 2, 3, 4, 5] and table["count"].tolist() == [2] * 5
    assert table["mean_actual"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert table["lift"].tolist() == pytest.approx([5.0, 0.0, 0.0, 0.0, 0.0])
    assert table["cumulative_share_of_rows"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert table["cumulative_capture"].tolist() == pytest.approx([1.0] * 5)


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_lift_table_capture_is_monotone_and_ends_at_one(kind):
    rng = np.random.default_rng(1)
    score = rng.uniform(size=1000)
    y = (rng.uniform(size=1000) < score).astype(int) if kind == "classification" else rng.gamma(2.0, score * 100)
    table = lift_table(y, score)
    assert len(table) == 10 and table["count"].sum() == 1000
    assert table["mean_score"].is_monotonic_decreasing
    assert table["cumulative_capture"].is_monotonic_increasing
    assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)
    assert table["lift"].iloc[0] > 1.0 > table["lift"].iloc[-1]


def test_reliability_curve_counts_bins_and_wilson_interval():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=25)
    curve = reliability_curve((rng.uniform(size=25) < p).astype(int), p)
    assert curve["bin"].tolist() == list(range(10)) and curve["count"].sum() == 25
    assert curve["mean_predicted"].is_monotonic_increasing
    assert ((curve["lower"] <= curve["observed_rate"]) & (curve["observed_rate"] <= curve["upper"])).all()
    assert len(reliability_curve([0, 1, 0], [0.1, 0.5, 0.9])) == 3  # fewer rows than bins: no empty bins
    one_bin = reliability_curve([1] * 2 + [0] * 8, np.linspace(0.1, 0.9, 10), bins=1).iloc[0]
    assert one_bin["observed_rate"] == 0.2  # 2/10: Wilson 95% interval is (0.0567, 0.5098), not centred on 0.2
    assert (one_bin["lower"], one_bin["upper"]) == (pytest.approx(0.0567, abs=1e-4), pytest.approx(0.5098, abs=1e-4))


def _segment_frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    p = rng.uniform(size=48)
    return pd.DataFrame({
        "y": (rng.uniform(size=48) < p).astype(int), "p": p,
        "industry": ["software"] * 40 + ["retail"] * 5 + [None] * 3,
    })


def test_metrics_by_segment_notes_small_slices_and_groups_missing():
    table = metrics_by_segment(_segment_frame(), ["industry"], "y", "p", "classification")
    assert table.columns[:3].tolist() == ["segment_column", "segment", "n"]
    assert table["segment"].tolist() == ["software", "retail", "(missing)"] and table["n"].tolist() == [40, 5, 3]
    big, small = table.iloc[0], table.iloc[1]
    assert pd.isna(big["note"]) and 0.0 <= big["roc_auc"] <= 1.0
    assert small["note"] == "fewer than 30 rows" and math.isnan(small["roc_auc"])


def test_metrics_by_segment_regression_empty_and_unknown_kind():
    frame = _segment_frame()
    table = metrics_by_segment(frame, ["industry"], "y", "p", "regression", min_rows=3)
    assert "gini_normalised" in table and table["note"].isna().all()
    empty = metrics_by_segment(frame, [], "y", "p", "classification")
    assert empty.empty and empty.columns.tolist() == ["segment_column", "segment", "n"]
    with pytest.raises(ValueError, match="classification, regression"):
        metrics_by_segment(frame, ["industry"], "y", "p", "ranking")


# --- plots ----------------------------------------------------------------------------------------------------------

def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_each_plot_writes_a_png_into_a_new_folder(tmp_path):
    rng = np.random.default_rng(5)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(int)
    importance = pd.Series(rng.uniform(size=30), index=[f"feature_{i}" for i in range(30)])
    out = tmp_path / "charts"
    written = [
        plots.plot_reliability(reliability_curve(y, p), out / "reliability.png"),
        plots.plot_lift(lift_table(y, p), out / "lift.png"),
        plots.plot_feature_importance(importance, out / "importance.png", top=10),
        plots.plot_regression_deciles(p * 100 + rng.normal(size=500), p * 100, out / "deciles.png"),
    ]
    assert written == [out / "reliability.png", out / "lift.png", out / "importance.png", out / "deciles.png"]
    assert all(_is_png(path) for path in written)


@pytest.mark.parametrize("n", [6, 11, 21, 22, 27])
def test_wilson_interval_holds_the_rate_of_an_all_positive_or_all_negative_bin(n):
    """At rate 1 (or 0) floating point put the bound a hair on the wrong side of the rate (0.9999999999999999 < 1),
    which made the reliability plot's error bar negative and crashed training on a strong model."""
    lower, upper = _wilson(np.array([float(n), 0.0]), np.array([float(n), float(n)]))
    assert upper[0] == 1.0 and lower[1] == 0.0
    assert (lower <= np.array([1.0, 0.0])).all() and (upper >= np.array([1.0, 0.0])).all()


def test_reliability_plot_of_a_bin_with_only_positives(tmp_path):
    # 60 rows, 10 bins of 6: the top bin's rows are all positive, the bottom bin's all negative
    p = np.linspace(0.01, 0.99, 60)
    y = np.r_[np.zeros(6), np.tile([0, 1], 24), np.ones(6)]
    curve = reliability_curve(y, p)
    assert curve["observed_rate"].iloc[-1] == 1.0 and curve["observed_rate"].iloc[0] == 0.0
    assert ((curve["lower"] <= curve["observed_rate"]) & (curve["observed_rate"] <= curve["upper"])).all()
    assert _is_png(plots.plot_reliability(curve, tmp_path / "reliability.png"))
