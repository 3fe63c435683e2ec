"""``ScoringModel`` keeps scikit-learn's estimator contract.

scikit-learn's own checks run on it; those that fit it cannot apply (they fit on an array of made-up columns, and
``ScoringModel`` fits on a frame of its entity's declared features with a validation period), so they are listed
below with that reason and what they would have shown is tested here on a declared-feature frame built from a seed:
fit returns self, the not-fitted error, refitting a clone, pickling, predicting on subsets, and unknown options.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import estimator_checks_generator

from b2bscore.errors import ConfigError
from b2bscore.features import FeatureConfig, feature_specs
from b2bscore.model import estimator as estimator_module
from b2bscore.model.estimator import ScoringModel
from b2bscore.model.settings import LightGBMConfig

FEATURES = FeatureConfig()
LGBM = LightGBMConfig(max_rounds=60, early_stopping_rounds=20, min_child_samples=10, num_threads=1)


def _model(task: str = "classification", entity: str = "lead", **options) -> ScoringModel:
    return ScoringModel(task=task, entity=entity, feature_config=FEATURES, lgbm=LGBM, **options)


def _frame(entity: str, rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, 0/1 labels, positive values): every declared model input of ``entity``, the labels and values
    driven by the first numeric input and the first category."""
    rng = np.random.default_rng(seed)
    columns = {}
    for spec in (s for s in feature_specs(FEATURES, entity) if s.model_input):
        if spec.dtype == "category":
            values = rng.choice(np.array(["alpha", "beta", "gamma", None], dtype=object), rows)
            columns[spec.name] = pd.Categorical(values)
        elif spec.dtype == "bool":
            columns[spec.name] = rng.random(rows) < 0.3
        else:
            columns[spec.name] = np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows))
    frame = pd.DataFrame(columns)
    signal = 1.5 * np.nan_to_num(frame.iloc[:, 0].to_numpy(dtype=float)) + (frame["industry"] == "alpha").to_numpy()
    labels = (rng.random(rows) < 1 / (1 + np.exp(1.5 - signal))).astype(float)
    return frame, labels, np.exp(signal + rng.normal(size=rows))


def _fitted(task: str = "classification", entity: str = "lead", **options) -> tuple[ScoringModel, pd.DataFrame]:
    """A model fitted on seeded rows, and rows it did not see."""
    train, valid, test = (_frame(entity, rows, seed) for rows, seed in ((600, 1), (300, 2), (200, 3)))
    target = 1 if task == "classification" else 2
    model = _model(task, entity, **options).fit(train[0], train[target], eval_set=(valid[0], valid[target]))
    return model, test[0]


# -- scikit-learn's checks ------------------------------------------------------------------------------------
_FITS_AN_ARRAY = "fits an array of made-up columns without eval_set; ScoringModel fits a frame of declared features"
NOT_APPLICABLE = {
    "check_fit_score_takes_y": _FITS_AN_ARRAY,
    "check_estimators_overwrite_params": _FITS_AN_ARRAY + " (tested here)",
    "check_dont_overwrite_parameters": _FITS_AN_ARRAY,
    "check_estimators_fit_returns_self": _FITS_AN_ARRAY + " (tested here)",
    "check_readonly_memmap_input": _FITS_AN_ARRAY,
    "check_n_features_in_after_fitting": _FITS_AN_ARRAY + " (feature_names_in_ is tested here)",
    "check_positive_only_tag_during_fit": _FITS_AN_ARRAY,
    "check_estimators_dtypes": _FITS_AN_ARRAY,
    "check_complex_data": _FITS_AN_ARRAY,
    "check_dtype_object": _FITS_AN_ARRAY,
    "check_estimators_empty_data_messages": _FITS_AN_ARRAY,
    "check_pipeline_consistency": _FITS_AN_ARRAY,
    "check_estimator_sparse_tag": _FITS_AN_ARRAY + " (a frame is never sparse)",
    "check_estimator_sparse_array": _FITS_AN_ARRAY + " (a frame is never sparse)",
    "check_estimator_sparse_matrix": _FITS_AN_ARRAY + " (a frame is never sparse)",
    "check_estimators_pickle": _FITS_AN_ARRAY + " (tested here)",
    "check_f_contiguous_array_estimator": _FITS_AN_ARRAY,
    "check_methods_sample_order_invariance": _FITS_AN_ARRAY,
    "check_methods_subset_invariance": _FITS_AN_ARRAY + " (tested here)",
    "check_fit2d_1sample": _FITS_AN_ARRAY,
    "check_fit2d_1feature": _FITS_AN_ARRAY,
    "check_dict_unchanged": _FITS_AN_ARRAY,
    "check_fit_idempotent": _FITS_AN_ARRAY + " (refitting a clone is tested here)",
    "check_fit_check_is_fitted": _FITS_AN_ARRAY + " (the not-fitted error is tested here)",
    "check_n_features_in": _FITS_AN_ARRAY,
    "check_fit1d": _FITS_AN_ARRAY,
    "check_fit2d_predict1d": _FITS_AN_ARRAY,
}
"""The checks that cannot apply; the rest (clone, repr, tags, get/set_params, default-constructible parameters,
nothing set in __init__, the not-fitted error, mixin order) run and must pass. Strict: a check that starts to pass
fails here, so that this list stays true."""


def _check_id(value) -> str:
    if isinstance(value, ScoringModel):
        return value.task
    keywords = "".join(f"({k}={v})" for k, v in value.keywords.items())  # value: partial(check, name, **keywords)
    return value.func.__name__ + keywords


@pytest.mark.parametrize("estimator, check", [
    case for estimator in (_model("classification", "lead"), _model("regression", "account"))
    for case in estimator_checks_generator(estimator, expected_failed_checks=NOT_APPLICABLE, mark="xfail",
                                           xfail_strict=True)
], ids=_check_id)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


# -- the same contract on declared features ------------------------------------------------------------------
@pytest.mark.parametrize("task, entity", [("classification", "lead"), ("regression", "account")])
def test_fit_returns_self_keeps_its_parameters_and_names_its_inputs(task, entity):
    model = _model(task, entity)
    params = model.get_params()
    train, y, values = _frame(entity, 400, 1)
    valid, y_valid, values_valid = _frame(entity, 200, 2)
    target, target_valid = (y, y_valid) if task == "classification" else (values, values_valid)
    assert model.fit(train, target, eval_set=(valid, target_valid)) is model
    assert model.get_params() == params
    declared = [s.name for s in feature_specs(FEATURES, entity) if s.model_input]
    assert sorted(model.feature_names_in_) == sorted(declared) and model.n_features_in_ == len(declared)
    assert list(model.contributions(valid).columns) == [*model.feature_names_in_, "bias"]
    assert {"inputs_", "categories_", "booster_", "best_iteration_", "calibrator_"} <= set(vars(model))


def test_an_unfitted_model_says_so():
    model = _model()
    frame = _frame("lead", 5, 1)[0]
    for method in (model.predict, model.predict_proba, model.contributions, model.feature_importance):
        with pytest.raises(NotFittedError):
            method(*([frame] if method != model.feature_importance else []))
    with pytest.raises(NotFittedError):
        model.grade(np.array([0.5]))
    assert not hasattr(model, "feature_names_in_")


def test_predict_proba_is_the_calibrated_probability_and_only_for_classifiers():
    model, test = _fitted()
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba[:, 1], model.predict(test))
    assert isinstance(model.calibrator_.calibrator, CalibratedClassifierCV)  # bounded inside (0, 1)
    assert set(model.grade(model.predict(test))) <= {"A", "B", "C", "D"}
    regressor, _ = _fitted("regression", "account")
    assert not hasattr(regressor, "predict_proba") and regressor.calibrator_ is None


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
def test_a_clone_refits_to_the_same_scores_and_a_pickle_scores_the_same(calibration):
    model, test = _fitted(calibration=calibration)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "booster_")
    train, valid = _frame("lead", 600, 1), _frame("lead", 300, 2)
    twin.fit(train[0], train[1], eval_set=(valid[0], valid[1]))
    np.testing.assert_array_equal(twin.predict(test), model.predict(test))
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(test), model.predict(test))
    pd.testing.assert_frame_equal(copy.contributions(test), model.contributions(test))


def test_a_row_scores_the_same_alone_or_in_a_batch():
    model, test = _fitted()
    alone = np.concatenate([model.predict(test.iloc[[i]]) for i in range(10)])
    np.testing.assert_array_equal(alone, model.predict(test)[:10])


@pytest.mark.parametrize("option, value, valid", [
    ("task", "ranking", "classification, regression"),
    ("entity", "leads", "lead, account"),
    ("calibration", "beta", "isotonic, sigmoid"),
    ("form", "gbm", "auto, tweedie, two_part"),
])
def test_an_unknown_option_is_refused_listing_the_valid_ones(option, value, valid):
    model = _model().set_params(**{option: value})  # set_params only stores, like __init__
    train, y, _ = _frame("lead", 50, 1)
    with pytest.raises(ConfigError, match=f"unknown {option} '{value}'.*choose one of: {valid}"):
        model.fit(train, y, eval_set=(train, y))


# -- the two-part regressor (buyers who order at will) ----------------------------------------------------------
_ORDERS = FeatureConfig(orders={"enabled": True, "horizon_days": 90, "fits": [
    {"fitted_before": "2024-01-01", "customers": 100, "r": 1.0, "alpha": 30.0, "a": 1.0, "b": 10.0}]})


def _revenue_rows(config: FeatureConfig, rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Account rows whose revenue is zero for a third (those that stopped buying) and heavy-tailed otherwise, the
    buy-till-you-die expectation (when an input) a noisy guess of it."""
    global FEATURES
    saved, FEATURES = FEATURES, config
    try:
        frame, stopped, value = _frame("account", rows, seed)
    finally:
        FEATURES = saved
    y = np.where(stopped == 1, value * 1000, 0.0)
    frame["revenue_90d"] = np.abs(np.nan_to_num(frame["revenue_90d"].to_numpy())) * 100  # the run-rate reads it
    if "btyd_expected_revenue" in frame:
        frame["btyd_expected_revenue"] = value * 700 * np.exp(np.random.default_rng(seed).normal(0, 0.3, rows))
    return frame, y


@pytest.mark.parametrize("config, form", [(_ORDERS, "auto"), (FEATURES, "two_part")])
def test_a_two_part_regressor_explains_its_value_exactly_and_matches_the_validation_total(config, form):
    """P(any revenue) x revenue of those with some x the validation level: auto for buyers who order at will (the
    buy-till-you-die expected revenue is an input and the value model's start), or when asked; reasons still add
    up to the log of the value, alone, blended with the run-rate, and after a pickle."""
    from b2bscore.model.baseline import RunRateBaseline

    (train, y_train), (valid, y_valid), (test, _) = (_revenue_rows(config, n, seed) for n, seed in ((600, 1), (300, 2), (200, 3)))
    model = ScoringModel(task="regression", entity="account", feature_config=config, lgbm=LGBM, form=form)
    model.fit(train, y_train, eval_set=(valid, y_valid))
    assert model.two_part_ and model.occurrence_ is not None
    assert model.predict(valid).sum() == pytest.approx(y_valid.sum(), rel=1e-9)  # the level: the validation total
    assert (model.predict(test) > 0).all()
    for candidate in (model, model.with_candidate("blend", RunRateBaseline(365), 0.5, eval_set=(valid, y_valid))):
        total = candidate.contributions(test).sum(axis=1).to_numpy()
        np.testing.assert_allclose(total, np.log(candidate.raw_score(test)), rtol=1e-9, atol=1e-9)
        copy = pickle.loads(pickle.dumps(candidate))
        np.testing.assert_array_equal(copy.predict(test), candidate.predict(test))
    importance = model.feature_importance()
    assert importance.index[0] in importance.index and importance.sum() > 0
    if "btyd_expected_revenue" in test:  # the value model starts from it: scaling it scales the value
        doubled = test.assign(btyd_expected_revenue=test["btyd_expected_revenue"] * 2)
        margin = model.booster_.predict(model._matrix(doubled), num_iteration=model.best_iteration_, raw_score=True)
        before = model.booster_.predict(model._matrix(test), num_iteration=model.best_iteration_, raw_score=True)
        changed = margin != before  # rows whose trees also split on it: the offset alone doubles the rest
        ratio = model.predict(doubled) / model.predict(test)
        odds = model._log_occurrence(model._matrix(doubled))[0] == model._log_occurrence(model._matrix(test))[0]
        assert (~changed & odds).sum() >= 20
        np.testing.assert_allclose(ratio[~changed & odds], 2.0, rtol=1e-9)


def test_a_tweedie_regressor_stays_one_model():
    model, test = _fitted("regression", "account")
    assert not model.two_part_ and model.occurrence_ is None and model.level_ == 1.0
    with_form = _fitted("regression", "account", form="tweedie")[0]
    np.testing.assert_array_equal(with_form.predict(test), model.predict(test))


# -- candidates: the baseline and blends ----------------------------------------------------------------------
def _candidate(task: str, weight: float):
    """LightGBM fitted on seeded account rows, and the candidate that blends it with its baseline at ``weight``."""
    from b2bscore.model.baseline import LogisticBaseline, RunRateBaseline

    train, valid, test = (_frame("account", rows, seed) for rows, seed in ((600, 1), (300, 2), (200, 3)))
    target = 1 if task == "classification" else 2
    if task == "regression":  # the run-rate reads revenue_90d: make it a revenue
        for part in (train, valid, test):
            part[0]["revenue_90d"] = np.abs(np.nan_to_num(part[0]["revenue_90d"].to_numpy())) * 100
    trees = _model(task, "account").fit(train[0], train[target], eval_set=(valid[0], valid[target]))
    baseline = LogisticBaseline(trees.inputs_).fit(train[0], train[1]) if task == "classification" else RunRateBaseline(365)
    name = "baseline" if weight == 0 else "blend"
    return trees, trees.with_candidate(name, baseline, weight, eval_set=(valid[0], valid[target])), baseline, test[0]


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_a_blend_or_the_baseline_explains_its_own_score_exactly(task, weight):
    """Reasons come from contributions: for a candidate that is not the trees alone they must still add up to its
    raw score (log-odds of a classifier, log of a regressor's value), or a reason would be made up."""
    trees, model, baseline, test = _candidate(task, weight)
    raw = model.raw_score(test)
    total = model.contributions(test).sum(axis=1).to_numpy()
    expected = np.log(raw / (1 - raw)) if task == "classification" else np.log(np.maximum(raw, 1e-9))
    np.testing.assert_allclose(total, expected, rtol=1e-9, atol=1e-9)
    if weight == 0:  # the baseline alone scores like the baseline
        own = baseline.probability(test) if task == "classification" else baseline.value(test)
        np.testing.assert_allclose(raw, own, rtol=1e-12)
    assert model.candidate == ("baseline" if weight == 0 else "blend") and trees.candidate == "lightgbm"
    assert not hasattr(trees, "baseline_")  # the trees' model is left as it was
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(test), model.predict(test))
    pd.testing.assert_frame_equal(copy.contributions(test), model.contributions(test))
    if task == "classification":
        assert ((model.predict(test) >= 0) & (model.predict(test) <= 1)).all()
        assert set(model.grade(model.predict(test))) <= set("ABCD")


def test_the_logistic_baseline_contributions_add_up_to_its_margin():
    from b2bscore.model.baseline import LogisticBaseline

    train, test = _frame("lead", 800, 1), _frame("lead", 100, 2)[0]
    inputs = _fitted()[0].inputs_
    baseline = LogisticBaseline(inputs).fit(train[0], train[1])
    contributions = baseline.contributions(test)
    assert contributions.shape == (100, len(inputs.names) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), baseline.margin(test), rtol=1e-9, atol=1e-9)
    first = inputs.names.index(inputs.numeric[0])  # the labels depend on it: it must carry weight
    assert np.abs(contributions[:, first]).mean() > np.abs(contributions[:, -2]).mean()


# -- grades from the base rate --------------------------------------------------------------------------------
def test_grades_and_risk_levels_are_multiples_of_the_validation_base_rate():
    model, test = _fitted()
    y_valid = _frame("lead", 300, 2)[1]
    base = float(np.mean(y_valid))
    assert model.base_rate_ == pytest.approx(base)
    assert model.grade_cuts_ == pytest.approx((3 * base, 1.5 * base, 0.75 * base))
    probability = np.array([3.0, 2.99, 1.5, 1.49, 0.75, 0.74, 0.0]) * base
    assert list(model.grade(probability)) == ["A", "B", "B", "C", "C", "D", "D"]
    assert list(model.risk_level(np.array([2.0, 1.99, 0.75, 0.74]) * base)) == ["high", "medium", "medium", "low"]
    # the same on every run: the cut-offs do not depend on how the scores happen to spread
    twin, _ = _fitted(calibration="sigmoid")
    assert twin.grade_cuts_ == pytest.approx(model.grade_cuts_)


def test_a_candidate_keeps_the_base_rate_of_the_period_it_is_recalibrated_on():
    trees, model, _, _ = _candidate("classification", 0.5)
    y_valid = _frame("account", 300, 2)[1]
    assert model.base_rate_ == trees.base_rate_ == pytest.approx(float(np.mean(y_valid)))
    assert model.grade_cuts_ == pytest.approx(tuple(lift * model.base_rate_ for lift in (3.0, 1.5, 0.75)))


def test_a_model_pickled_before_base_rates_grades_by_its_own_quantile_cuts():
    model, test = _fitted()
    older = pickle.loads(pickle.dumps(model))
    for name in ("base_rate_", "business_task"):  # not in a pickle of an earlier release
        vars(older).pop(name)
    older.grade_cuts_ = (0.4, 0.3, 0.2)  # what an earlier release fitted: validation quantiles
    assert older.task_name == "conversion"
    assert list(older.grade(np.array([0.5, 0.35, 0.25, 0.1]))) == ["A", "B", "C", "D"]
    assert list(older.risk_level(np.array([0.5, 0.35, 0.25, 0.1]))) == ["high", "medium", "medium", "low"]
    inputs = older.inputs_
    plain = estimator_module.ModelInputs.__new__(estimator_module.ModelInputs)
    vars(plain).update(numeric=inputs.numeric, categorical=inputs.categorical)  # no directions
    assert plain.directions == () and plain.constraints == [0] * len(inputs.names)


# -- declared directions: monotone trees and a sign-bounded baseline ----------------------------------------------
UP = "demo_request_7d"  # declared: can only raise the chance to buy


def _against_the_declaration(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Lead rows whose labels fall as ``UP`` rises: the data contradicts the declared direction."""
    frame, _, _ = _frame("lead", rows, seed)
    rng = np.random.default_rng(seed + 100)
    frame[UP] = rng.poisson(1.5, rows).astype(float)
    signal = 1.5 * np.nan_to_num(frame.iloc[:, 0].to_numpy(dtype=float)) - 1.2 * frame[UP].to_numpy()
    return frame, (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(float)


@pytest.mark.parametrize("business_task", ["conversion", None, "propensity"])
def test_the_declared_direction_holds_in_the_trees_and_the_baseline(business_task):
    """Even where the data says the opposite: more demo requests never lower a lead's (or a prospect's) score,
    neither in the trees, nor in the baseline, nor in a blend of them."""
    from b2bscore.model.baseline import LogisticBaseline

    entity = "account" if business_task == "propensity" else "lead"
    (train, y), (valid, y_valid) = _against_the_declaration(800, 1), _against_the_declaration(400, 2)
    if entity == "account":
        train, valid = (f[[s.name for s in feature_specs(FEATURES, "account") if s.model_input]] for f in (train, valid))
    model = _model("classification", entity, business_task=business_task).fit(train, y, eval_set=(valid, y_valid))
    position = list(model.feature_names_in_).index(UP)
    assert model.inputs_.constraints[position] == 1  # conversion and propensity both declare it
    baseline = LogisticBaseline(model.inputs_).fit(train, y)
    assert baseline.pipeline.named_steps["model"].coef_[0][position] >= 0
    free = LogisticBaseline(estimator_module.ModelInputs(model.inputs_.numeric, model.inputs_.categorical)).fit(train, y)
    assert free.pipeline.named_steps["model"].coef_[0][position] < 0  # the data alone would say the opposite
    blend = model.with_candidate("blend", baseline, 0.5, eval_set=(valid, y_valid))
    rows = valid.head(100)
    for candidate in (model, blend):
        before = candidate.raw_score(rows)
        after = candidate.raw_score(rows.assign(**{UP: rows[UP] + 2}))
        assert (after >= before - 1e-12).all()


def test_the_constrained_baseline_is_the_optimum_of_its_own_objective():
    """Refitting a fit that breaks no bound changes nothing; one that breaks one ends on the bound, at a loss no
    worse than any other point within the bounds nearby."""
    from sklearn.linear_model import LogisticRegression

    from b2bscore.model.baseline import _bound_signs

    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 3))
    y = (rng.random(500) < 1 / (1 + np.exp(-(X @ np.array([1.0, -1.0, 0.5]))))).astype(float)
    model = LogisticRegression(C=0.5, max_iter=2000).fit(X, y)
    kept = model.coef_.copy()
    _bound_signs(model, X, y, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(model.coef_, kept)
    _bound_signs(model, X, y, np.array([0.0, 1.0, 0.0]))
    assert model.coef_[0][1] == 0.0 and model.coef_[0][0] > 0.5

    def loss(w, b):
        z = X @ w + b
        return 0.5 * np.logaddexp(0, -(2 * y - 1) * z).sum() + 0.5 * w @ w

    best = loss(model.coef_[0], model.intercept_[0])
    for step in rng.normal(scale=0.05, size=(20, 4)):
        w = model.coef_[0] + step[:3]
        w[1] = max(w[1], 0.0)
        assert loss(w, model.intercept_[0] + step[3]) >= best - 1e-9


def test_a_business_task_must_match_the_kind_and_entity():
    train, y, _ = _frame("lead", 50, 1)
    with pytest.raises(ConfigError, match="business_task 'churn' is a classification of accounts"):
        _model(business_task="churn").fit(train, y, eval_set=(train, y))
    with pytest.raises(ConfigError, match="unknown business_task 'upsell'.*choose one of"):
        _model(business_task="upsell").fit(train, y, eval_set=(train, y))
    assert _model().task_name == "conversion" and _model("regression", "account").task_name == "cltv"
    assert _model(entity="account").task_name == "churn"
    assert _model(entity="account", business_task="propensity").task_name == "propensity"


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibrated_probabilities_are_never_exactly_0_or_1(method):
    """The bottom block of an isotonic calibration is exactly 0 when none of its validation rows converted (the
    top 1 when all did): a lead would read "no chance". An end block at 0 of n gets Jeffreys' 0.5 / (n + 1), and
    every other probability stays as isotonic regression fitted it."""
    rng = np.random.default_rng(3)
    raw = np.sort(rng.random(2000))
    y = (rng.random(2000) < raw).astype(float)
    y[:150], y[-120:] = 0.0, 1.0  # the lowest scores never convert, the highest always do
    calibrator = estimator_module._fit_calibrator(raw, y, method)
    extremes = np.array([0.0, 1e-12, 0.5, 1 - 1e-12, 1.0])
    probability = calibrator.predict_proba(extremes.reshape(-1, 1))[:, 1]
    assert ((probability > 0) & (probability < 1)).all(), probability
    on_valid = calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
    assert (np.diff(on_valid) >= 0).all()  # the order of the scores is kept
    if method == "isotonic":
        inner = calibrator.calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
        bottom = inner == inner.min()
        jeffreys = min(0.5 / (bottom.sum() + 1), 0.5 * inner[inner > 0].min())
        assert inner.min() == 0 and on_valid[bottom][0] == pytest.approx(jeffreys)
        middle = (inner > 0) & (inner < 1)
        np.testing.assert_array_equal(on_valid[middle], inner[middle])  # nothing else moves
        assert on_valid[bottom].max() < on_valid[middle].min() and on_valid[middle].max() < on_valid[inner == 1].min()


def test_a_small_bottom_block_does_not_lift_the_chances_above_it():
    """Four validation rows at 0 would give Jeffreys 0.1, above most leads' real chance: the bound stays below the
    lowest probability above the block, so the leads the isotonic fit put at 1-5% keep exactly that."""
    raw = np.linspace(0.0, 1.0, 400)
    y = np.zeros(400)
    y[[4, 120, 200, 260, 300, 330, 350, 370, 380, 390, 395, 399]] = 1.0  # 4 rows at 0, then 1 in about 100
    calibrator = estimator_module._fit_calibrator(raw, y, "isotonic")
    inner = calibrator.calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
    shown = calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
    positive = inner > 0
    assert (shown > 0).all() and shown[~positive].max() < inner[positive].min()
    np.testing.assert_array_equal(shown[positive], np.minimum(inner[positive], calibrator.high))
