"""Training end to end on a small generated world: MLflow runs, the registry, the self-sufficient model, bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.errors import DataError, MissingTableError
from b2bscore.model.estimator import _fit_calibrator
from b2bscore.model.registry import list_models
from b2bscore.model.scoring import score
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.records import dataset_to_records
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import TrainConfig
from b2bscore.training.evaluate import expected_calibration_error
from b2bscore.training.job import train_tasks
from b2bscore.training.train import train

SMALL = TrainConfig.model_validate({
    "conversion": {"min_positives": 10}, "propensity": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
    "lightgbm": {"max_rounds": 300, "early_stopping_rounds": 30},
    # a world of a few hundred accounts has a few hundred validation rows: its models beat chance, but not provably at 95%
    "candidates": {"confidence": 0.6},
})


# a model that cannot split (every leaf would need more rows than the data has): one constant prediction, ROC AUC 0.5
BLIND = TrainConfig.model_validate({**SMALL.model_dump(), "lightgbm": {**SMALL.lightgbm.model_dump(), "min_child_samples": 10**6},
                                    "candidates": {"include": ["lightgbm"]}})
"""Trees that cannot split, and no baseline to fall back on: every candidate is blind."""
WEAK = TrainConfig.model_validate({**SMALL.model_dump(), "lightgbm": {**SMALL.lightgbm.model_dump(), "max_rounds": 1,
                                                                     "num_leaves": 2},
                                   "candidates": {"include": ["lightgbm"]}})
"""One stump: better than chance, worse than the default model."""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=500, seed=5, months=36), out)
    return out


@pytest.fixture(scope="module")
def dataset(world):
    return load_dataset(world)[0]


def test_train_all_registers_three_champions_with_lineage_and_artifacts(world, project_home):
    results = train_tasks("all", world, config=SMALL, home=project_home)
    assert [r.task for r in results] == ["conversion", "propensity", "churn", "cltv"]
    assert all(r.decision.promoted and "no champion yet" in r.decision.reason for r in results)
    client = activate(resolve_tracking(project_home))
    models = {m.name: m for m in list_models(client)}
    assert set(models) == {"b2bscore-conversion", "b2bscore-propensity", "b2bscore-churn", "b2bscore-cltv"}
    assert all(m.champion == "1" for m in models.values())

    conversion = results[0]
    run = client.get_run(conversion.run_id)
    for key in ("test_roc_auc", "test_pr_auc", "test_brier", "test_ece", "test_lift_top10", "test_capture_top20",
                "baseline_test_roc_auc", "oracle_test_roc_auc", "oracle_gap_roc_auc", "lift_over_baseline_pr_auc"):
        assert key in run.data.metrics, key
    tags = run.data.tags
    assert len(tags["data.digest"]) == 16 and tags["split.test_rows"] == str(conversion.split["test_rows"])
    assert 0 < float(tags["label_mean.train"]) < 1
    artifacts = {f.path for f in client.list_artifacts(conversion.run_id, "evaluation")}
    for name in ("reliability_curve.png", "lift_chart.png", "feature_importance.png", "metrics_by_segment.csv",
                 "features.json", "config.json"):
        assert f"evaluation/{name}" in artifacts
    segments = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=conversion.run_id,
                                                               artifact_path="evaluation/metrics_by_segment.csv"))
    assert set(segments["segment_column"]) == {"industry", "size_band", "region"}
    reference = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=conversion.run_id,
                                                                    artifact_path="reference/reference.parquet"))
    assert set(reference["split"]) == {"valid", "test"}
    assert len(reference) == conversion.split["valid_rows"] + conversion.split["test_rows"]
    assert {"prediction", "label", "icp_fit_score", "industry"} <= set(reference.columns)
    assert reference["prediction"].between(0, 1).all()
    cltv_run = client.get_run(results[3].run_id)
    assert {"test_spearman", "test_gini_normalised", "test_mae", "baseline_test_spearman"} <= set(cltv_run.data.metrics)


def test_registered_model_scores_raw_records_like_the_batch_path(world, dataset, project_home):
    result = train("conversion", dataset, config=SMALL, home=project_home)
    activate(resolve_tracking(project_home))
    pyfunc = mlflow.pyfunc.load_model(f"models:/b2bscore-conversion/{result.decision.version}")
    leads = dataset.leads.sort_values("created_at").tail(5)
    entities = pd.DataFrame({"lead_id": leads["lead_id"], "account_id": leads["account_id"],
                             "as_of": leads["created_at"] + pd.Timedelta(days=3)})
    records = dataset_to_records(dataset, entities)
    served = pyfunc.predict(records)
    batch, _ = score(pyfunc.unwrap_python_model().model, dataset, entities[["lead_id", "as_of"]])
    np.testing.assert_allclose(served["probability"].to_numpy(), batch["probability"].to_numpy(), rtol=1e-12)
    assert list(served["lead_id"]) == list(leads["lead_id"])
    assert served["grade"].isin(["A", "B", "C", "D"]).all() and served["score"].between(0, 100).all()


def test_second_run_is_a_challenger_with_a_reason_and_a_margin(dataset, project_home):
    first = train("churn", dataset, config=SMALL, home=project_home)
    again = train("churn", dataset, config=SMALL, home=project_home)
    assert first.decision.promoted and not again.decision.promoted
    assert "does not beat champion v1" in again.decision.reason  # same data, same seed: a tie is not a win
    demanding = SMALL.model_copy(update={
        "lightgbm": SMALL.lightgbm.model_copy(update={"max_rounds": 1}),
        "promotion": SMALL.promotion.model_copy(update={"margin": 0.5}),
    })
    third = train("churn", dataset, config=demanding, home=project_home)
    assert not third.decision.promoted and third.decision.version == "3" and "margin 0.5" in third.decision.reason
    client = activate(resolve_tracking(project_home))
    assert client.get_model_version("b2bscore-churn", "3").tags["decision_reason"] == third.decision.reason
    assert str(client.get_model_version_by_alias("b2bscore-churn", "champion").version) == "1"
    weak = train("churn", dataset, config=WEAK, home=project_home)  # no margin: it loses on its metric alone
    d = weak.decision
    assert 0.5 < d.challenger_value < d.champion_value and d.champion_value == pytest.approx(first.metrics["test_roc_auc"])
    assert d.champion_value > 0.55
    assert not d.promoted and "does not beat champion v1" in d.reason
    assert str(client.get_model_version_by_alias("b2bscore-churn", "champion").version) == "1"


def test_a_run_that_beats_the_champion_replaces_it(dataset, project_home):
    weak = train("churn", dataset, config=WEAK, home=project_home)
    assert weak.decision.promoted and weak.metrics["test_roc_auc"] < 0.6  # the first model is champion anyway
    better = train("churn", dataset, config=SMALL, home=project_home)
    d = better.decision
    assert d.promoted and d.champion_version == "1" and d.challenger_value > 0.55
    assert "beats champion v1" in d.reason and "does not" not in d.reason
    client = activate(resolve_tracking(project_home))
    assert str(client.get_model_version_by_alias("b2bscore-churn", "champion").version) == "2"
    assert "challenger" not in client.get_registered_model("b2bscore-churn").aliases


def test_a_blind_run_registers_nothing_and_says_why(dataset, project_home):
    """Trees that cannot split score every row alike: before, such a model (ROC AUC 0.500) became champion."""
    with pytest.raises(DataError, match=r"churn: no model was registered, because every candidate is blind") as error:
        train("churn", dataset, config=BLIND, home=project_home)
    assert "lightgbm: roc_auc" in str(error.value) and "the same for every row" in str(error.value)
    assert list_models(activate(resolve_tracking(project_home))) == []


@pytest.mark.parametrize("task", ["conversion", "cltv"])
def test_the_candidate_registered_is_the_best_on_validation(task, dataset, project_home):
    """LightGBM, the baseline and the blends are judged on the validation period; the one registered ranks it best,
    so it is never worse there than its own baseline, and the run says which won and why."""
    result = train(task, dataset, config=SMALL, home=project_home)
    metric = "pr_auc" if task == "conversion" else "spearman"
    m = result.metrics
    judged = {name: m[f"candidate_valid_{name}_{metric}"] for name in ("lightgbm", "baseline", "blend")}
    assert judged[result.candidate] == max(judged.values())
    assert judged[result.candidate] == m[f"chosen_valid_{metric}"] >= m[f"baseline_valid_{metric}"] - 1e-12
    assert result.candidate in result.candidate_reason and f"validation {metric}" in result.candidate_reason
    client = activate(resolve_tracking(project_home))
    version = client.get_model_version(f"b2bscore-{task}", result.decision.version)
    assert version.tags["candidate"] == result.candidate and f"baseline_test_{metric}" in version.tags
    run = client.get_run(result.run_id)
    assert run.data.tags["candidate"] == result.candidate and run.data.params["candidate"] == result.candidate
    model = mlflow.pyfunc.load_model(f"models:/b2bscore-{task}/{result.decision.version}").unwrap_python_model().model
    assert model.candidate == result.candidate


def test_calibration_maps_scores_to_observed_rates():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.01, 0.6, 40_000)
    y = (rng.uniform(size=truth.size) < truth).astype(float)
    raw = truth**2.5  # a well-ranked but badly calibrated score
    fit, check = slice(0, 20_000), slice(20_000, None)
    for method in ("isotonic", "sigmoid"):
        calibrator = _fit_calibrator(raw[fit], y[fit], method)
        after = expected_calibration_error(y[check], calibrator.predict_proba(raw[check].reshape(-1, 1))[:, 1])
        assert after < 0.015, method
    assert expected_calibration_error(y[check], raw[check]) > 0.1


def test_too_few_positives_fails_clearly_and_registers_nothing(dataset, project_home):
    strict = SMALL.model_copy(update={"conversion": SMALL.conversion.model_copy(update={"min_positives": 10_000})})
    with pytest.raises(DataError, match=r"conversion: the [\d,]+ labelled lead rows .* cannot be split into train, "
                                        r"validation and test periods with at least 10000 positive .* too few positive"):
        train("conversion", dataset, config=strict, home=project_home)
    client = activate(resolve_tracking(project_home))
    assert list_models(client) == []


def test_single_class_and_missing_table_and_censoring(dataset, project_home):
    no_wins = replace(dataset, opportunities=dataset.opportunities.assign(stage="lost"))
    with pytest.raises(DataError, match="0 positive"):
        train("conversion", no_wins, config=SMALL, home=project_home)
    with pytest.raises(MissingTableError, match="the churn model needs the table.* revenue"):
        train("churn", replace(dataset, revenue=None), config=SMALL, home=project_home)
    long = SMALL.model_copy(update={"cltv": SMALL.cltv.model_copy(update={"horizon_days": 3650})})
    with pytest.raises(DataError, match="no row can be labelled.*censored"):
        train("cltv", dataset, config=long, home=project_home)


def test_all_checks_every_model_before_registering_any(world, project_home):
    strict = SMALL.model_copy(update={"cltv": SMALL.cltv.model_copy(update={"min_rows": 10**6})})
    with pytest.raises(DataError, match="cltv: only"):
        train_tasks("all", world, config=strict, home=project_home)
    assert list_models(activate(resolve_tracking(project_home))) == []


def test_as_of_outside_the_data_and_known_before(world, dataset, project_home):
    with pytest.raises(DataError, match="as-of 2040-01-01 is outside the data"):
        train_tasks("churn", world, config=SMALL, home=project_home, as_of=pd.Timestamp("2040-01-01"))
    cut = pd.Timestamp("2025-01-01")
    past = dataset.known_before(cut)
    assert (past.activities["occurred_at"] < cut).all() and (past.opportunities["created_at"] < cut).all()
    reopened = past.opportunities["closed_at"].isna() & (past.opportunities["stage"] == "open")
    closed_later = dataset.opportunities[(dataset.opportunities["created_at"] < cut) & (dataset.opportunities["closed_at"] >= cut)]
    assert reopened.sum() >= len(closed_later) > 0


def test_per_model_lightgbm_overrides():
    config = TrainConfig.model_validate({"lightgbm": {"num_leaves": 9}, "churn": {"lightgbm": {"num_leaves": 31}}})
    assert config.lightgbm_for("conversion").num_leaves == 9
    assert config.lightgbm_for("churn").num_leaves == 31 and isinstance(config.lightgbm_for("churn").num_leaves, int)
    assert TrainConfig().lightgbm_for("cltv").num_leaves == 15  # the tuned default for CLTV
    with pytest.raises(ValueError, match="cltv.lightgbm overrides.*num_leafs"):
        TrainConfig.model_validate({"cltv": {"lightgbm": {"num_leafs": 3}}})
