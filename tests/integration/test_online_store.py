"""Scoring by id: the online store written by ``b2bscore score`` (Feast's SQLite store, or Redis), read by the service.

By-id scores equal the batch files' for the same leads and accounts and as-of time, and so do the full-history
records; a run that fails leaves the previous generation served; the bucketed engine writes the same rows; a real
``b2bscore serve`` answers by id, with per-record 404s, freshness in every response and the store's age in /ready and
/models; Redis (a real ``redis-server`` on a free port) holds the same rows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import copy_home, free_port, stop_process_group, wait_until_answering

from b2bscore.data.load import load_dataset
from b2bscore.errors import DataError
from b2bscore.home import ProjectHome
from b2bscore.records import api_records
from b2bscore.serving import online as online_module
from b2bscore.serving.api import score_lead_records
from b2bscore.serving.batch import score_dataset
from b2bscore.serving.byid import ByIdScoring
from b2bscore.serving.engines import Engine, run_scoring
from b2bscore.serving.online import MANIFEST, OnlineFeatures, StoreLocation, read_manifest
from b2bscore.serving.schemas import LeadRecord
from b2bscore.serving.store import ModelStore


@pytest.fixture(scope="module")
def data(trained_world):
    return load_dataset(trained_world.world)[0]


@pytest.fixture(scope="module")
def scored(trained_world, data, tmp_path_factory):
    """A copy of the trained home after one ``b2bscore score`` (Parquet files, online store in the home)."""
    home = copy_home(trained_world.home, tmp_path_factory.mktemp("online") / "home")
    result = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False)
    leads = pd.read_parquet(result.leads_path)
    accounts = pd.read_parquet(result.accounts_path)
    return home, result, leads, accounts


def _models(home: ProjectHome):
    store = ModelStore(home)
    assert store.refresh()
    return store.snapshot.scorers


def _reader(home: ProjectHome, location: StoreLocation = StoreLocation()) -> ByIdScoring:
    online = OnlineFeatures(home, location)
    assert online.refresh()
    return ByIdScoring(online)


def _assert_leads_equal(found: list[dict], batch: pd.DataFrame) -> None:
    assert [r["lead_id"] for r in found] == list(batch["lead_id"])
    assert [r["account_id"] for r in found] == list(batch["account_id"])
    assert np.array_equal([r["probability"] for r in found], batch["probability"].to_numpy())  # to the last digit
    assert [r["score"] for r in found] == list(batch["score"])
    assert [r["grade"] for r in found] == list(batch["grade"])
    assert [json.dumps(r["reasons_for"]) for r in found] == list(batch["reasons_for"])
    assert [json.dumps(r["reasons_against"]) for r in found] == list(batch["reasons_against"])
    assert {r["features_as_of"] for r in found} == {pd.Timestamp(t).to_pydatetime() for t in batch["as_of"]}


def test_by_id_lead_scores_equal_the_batch_file(scored):
    home, result, leads, _ = scored
    assert len(leads) > 20 and result.online_store["rows"]
    manifest = read_manifest(home, StoreLocation())
    assert pd.Timestamp(manifest["as_of"]) == result.as_of
    found, _, problem = _reader(home).leads(_models(home)["conversion"], list(leads["lead_id"]))
    assert problem is None and None not in found
    _assert_leads_equal(found, leads)
    # one at a time (the single-lead path of the service) gives the same answers
    for position in (0, len(leads) // 2, len(leads) - 1):
        alone, _, _ = _reader(home).leads(_models(home)["conversion"], [leads["lead_id"].iloc[position]])
        _assert_leads_equal(alone, leads.iloc[[position]])


def test_by_id_account_scores_equal_the_batch_file(scored):
    home, _, _, accounts = scored
    models = _models(home)
    ids = list(accounts["account_id"])
    scores, _, found, problem = _reader(home).accounts(models.get("churn"), models.get("cltv"), models.get("propensity"),
                                                       ids)
    assert problem is None and found.all()
    columns = [c for c in scores.columns if c in accounts.columns and c != "as_of"]
    assert len(columns) > 10
    expected = accounts[columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(scores[columns].reset_index(drop=True), expected, check_dtype=False,
                                  check_exact=True)


def test_full_history_records_still_equal_the_batch_file(scored, data):
    home, result, leads, _ = scored
    chosen = leads.head(5)
    records = [LeadRecord.model_validate(r) for r in api_records(data, chosen[["lead_id", "account_id", "as_of"]])]
    scores, _ = score_lead_records(_models(home)["conversion"], records)
    assert list(scores["lead_id"]) == list(chosen["lead_id"])
    assert np.allclose(scores["probability"], chosen["probability"], rtol=1e-9, atol=1e-12)
    assert list(scores["reasons_for"]) == list(chosen["reasons_for"])


def test_fresh_lead_fields_are_applied_as_the_full_path_computes_them(scored, data):
    home, _, leads, _ = scored
    chosen = leads.head(3)
    records = api_records(data, chosen[["lead_id", "account_id", "as_of"]])
    changes = [{"buying_role": "decider", "job_title": "Chief Financial Officer"},
               {"source": "webinar", "job_title": None}, {"buying_role": "user", "job_title": "Data Engineer"}]
    fresh = {}
    for k, (record, change) in enumerate(zip(records, changes)):
        record["lead"] = {**record["lead"], **change}
        record["lead"] = {name: value for name, value in record["lead"].items() if value is not None}
        fresh[k] = LeadRecord.model_validate({"lead_id": record["lead"]["lead_id"], "lead": record["lead"]}).lead.model_dump()
    scorer = _models(home)["conversion"]
    expected, _ = score_lead_records(scorer, [LeadRecord.model_validate(r) for r in records])
    found, rows, _ = _reader(home).leads(scorer, list(chosen["lead_id"]), fresh)
    assert [r["source"] for r in found] == ["online_store+request"] * 3
    assert np.allclose([r["probability"] for r in found], expected["probability"], rtol=1e-9, atol=1e-12)
    assert [json.dumps(r["reasons_for"]) for r in found] == list(expected["reasons_for"])
    assert [json.dumps(r["reasons_against"]) for r in found] == list(expected["reasons_against"])
    _, stored, _ = _reader(home).leads(scorer, list(chosen["lead_id"]))
    seniority = rows.layout.text.index("lead_seniority")
    assert [t[seniority] for t in rows.texts] == ["executive", "unknown", "individual"]  # the fields did change them
    assert [t[seniority] for t in rows.texts] != [t[seniority] for t in stored.texts]


def test_unknown_ids_are_not_found(scored):
    home, _, leads, _ = scored
    found, _, problem = _reader(home).leads(_models(home)["conversion"], ["no-such-lead", leads["lead_id"].iloc[0]])
    assert problem is None and found[0] is None and found[1]["lead_id"] == leads["lead_id"].iloc[0]


def test_a_failed_run_leaves_the_previous_generation_published(scored, data, monkeypatch, tmp_path):
    source, _, leads, _ = scored
    home = copy_home(source, tmp_path / "home")
    before = (home.online_store_dir / MANIFEST).read_text()
    generation = json.loads(before)["generation"]
    calls = []

    def broken(self, view, rows):  # the second view fails halfway through the run
        calls.append(view)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(self, view, rows)

    original = online_module._SqliteRows.write
    monkeypatch.setattr(online_module._SqliteRows, "write", broken)
    with pytest.raises(DataError, match="cannot write the online store at .*disk full"):
        score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False)
    assert (home.online_store_dir / MANIFEST).read_text() == before
    assert sorted(p.name for p in home.online_store_dir.iterdir() if p.is_dir()) == [generation]
    found, _, _ = _reader(home).leads(_models(home)["conversion"], list(leads["lead_id"].head(3)))
    _assert_leads_equal(found, leads.head(3))
    # the next good run swaps; the one after it removes the first generation, keeping the previous one
    monkeypatch.setattr(online_module._SqliteRows, "write", original)
    second = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False)
    third = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False)
    assert read_manifest(home, StoreLocation())["generation"] == third.online_store["generation"]
    assert sorted(p.name for p in home.online_store_dir.iterdir() if p.is_dir()) == sorted(
        [second.online_store["generation"], third.online_store["generation"]])


def test_the_feature_views_follow_the_specs(scored):
    from feast import FeatureStore

    from b2bscore.features import feature_specs

    home, _, leads, _ = scored
    manifest = read_manifest(home, StoreLocation())
    store = FeatureStore(config=online_module._repo_config(home, StoreLocation(), manifest["generation"]))
    conversion = _models(home)["conversion"].champion.model.feature_config
    view = store.get_feature_view(manifest["tasks"]["conversion"])
    assert [f.name for f in view.features] == ["account_id"] + [s.name for s in feature_specs(conversion, "lead")]
    assert view.entities == ["lead"] and view.batch_source.timestamp_field == "as_of"
    # the offline source, written chunk by chunk, holds every stored lead once and reads back through Feast
    table = pd.read_parquet(home.online_store_dir / manifest["generation"] / f"{view.name}.parquet")
    assert len(table) == manifest["views"][view.name]["rows"] == table["lead_id"].nunique()
    assert set(leads["lead_id"]) <= set(table["lead_id"])
    ids = list(leads["lead_id"].head(5))
    entity_df = pd.DataFrame({"lead_id": ids, "event_timestamp": table["as_of"].iloc[0] + pd.Timedelta(seconds=1)})
    names = ["account_id", "log_employees", feature_specs(conversion, "lead")[-1].name]
    history = store.get_historical_features(entity_df=entity_df,
                                            features=[f"{view.name}:{n}" for n in names]).to_df()
    expected = table.set_index("lead_id").loc[ids, names].reset_index(drop=True)
    pd.testing.assert_frame_equal(history.set_index("lead_id").loc[ids, names].reset_index(drop=True), expected,
                                  check_dtype=False)


def test_the_bucketed_engine_writes_the_same_rows(scored, trained_world, tmp_path):
    source, result, leads, accounts = scored
    home = copy_home(source, tmp_path / "home")
    shutil.rmtree(home.online_store_dir)
    run_scoring(trained_world.world, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                engine=Engine("buckets", buckets=3))
    found, _, _ = _reader(home).leads(_models(home)["conversion"], list(leads["lead_id"]))
    _assert_leads_equal(found, leads)
    models = _models(home)
    scores, _, held, _ = _reader(home).accounts(models.get("churn"), models.get("cltv"), models.get("propensity"),
                                                list(accounts["account_id"]))
    assert held.all() and np.array_equal(scores["churn_probability"].to_numpy(dtype=float),
                                         accounts["churn_probability"].to_numpy(dtype=float), equal_nan=True)


@pytest.mark.slow
def test_the_spark_engine_writes_the_same_rows(scored, trained_world, tmp_path):
    import importlib.util

    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        pytest.skip("needs pyspark and Java 17 (pip install -e '.[spark]'; apt-get install openjdk-17-jre-headless)")
    source, _, leads, _ = scored
    home = copy_home(source, tmp_path / "home")
    shutil.rmtree(home.online_store_dir)
    run_scoring(trained_world.world, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                engine=Engine("spark", buckets=3, master="local[1]"))
    found, _, _ = _reader(home).leads(_models(home)["conversion"], list(leads["lead_id"]))
    _assert_leads_equal(found, leads)


def test_a_champion_built_on_other_features_is_refused_until_the_next_run(scored):
    home, _, leads, _ = scored
    scorer = _models(home)["conversion"]
    online = OnlineFeatures(home, StoreLocation())
    assert online.refresh()
    config = scorer.champion.model.feature_config
    assert online.unusable("conversion", config.model_copy(update={"excluded": ("lead_age_days",)})) is None
    other = config.model_copy(update={"decay_days": config.decay_days + 1})
    why = online.unusable("conversion", other)
    assert "another feature configuration" in why and "b2bscore score" in why


def test_score_names_the_store_it_wrote_or_writes_none(scored, trained_world, tmp_path):
    from typer.testing import CliRunner

    from b2bscore.cli import app

    source, _, _, _ = scored
    home = copy_home(source, tmp_path / "home")
    shutil.rmtree(home.online_store_dir)
    args = ["score", "--data", str(trained_world.world), "--out", str(tmp_path / "s.parquet"), "--home",
            str(home.root), "--no-log"]
    result = CliRunner().invoke(app, [*args, "--online-store", "off"])
    assert result.exit_code == 0, result.output
    assert not home.online_store_dir.exists() and "online store" not in result.output
    result = CliRunner().invoke(app, [*args, "--online-store", "mysql://db"])
    assert result.exit_code != 0 and "--online-store" in result.output and "mysql://db" in result.output
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "online store (sqlite)" in result.output


def test_a_bad_location_is_refused_naming_it():
    with pytest.raises(Exception, match="online store 'mysql://x'"):
        StoreLocation.parse("mysql://x", source="--online-store")
    assert not StoreLocation.parse("off", source="x").enabled


# -- Redis -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on 127.0.0.1, a free port, its files in a temporary folder; stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None:
                raise RuntimeError("redis-server did not start") from None
            import time

            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        stop_process_group(process)


def test_redis_holds_the_same_rows_and_swaps_generations(scored, data, redis_url, tmp_path):
    source, _, leads, _ = scored
    url, client = redis_url
    home = copy_home(source, tmp_path / "home")
    location = StoreLocation.parse(url, source="test")
    first = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                          online_store=location)
    reader = _reader(home, location)
    found, _, problem = reader.leads(_models(home)["conversion"], list(leads["lead_id"]))
    assert problem is None
    _assert_leads_equal(found, leads)
    second = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                           online_store=location)
    third = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                          online_store=location)
    assert json.loads(client.get(online_module.MANIFEST_KEY))["generation"] == third.online_store["generation"]
    kept = {k.decode().split(":")[2] for k in client.scan_iter("b2bscore:online:*") if b":current" not in k}
    assert kept == {second.online_store["generation"], third.online_store["generation"]}
    assert first.online_store["generation"] not in kept
    # two runs within one refresh interval removed the generation the reader had open: it follows the manifest
    # instead of reading every known lead as unknown (a 404 each)
    found, rows, problem = reader.leads(_models(home)["conversion"], list(leads["lead_id"]))
    assert problem is None
    _assert_leads_equal(found, leads)
    assert reader.online.manifest["generation"] == third.online_store["generation"]


def test_an_unreachable_redis_keeps_the_open_generation(scored, data, redis_url, tmp_path):
    source, _, leads, _ = scored
    url, client = redis_url
    home = copy_home(source, tmp_path / "home")
    location = StoreLocation.parse(url, source="test")
    score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False, online_store=location)
    online = OnlineFeatures(home, location)
    assert online.refresh()
    client.shutdown(nosave=True)
    assert not online.refresh()
    assert "unreachable" in online.problem and online.manifest is not None
    found, _, problem = ByIdScoring(online).leads(_models(home)["conversion"], list(leads["lead_id"].head(2)))
    assert found == [None, None] and "cannot be read" in problem and url in problem  # a 503 per record, not a 500


def test_a_service_on_redis_scores_by_id_and_follows_a_new_generation(scored, data, redis_url, tmp_path):
    source, _, leads, _ = scored
    url, client = redis_url
    home = copy_home(source, tmp_path / "home")
    shutil.rmtree(home.online_store_dir)
    location = StoreLocation.parse(url, source="test")
    first = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                          online_store=location)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "B2BSCORE_API_KEY")}
    env["B2BSCORE_ONLINE_STORE"] = url  # the environment's store, as a container would get it
    log_path = home.root / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "b2bscore"), "serve", "--port", str(port),
                                    "--home", str(home.root), "--refresh-seconds", "1"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        service = f"http://127.0.0.1:{port}"
        try:
            wait_until_answering(service, process, log_path)
            state = requests.get(f"{service}/ready", timeout=10).json()["online_store"]
            assert state["location"] == url and state["generation"] == first.online_store["generation"]
            chosen = leads.head(3)
            answers = requests.post(f"{service}/score_leads", json={"leads": [{"lead_id": i} for i in chosen["lead_id"]]},
                                    timeout=30).json()
            assert [a["probability"] for a in answers] == list(chosen["probability"])
            second = score_dataset(data, home.root / "out" / "scores.parquet", home=home, log_predictions=False,
                                   online_store=location)
            import time

            deadline = time.monotonic() + 30
            while requests.get(f"{service}/models", timeout=10).json()["online_store"]["generation"] \
                    != second.online_store["generation"]:
                assert time.monotonic() < deadline, "the service did not follow the new generation"
                time.sleep(0.5)
            again = requests.post(f"{service}/score_leads", json={"leads": [{"lead_id": chosen["lead_id"].iloc[0]}]},
                                  timeout=30).json()
            assert again[0]["probability"] == chosen["probability"].iloc[0]
        finally:
            stop_process_group(process)
    assert "Traceback" not in log_path.read_text()


# -- a real service --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(scored, tmp_path_factory):
    home, _, _, _ = scored
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "B2BSCORE_API_KEY")}
    log_path = home.root / "serve.log"
    log = log_path.open("w")
    cli = Path(sys.executable).parent / "b2bscore"
    process = subprocess.Popen([str(cli), "serve", "--port", str(port), "--home", str(home.root),
                                "--store-max-age-hours", "1", "--log-flush-seconds", "1"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url, process, log_path)
        yield url
    finally:
        stop_process_group(process)
        log.close()
        text = log_path.read_text()
        assert "Traceback" not in text, text[-3000:]


def test_http_scores_by_id_as_the_batch_file(service, scored, data):
    _, _, leads, accounts = scored
    chosen = leads.head(4)
    body = {"leads": [{"lead_id": i} for i in chosen["lead_id"]]}
    response = requests.post(f"{service}/score_leads", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["source"] for a in answers] == ["online_store"] * 4
    assert [a["probability"] for a in answers] == list(chosen["probability"])
    assert [a["reasons_for"] for a in answers] == [json.loads(r) for r in chosen["reasons_for"]]
    assert {a["features_as_of"] for a in answers} == {pd.Timestamp(chosen["as_of"].iloc[0]).isoformat()}
    account = accounts["account_id"].iloc[0]
    response = requests.post(f"{service}/score_accounts", json={"accounts": [{"account_id": account}]}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()[0]["source"] == "online_store"
    assert response.json()[0]["features_as_of"] == pd.Timestamp(accounts["as_of"].iloc[0]).isoformat()


def test_http_by_id_scores_reach_the_prediction_log_with_their_features(service, scored):
    import time

    from b2bscore.serving.predlog import PredictionLog

    home, _, leads, _ = scored
    chosen = list(leads["lead_id"].iloc[-3:])
    for lead_id in chosen:  # three requests, logged as one part
        assert requests.post(f"{service}/score_leads", json={"leads": [{"lead_id": lead_id}]}, timeout=30).ok
    deadline = time.monotonic() + 30
    while True:
        logged = PredictionLog(home.predictions_dir).read("leads")
        if len(logged) and set(chosen) <= set(logged["lead_id"]):
            break
        assert time.monotonic() < deadline, "the by-id scores did not reach the prediction log"
        time.sleep(0.5)
    rows = logged[logged["lead_id"].isin(chosen)].drop_duplicates("lead_id").set_index("lead_id").loc[chosen]
    batch = leads.set_index("lead_id").loc[chosen]
    assert (rows["source"] == "api").all() and np.array_equal(rows["probability"], batch["probability"])
    assert "lead_age_days" in rows.columns and rows["lead_age_days"].notna().all()


def test_http_unknown_ids_get_a_404_per_record_or_are_scored_from_their_data(service, scored, data):
    _, _, leads, _ = scored
    known = leads["lead_id"].iloc[0]
    record = api_records(data, leads.head(1)[["lead_id", "account_id", "as_of"]])[0]
    record["lead"]["lead_id"] = "L-new"
    body = {"leads": [{"lead_id": "L-missing"}, {"lead_id": known}, {**record, "lead_id": "L-new"}]}
    response = requests.post(f"{service}/score_leads", json=body, timeout=30)
    assert response.status_code == 200, response.text
    missing, stored, new = response.json()
    assert missing["error"]["status"] == 404 and "L-missing" in missing["error"]["detail"]
    assert missing["probability"] is None
    assert stored["error"] is None and stored["source"] == "online_store"
    assert new["error"] is None and new["source"] == "request" and new["probability"] == pytest.approx(
        float(leads["probability"].iloc[0]), rel=1e-9)
    assert new["features_as_of"] == record["as_of"]


def test_http_events_sent_with_an_id_are_refused_per_record(service, scored):
    _, _, leads, _ = scored
    known = leads["lead_id"].iloc[0]
    event = {"occurred_at": "2026-01-01T00:00:00", "activity_type": "demo_request"}
    response = requests.post(f"{service}/score_leads", json={"leads": [
        {"lead_id": known, "as_of": "2026-01-02T00:00:00", "activities": [event]}, {"lead_id": known}]}, timeout=30)
    assert response.status_code == 200, response.text
    refused, scored_row = response.json()
    assert refused["error"]["status"] == 400 and "activities" in refused["error"]["detail"] and known in \
        refused["error"]["detail"]
    assert scored_row["error"] is None


def test_http_account_fields_sent_with_a_lead_id_alone_are_refused_per_record(service, scored, data):
    """A lead id with its account's fields but no lead row can be scored neither from the data (the lead is missing)
    nor from the store without dropping the fields: a 400 naming them, not a score that ignores them."""
    _, _, leads, _ = scored
    known = leads["lead_id"].iloc[0]
    record = api_records(data, leads.head(1)[["lead_id", "account_id", "as_of"]])[0]
    response = requests.post(f"{service}/score_leads", json={"leads": [
        {"lead_id": known, "account": {**record["account"], "employees": 90000}}, {"lead_id": known}]}, timeout=30)
    assert response.status_code == 200, response.text
    refused, scored_row = response.json()
    assert refused["error"]["status"] == 400 and refused["probability"] is None
    assert "account" in refused["error"]["detail"] and known in refused["error"]["detail"]
    assert scored_row["error"] is None


def test_http_a_record_without_an_id_or_data_is_a_400_naming_it(service):
    response = requests.post(f"{service}/score_leads", json={"leads": [{"as_of": "2026-01-01T00:00:00"}]}, timeout=30)
    assert response.status_code == 400 and "lead_id" in response.text and "account" in response.text
    response = requests.post(f"{service}/score_accounts", json={"accounts": [{}]}, timeout=30)
    assert response.status_code == 400 and "account_id" in response.text


def test_http_ready_and_models_show_the_store_age(service, scored):
    home, result, _, _ = scored
    for path in ("/ready", "/models"):
        state = requests.get(f"{service}{path}", timeout=10).json()["online_store"]
        assert state["generation"] == result.online_store["generation"]
        assert state["as_of"] == pd.Timestamp(result.as_of).isoformat()
        assert 0 <= state["age_seconds"] < 3600 and state["stale"] is False and state["max_age_hours"] == 1


def test_a_missing_generation_is_a_clear_error(tmp_path):
    home = ProjectHome(tmp_path / "home")
    online = OnlineFeatures(home, StoreLocation())
    assert not online.refresh() and "run `b2bscore score`" in online.problem
    assert "run `b2bscore score`" in online.unusable("conversion", None)
