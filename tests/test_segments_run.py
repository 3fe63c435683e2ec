"""The versioned segmentation job over a project home: fallback and model scores, versions and their diff,
the MLflow run, the trigger, and no half-written version when it fails."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import pandas as pd
import pytest
from factories import tiny_dataset
from mlflow.tracking import MlflowClient

from b2bscore.data.load import load_dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.home import ProjectHome
from b2bscore.segments.config import ClusterConfig, Condition, RuleList, SegmentConfig, SegmentRule
from b2bscore.segments.run import SEGMENTS_EXPERIMENT, resolve_as_of, run_segment_dataset, run_segment_job
from b2bscore.segments.versions import MANIFEST, compare_versions, latest_version, list_versions, new_version_id
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import TrainConfig
from b2bscore.training.jobs import train_tasks
from b2bscore.training.tracking import resolve_tracking

CONFIG = SegmentConfig(clustering=ClusterConfig(k_max=3, n_init=1))
TRIGGER = "drift alert: segment Tier 1 / industry=software"
ARTIFACTS = {"assignments.parquet", "profiles.json", "kpis.csv", "diff.json", "diff.txt", "ranked_accounts.csv",
             "summary.html", "manifest.json"}
SMALL_TRAINING = TrainConfig.model_validate({
    "conversion": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
    "lightgbm": {"max_rounds": 100, "early_stopping_rounds": 20},
})


def _fresh_home(root, template) -> ProjectHome:
    root.mkdir(parents=True)
    shutil.copy(template, root / "mlflow.db")
    return ProjectHome(root)


def _client(home: ProjectHome) -> MlflowClient:
    config = resolve_tracking(home)
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.registry_uri)


@pytest.fixture(scope="module")
def no_tracking_server():
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=60, months=6, seed=3), root)
    return root


@pytest.fixture(scope="module")
def world(world_dir):
    return load_dataset(world_dir, now=pd.Timestamp("2023-07-01"))[0]


@pytest.fixture(scope="module")
def two_versions(world, tmp_path_factory, _mlflow_template, no_tracking_server):
    """A home with two fallback versions: the second, a month later, triggered by a drift alert."""
    home = _fresh_home(tmp_path_factory.mktemp("two") / "home", _mlflow_template)
    first = run_segment_dataset(world, home=home, as_of="2023-05-01", config=CONFIG)
    second = run_segment_dataset(world, home=home, as_of="2023-06-01", config=CONFIG, trigger=TRIGGER)
    return home, first, second


def test_without_models_the_job_falls_back_and_says_so(two_versions):
    home, first, _ = two_versions
    assert first.fallback and first.used_models == {} and first.previous_version is None and first.diff is None
    assert "no champion models" in first.message and "fit and behaviour only" in first.message
    assert first.version_dir == home.segments_dir / first.version and first.version_dir.is_dir()
    assert {p.name for p in first.version_dir.iterdir()} >= ARTIFACTS | {"features.parquet", "segmentation.json"}
    manifest = json.loads((first.version_dir / MANIFEST).read_text())
    assert manifest["version"] == first.version and manifest["as_of"] == "2023-05-01T00:00:00"
    assert manifest["previous_version"] is None and manifest["trigger"] == "manual" and manifest["models"] == {}
    assert manifest["fallback"] is True and "no champion models" in manifest["message"]
    assert len(manifest["data_digest"]) == 16 and manifest["mlflow_run_id"] == first.run_id
    assert manifest["config"]["clustering"]["k_max"] == 3 and datetime.fromisoformat(manifest["created_at"])
    assert sum(manifest["tiers"].values()) == 60 == sum(first.tier_counts().values())


def test_a_refresh_records_its_previous_version_and_what_moved(two_versions):
    home, first, second = two_versions
    assert list_versions(home.segments_dir) == [first.version, second.version] and second.version > first.version
    assert latest_version(home.segments_dir) == second.version
    assert second.previous_version == first.version and second.diff is not None
    manifest = second.manifest
    assert manifest["previous_version"] == first.version and manifest["trigger"] == TRIGGER
    assert json.loads((second.version_dir / "diff.json").read_text())["compared_accounts"] == 60
    text = (second.version_dir / "diff.txt").read_text()
    assert "60 accounts compared" in text and "tier transitions" in text
    again = compare_versions(home.segments_dir)  # from the stored files, nothing recomputed
    assert (again.version, again.previous) == (second.version, first.version)
    assert again.diff.moved_counts == second.diff.moved_counts


def test_each_version_is_one_mlflow_run_with_artifacts_and_tags(two_versions):
    home, first, second = two_versions
    client = _client(home)
    experiment = client.get_experiment_by_name(SEGMENTS_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs} == {first.run_id, second.run_id}
    run = client.get_run(second.run_id)
    assert run.info.status == "FINISHED"
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["segments.trigger"] == TRIGGER and tags["segments.previous_version"] == first.version
    assert tags["segments.version"] == second.version and tags["segments.fallback"] == "true"
    assert params["as_of"] == "2023-06-01T00:00:00" and params["k"] == str(second.segmentation.assignments.clustering.k)
    assert params["k_requested"] == "auto 2-3" and params["cluster_method"] == "kmeans"
    assert sum(v for k, v in metrics.items() if k.startswith("accounts_tier_")) == 60 == metrics["accounts"]
    assert metrics["moved_tier"] == second.diff.moved_counts["tier"]
    assert metrics["moved_accounts"] == second.diff.moved["account_id"].nunique()
    assert metrics["flagged_segments"] == int(second.segmentation.kpis["flagged"].sum())
    assert {f.path for f in client.list_artifacts(second.run_id)} >= ARTIFACTS
    assert client.get_run(first.run_id).data.tags["segments.trigger"] == "manual"
    assert "moved_accounts" not in client.get_run(first.run_id).data.metrics


def test_version_ids_sort_by_creation_and_never_collide(tmp_path):
    def complete(name):
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_text("{}")

    at = datetime(2026, 11, 23, 14, 15, 1, tzinfo=timezone.utc)
    assert new_version_id(tmp_path, at) == "20261123T141501Z"
    complete("20261123T141501Z")
    assert new_version_id(tmp_path, at) == "20261123T141501Z-02"
    for n in range(2, 11):
        complete(f"20261123T141501Z-{n:02d}")
    (tmp_path / "20261123T141502Z").mkdir()  # an unfinished folder: not a version, but its name is taken
    (tmp_path / ".20261123T141503Z.partial-x").mkdir()
    assert list_versions(tmp_path)[-2:] == ["20261123T141501Z-09", "20261123T141501Z-10"]
    assert new_version_id(tmp_path, at.replace(second=2)) == "20261123T141502Z-02"
    assert new_version_id(tmp_path, at.replace(hour=9)) == "20261123T141501Z-11"  # clock went back


def test_a_failed_job_leaves_no_version_and_a_failed_run(world, project_home, monkeypatch):
    bad = CONFIG.model_copy(update={"tiers": RuleList(default="Tier 3", rules=(SegmentRule(
        name="t1", label="Tier 1", all_of=(Condition(column="icp_fit_scroe", op=">=", value=50),)),))})
    with pytest.raises(ConfigError, match="unknown feature 'icp_fit_scroe'; did you mean: icp_fit_score"):
        run_segment_dataset(world, home=project_home, config=bad)
    assert not project_home.segments_dir.exists()

    def broken_upload(self, run_id, local_dir, artifact_path=None):
        raise OSError("disk full")

    monkeypatch.setattr(MlflowClient, "log_artifacts", broken_upload)
    with pytest.raises(OSError, match="disk full"):
        run_segment_dataset(world, home=project_home, as_of="2023-05-01", config=CONFIG)
    assert list(project_home.segments_dir.iterdir()) == []  # no version, no temporary folder
    client = _client(project_home)
    runs = client.search_runs([client.get_experiment_by_name(SEGMENTS_EXPERIMENT).experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_bad_dates_and_too_few_accounts_are_clear_errors(world, world_dir, project_home, tmp_path):
    assert resolve_as_of(world, None) == pd.Timestamp("2023-07-01")  # midnight after the last event
    with pytest.raises(DataError, match="as-of 2040-01-01 is outside the data, which runs from .* to 2023-06-30"):
        run_segment_dataset(world, home=project_home, as_of="2040-01-01", config=CONFIG)
    with pytest.raises(DataError, match="as-of 'soon' is not a date"):
        run_segment_dataset(world, home=project_home, as_of="soon", config=CONFIG)
    with pytest.raises(DataError, match="too few accounts to cluster into 2 segments"):
        run_segment_dataset(tiny_dataset(), home=project_home, as_of="2024-04-01", config=CONFIG)
    with pytest.raises(DataError, match="does not exist"):
        run_segment_job(tmp_path / "missing", home=project_home)
    assert not project_home.segments_dir.exists() or list(project_home.segments_dir.iterdir()) == []


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _mlflow_template, no_tracking_server):
    """A 300-account world and a home whose registry holds a champion for each of the three models."""
    world_dir = tmp_path_factory.mktemp("trained-world")
    generate_world(WorldConfig(accounts=300, seed=5, months=36), world_dir)
    home = _fresh_home(tmp_path_factory.mktemp("trained") / "home", _mlflow_template)
    train_tasks("all", world_dir, config=SMALL_TRAINING, home=home)
    return world_dir, home


def test_with_champions_tiers_use_the_models_scores(trained):
    world_dir, home = trained
    result = run_segment_job(world_dir, home=home, trigger=TRIGGER)
    assert not result.fallback and result.message is None
    assert result.used_models == {"conversion": "1", "churn": "1", "cltv": "1"}
    assert result.model_names["churn"] == "b2bscore-churn"
    frame = result.segmentation.assignments.frame
    customers = frame["customer_status"] == "customer"
    assert frame.loc[customers, "p_churn"].notna().all() and frame.loc[customers, "cltv_pred"].notna().all()
    assert frame["p_convert"].notna().any()
    assert (frame.loc[customers, "propensity_source"] == "1 - p_churn").all()
    assert result.manifest["models"]["cltv"]["name"] == "b2bscore-cltv" and result.manifest["fallback"] is False
    tags = _client(home).get_run(result.run_id).data.tags
    assert tags["model.conversion"] == "b2bscore-conversion v1" and tags["model.churn.version"] == "1"
    assert tags["segments.fallback"] == "false" and tags["segments.trigger"] == TRIGGER
