"""Serving in process: reasons, one code path (API records == batch), batch scoring, the prediction log,
the model store's hot reload and registry-down behaviour, request validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import copy_home
from pydantic import ValidationError

from b2bscore.data.load import load_dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.model.registry import promote
from b2bscore.model.tasks import MODEL_NAMES
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.records import api_records
from b2bscore.serving.api import score_lead_records
from b2bscore.serving.batch import run_batch_scoring
from b2bscore.serving.predict import (
    ACCOUNT_COLUMNS,
    ACCOUNT_FILE_COLUMNS,
    LEAD_COLUMNS,
    LEAD_FILE_COLUMNS,
    Scorer,
    score_account_rows,
    score_lead_rows,
)
from b2bscore.serving.predlog import PredictionLog
from b2bscore.serving.reasons import format_value
from b2bscore.serving.schemas import AccountRecord, LeadRecord
from b2bscore.serving.store import ModelStore


@pytest.fixture(scope="module")
def dataset(trained_world):
    return load_dataset(trained_world.world)[0]


@pytest.fixture(scope="module")
def as_of(dataset):
    return dataset.end + pd.Timedelta(seconds=1)


@pytest.fixture(scope="module")
def store(trained_world):
    store = ModelStore(trained_world.home)
    assert store.refresh()
    return store


def test_format_value_reads_like_a_salesperson_would():
    assert format_value(4.0) == "4"
    assert format_value(1234567) == "1,234,567"
    assert format_value(0.256) == "0.26"
    assert format_value(float("nan")) == "none"
    assert format_value(True) == "yes"
    assert format_value("professional_services") == "professional services"


def test_lead_scores_have_calibrated_fields_and_exact_reasons(store, dataset, as_of):
    scorer = store.snapshot.scorers["conversion"]
    entities = dataset.open_leads(as_of).head(40)
    assert len(entities) >= 20
    scores, features = score_lead_rows(scorer, dataset, entities)
    assert list(scores.columns) == [c for c in LEAD_COLUMNS if c != "tier"]  # the tier is added from the segmentation
    assert scores["probability"].between(0, 1).all()
    assert (scores["score"] == np.clip(np.rint(100 * scores["probability"]), 1, 99)).all()
    assert set(scores["grade"]) <= {"A", "B", "C", "D"}
    # the reasons are the largest exact contributions, strongest first, and name the feature's value
    model = scorer.champion.model
    contributions = model.contributions(features)
    explained = scorer.reasons.explain(features, contributions)
    for i, (up, down) in enumerate(explained):
        assert all(r.effect > 0 for r in up) and all(r.effect < 0 for r in down)
        assert [r.effect for r in up] == sorted((r.effect for r in up), reverse=True)
        row = contributions.iloc[i][list(model.feature_names_in_)]
        if up:
            assert up[0].effect == pytest.approx(row.max())
        assert json.loads(scores["reasons_for"].iloc[i]) == [r.text for r in up]
        assert all(": " in r.text for r in up + down)


def test_api_records_score_exactly_like_the_batch_path(store, dataset, as_of):
    """One code path: a lead sent as raw records scores the same as the lead scored from the data directory."""
    scorer = store.snapshot.scorers["conversion"]
    entities = dataset.open_leads(as_of).head(15)
    batch, _ = score_lead_rows(scorer, dataset, entities)
    leads = entities.merge(dataset.leads[["lead_id", "account_id"]], on="lead_id")
    records = [LeadRecord.model_validate(r) for r in api_records(dataset, leads)]
    online, _ = score_lead_records(scorer, records)
    merged = batch.merge(online, on="lead_id", suffixes=("_batch", "_api"))
    assert len(merged) == len(batch)
    np.testing.assert_allclose(merged["probability_batch"], merged["probability_api"], rtol=1e-9, atol=1e-12)
    assert (merged["reasons_for_batch"] == merged["reasons_for_api"]).all()


def test_account_scores_only_for_customers(store, dataset, as_of):
    snap = store.snapshot.scorers
    entities = pd.DataFrame({"account_id": dataset.accounts["account_id"].head(80), "as_of": as_of})
    scores, _ = score_account_rows(snap["churn"], snap["cltv"], dataset, entities)
    assert list(scores.columns) == [c for c in ACCOUNT_COLUMNS if c not in ("tier", "segment") and "propensity" not in c]
    customers = scores[scores["is_customer"]]
    prospects = scores[~scores["is_customer"]]
    assert len(customers) and len(prospects)
    assert customers["churn_probability"].between(0, 1).all() and (customers["cltv_pred"] >= 0).all()
    assert prospects["churn_probability"].isna().all() and prospects["churn_score"].isna().all()
    assert set(customers["churn_risk_level"]) <= {"high", "medium", "low"} and prospects["churn_risk_level"].isna().all()
    assert (prospects["reasons_for"] == "[]").all()


def test_batch_scoring_writes_crm_files_in_chunks_and_logs_without_personal_data(trained_world, dataset, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    steps = []
    one = run_batch_scoring(trained_world.world, tmp_path / "scores.csv", home=home, chunk_size=100,
                            progress=lambda step, f: steps.append((step, f)))
    assert one.accounts == len(dataset.accounts) and one.leads > 0
    leads = pd.read_csv(one.leads_path)
    accounts = pd.read_csv(one.accounts_path)
    assert list(leads.columns) == list(LEAD_FILE_COLUMNS) and list(accounts.columns) == list(ACCOUNT_FILE_COLUMNS)
    assert leads["lead_id"].is_unique and len(accounts) == len(dataset.accounts)
    assert steps[-1] == ("done", 1.0) and all(0 <= f <= 1 for _, f in steps)
    # chunking does not change a single score
    two = run_batch_scoring(trained_world.world, tmp_path / "once.parquet", home=home, chunk_size=50_000,
                            log_predictions=False)
    whole = pd.read_parquet(two.leads_path)
    # (the CSV file shows probabilities to 3 decimals, the Parquet file in full)
    np.testing.assert_array_equal(whole.sort_values("lead_id")["probability"].round(3),
                                  leads.sort_values("lead_id")["probability"])
    logged = PredictionLog(home.root / "predictions").read("leads")
    assert len(logged) == len(leads)  # the second run did not log
    assert {"lead_id", "probability", "model_version", "scored_at", "source"} <= set(logged.columns)
    assert not {"name", "job_title", "email", "reasons_for"} & set(logged.columns)
    assert "icp_fit_score" in logged.columns  # the model inputs are kept for monitoring
    assert not list(tmp_path.glob("*.partial"))


def test_batch_scoring_bad_input(trained_world, project_home, tmp_path):
    with pytest.raises(ConfigError, match=r"\.csv or \.parquet"):
        run_batch_scoring(trained_world.world, tmp_path / "scores.xlsx", home=trained_world.home)
    with pytest.raises(DataError, match="no champion"):
        run_batch_scoring(trained_world.world, tmp_path / "scores.csv", home=project_home)
    with pytest.raises(DataError, match="missing"):
        run_batch_scoring(tmp_path / "missing", tmp_path / "scores.csv", home=trained_world.home)


def test_every_prospect_gets_a_chance_to_win_with_its_reasons(store, dataset, as_of):
    """Before, prospects had no score in scores-accounts.csv: only customers were scored."""
    snap = store.snapshot.scorers
    entities = pd.DataFrame({"account_id": dataset.accounts["account_id"].head(120), "as_of": as_of})
    scores, _ = score_account_rows(snap["churn"], snap["cltv"], dataset, entities, propensity=snap["propensity"])
    assert list(scores.columns) == [c for c in ACCOUNT_COLUMNS if c not in ("tier", "segment")]
    prospects, others = scores[scores["is_prospect"]], scores[~scores["is_prospect"]]
    assert len(prospects) and len(others) and not (scores["is_prospect"] & scores["is_customer"]).any()
    assert prospects["propensity_probability"].between(0, 1).all() and others["propensity_probability"].isna().all()
    assert prospects["propensity_grade"].isin(["A", "B", "C", "D"]).all()
    assert (prospects["reasons_for"] != "[]").any() and (scores["propensity_model_version"] == "1").all()


def test_store_picks_up_an_alias_move_and_survives_the_registry_going_away(trained_world, tmp_path, monkeypatch):
    home = copy_home(trained_world.home, tmp_path / "home")
    store = ModelStore(home)
    assert store.refresh() and store.ready() == (True, "ok")
    assert store.snapshot.versions() == {"conversion": "1", "propensity": "1", "churn": "1", "cltv": "1"}
    assert not store.refresh()  # nothing moved
    client = activate(resolve_tracking(home))
    name = MODEL_NAMES["conversion"]
    source = client.get_model_version(name, "1")
    client.create_model_version(name, source=source.source, run_id=source.run_id)
    promote(client, name, "2", reason="test")
    before = store.snapshot
    assert store.refresh()
    assert store.snapshot.versions()["conversion"] == "2" and before.versions()["conversion"] == "1"
    assert store.snapshot.scorers["churn"] is before.scorers["churn"]  # unchanged models are not reloaded

    # the registry goes away: keep serving what is loaded, and say so
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert not store.refresh()
    ok, why = store.ready()
    assert ok and "registry unreachable" in why and store.describe()["registry_reachable"] is False
    # a new process with the registry down serves the cached models
    fresh = ModelStore(home)
    fresh.refresh()
    assert fresh.snapshot.source == "cache" and fresh.snapshot.versions()["conversion"] == "2"
    assert fresh.ready()[0] and "cached" in fresh.ready()[1]


def test_store_without_registry_or_cache_is_not_ready_and_says_why(tmp_path, monkeypatch):
    from b2bscore.home import ProjectHome

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    store = ModelStore(ProjectHome(tmp_path / "empty"))
    store.refresh()
    ok, why = store.ready()
    assert not ok and "no models loaded" in why and "127.0.0.1:9" in why


def test_store_with_empty_registry_says_to_train(project_home):
    store = ModelStore(project_home)
    store.refresh()
    ok, why = store.ready()
    assert not ok and "b2bscore train" in why


def _lead_record(dataset, as_of) -> dict:
    lead = dataset.open_leads(as_of).head(1).merge(dataset.leads[["lead_id", "account_id"]], on="lead_id")
    return api_records(dataset, lead)[0]


@pytest.mark.parametrize("change, message", [
    (lambda r: r["account"].update(industry=["software"]), "industry"),
    (lambda r: r["account"].update(employees="many"), "employees"),
    (lambda r: r["activities"].append({"occurred_at": "2020-01-01T00:00:00", "activity_type": "telepathy"}), "activity_type"),
    (lambda r: r["activities"].append({"occurred_at": "2099-01-01T00:00:00", "activity_type": "web_visit"}), "future"),
    (lambda r: r["lead"].update(account_id="someone-else"), "not the record's account"),
    (lambda r: r.update(surprise=1), "surprise"),
    (lambda r: r["account"].update(ownership="pirate"), "ownership"),
])
def test_bad_records_are_refused_naming_the_field(dataset, as_of, change, message):
    record = _lead_record(dataset, as_of)
    LeadRecord.model_validate(record)  # the untouched record is valid
    change(record)
    with pytest.raises(ValidationError, match=message):
        LeadRecord.model_validate(record)


def test_other_activity_type_is_accepted_and_account_record_has_no_lead(dataset, as_of):
    record = _lead_record(dataset, as_of)
    record["activities"].append({"occurred_at": "2020-01-01T00:00:00", "activity_type": "other"})
    LeadRecord.model_validate(record)
    record.pop("lead")
    AccountRecord.model_validate(record)
    with pytest.raises(ValidationError, match="lead"):
        AccountRecord.model_validate({**record, "lead": {"lead_id": "x"}})


def test_scorer_reasons_can_be_skipped(store, dataset, as_of):
    scorer: Scorer = store.snapshot.scorers["conversion"]
    entities = dataset.open_leads(as_of).head(5)
    scores, _ = score_lead_rows(scorer, dataset, entities, with_reasons=False)
    assert "reasons_for" not in scores.columns and len(scores) == len(entities)


def test_batch_files_carry_the_latest_segmentation_tier(trained_world, dataset, tmp_path):
    from b2bscore.segments.job import run_segment_dataset

    home = copy_home(trained_world.home, tmp_path / "home")
    segmented = run_segment_dataset(dataset, home=home)
    result = run_batch_scoring(trained_world.world, tmp_path / "scores.parquet", home=home, log_predictions=False)
    assert result.segmentation == segmented.version
    accounts = pd.read_parquet(result.accounts_path)
    assignments = pd.read_parquet(segmented.version_dir / "assignments.parquet")
    joined = accounts.merge(assignments[["account_id", "tier", "cluster_name"]], on="account_id", suffixes=("", "_seg"))
    assert len(joined) == len(accounts) and (joined["tier"] == joined["tier_seg"]).all()
    assert (joined["segment"] == joined["cluster_name"]).all()
    leads = pd.read_parquet(result.leads_path)
    assert leads["tier"].notna().all() and set(leads["tier"]) <= set(assignments["tier"])
