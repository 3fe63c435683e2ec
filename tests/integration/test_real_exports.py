"""Real CRM exports (issue 14): what a small CRM has is enough to train with the defaults, the customer's own columns
are learned, a column filled after the outcome is left out and named, outcomes recorded late are detected, and a
world with no signal registers nothing."""

from __future__ import annotations

import json

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner
from worlds import custom_signal_world, no_signal_world

from b2bscore.cli import app
from b2bscore.data.load import load_dataset
from b2bscore.errors import DataError
from b2bscore.model.registry import list_models
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.synth import WorldConfig, generate_minimal
from b2bscore.training.config import TrainConfig
from b2bscore.training.train import check_trainable, train

DEFAULTS = TrainConfig()


@pytest.fixture(scope="module")
def signal_world(tmp_path_factory):
    return custom_signal_world(tmp_path_factory.mktemp("signal"), seed=5)


def test_signal_in_a_custom_column_is_learned_as_well_as_by_a_plain_lightgbm(signal_world, project_home):
    """The only signals are a 500-value partner code (an extra account column) and the lead source. Before, no
    feature read the extra column: out-of-time ROC AUC 0.577 against 0.70 for a plain LightGBM on the two columns."""
    data = load_dataset(signal_world)[0]
    result = train("conversion", data, config=DEFAULTS, home=project_home)
    labels, split = check_trainable("conversion", data, DEFAULTS)
    rows = labels.rows.merge(data.leads[["lead_id", "source"]], on="lead_id", how="left")
    rows = rows.merge(data.accounts[["account_id", "partner_code"]], on="account_id", how="left")
    columns = rows[["partner_code", "source"]].astype("category")
    y = rows["label"].to_numpy()
    plain = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(columns.iloc[split.train], y[split.train])
    plain_auc = roc_auc_score(y[split.test], plain.predict_proba(columns.iloc[split.test])[:, 1])
    ours = result.metrics["test_roc_auc"]
    print(f"out-of-time ROC AUC: b2bscore {ours:.4f} ({result.candidate}), plain LightGBM {plain_auc:.4f}")
    assert ours >= plain_auc - 0.01, (ours, plain_auc)
    model = mlflow.pyfunc.load_model(f"models:/b2bscore-conversion/{result.decision.version}").unwrap_python_model().model
    assert "custom_partner_code" in model.feature_names_in_


def test_a_world_without_signal_registers_no_champion(tmp_path, project_home):
    """Before, such a run registered a model as champion whatever it learnt."""
    data = load_dataset(no_signal_world(tmp_path / "flat", seed=5))[0]
    with pytest.raises(DataError, match="every candidate is blind on the validation period"):
        train("conversion", data, config=DEFAULTS, home=project_home)
    assert list_models(activate(resolve_tracking(project_home))) == []


def test_outcomes_recorded_late_are_detected_and_their_leads_left_out(tmp_path, project_home):
    """Deals recorded only from 2023: before, every lead of 2022 was labelled 'did not convert'."""
    data = load_dataset(custom_signal_world(tmp_path / "late", seed=5, outcomes_from="2023-01-01"))[0]
    labels, _ = check_trainable("conversion", data, DEFAULTS)
    assert labels.covered_from >= pd.Timestamp("2023-01-01") and labels.uncovered > 1000
    assert labels.rows["as_of"].min() >= labels.covered_from - pd.Timedelta(days=90)
    result = train("conversion", data, config=DEFAULTS, home=project_home)
    assert any("left out rather than labelled negative" in note for note in result.notes), result.notes
    tags = activate(resolve_tracking(project_home)).get_run(result.run_id).data.tags
    assert int(tags["labels.uncovered"]) == labels.uncovered


@pytest.mark.slow
def test_a_minimal_export_validates_and_trains_with_the_defaults(tmp_path, project_home):
    """accounts(account_id, name) and a few custom columns, leads with a status filled after the outcome: before, it
    failed validation with 8 errors; now every model trains, the custom columns are features, the status is left out
    of the conversion model and named."""
    world = tmp_path / "minimal"
    generate_minimal(WorldConfig(accounts=1500, months=36, seed=3), world)
    (leaky,) = json.loads((world / "truth" / "minimal.json").read_text())["leaky_columns"]["leads"]
    runner = CliRunner()
    validated = runner.invoke(app, ["validate", str(world)])
    assert validated.exit_code == 0, validated.output
    trained = runner.invoke(app, ["train", "all", "--data", str(world), "--home", str(project_home.root)])
    assert trained.exit_code == 0, trained.output
    flat = " ".join(trained.output.split())
    assert f"custom_{leaky}" in flat and "left out of the model" in flat, flat
    client = activate(resolve_tracking(project_home))
    assert {m.name for m in list_models(client)} == {"b2bscore-conversion", "b2bscore-propensity", "b2bscore-churn",
                                                     "b2bscore-cltv"}
    version = client.get_model_version_by_alias("b2bscore-conversion", "champion")
    run = client.get_run(version.run_id)
    assert f"custom_{leaky}" in run.data.tags["leakage.excluded"]
    model = mlflow.pyfunc.load_model(f"models:/b2bscore-conversion/{version.version}").unwrap_python_model().model
    inputs = set(model.feature_names_in_)
    assert f"custom_{leaky}" not in inputs and {"custom_sic_code", "custom_landing_page_id"} <= inputs
    assert np.isfinite(float(run.data.metrics["test_roc_auc"])) and run.data.metrics["test_roc_auc"] > 0.6
