"""The versioned segmentation job over a project home: fallback and model scores (p_convert on the open leads batch
scoring writes), versions and their diff read back through the store, the MLflow run, the trigger, and no
half-written version when it fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from factories import tiny_dataset
from mlflow.tracking import MlflowClient

from b2bscore.data.load import load_dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.home import ProjectHome
from b2bscore.model.tracking import resolve_tracking
from b2bscore.segments.assign import SEGMENT_KINDS
from b2bscore.segments.config import ClusterConfig, Condition, RuleList, SegmentConfig, SegmentRule
from b2bscore.segments.job import SEGMENTS_EXPERIMENT, run_segment_dataset, run_segment_job
from b2bscore.segments.store import MANIFEST, SegmentStore
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import TrainConfig
from b2bscore.training.job import train_tasks

CONFIG = SegmentConfig(clustering=ClusterConfig(k_max=3, n_init=1))
TRIGGER = "drift alert: segment Tier 1 / industry=software"
ARTIFACTS = {"assignments.parquet", "profiles.json", "kpis.csv", "diff.json", "diff.txt", "ranked_accounts.csv",
             "summary.html", "manifest.json"}
SMALL_TRAINING = TrainConfig.model_validate({
    "conversion": {"min_positives": 10}, "propensity": {"min_positives": 10}, "churn": {"min_positives": 10},
    "cltv": {"min_rows": 50},
    "lightgbm": {"max_rounds": 100, "early_stopping_rounds": 20},
    # a world of a few hundred accounts has a few hundred validation rows: its models beat chance, but not provably at 95%
    "candidates": {"confidence": 0.6},
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
    store = SegmentStore.of(home)
    assert store.versions() == [first.version, second.version] and second.version > first.version
    assert store.latest() == second.version
    assert second.previous_version == first.version and second.diff is not None
    manifest = second.manifest
    assert manifest["previous_version"] == first.version and manifest["trigger"] == TRIGGER
    assert json.loads((second.version_dir / "diff.json").read_text())["compared_accounts"] == 60
    text = (second.version_dir / "diff.txt").read_text()
    assert "60 accounts compared" in text and "tier transitions" in text
    again = store.compare()  # from the stored files, nothing recomputed
    assert (again.version, again.previous) == (second.version, first.version)
    assert again.diff.moved_counts == second.diff.moved_counts
    summary = store.diff_summary(second.version)
    assert (summary.previous_version, summary.compared_accounts) == (first.version, 60)
    assert summary.moved_counts == second.diff.moved_counts
    assert summary.moved_accounts == second.diff.moved["account_id"].nunique()
    assert store.diff_summary(first.version) is None


def test_the_store_reads_back_each_accounts_labels(two_versions, tmp_path):
    home, first, second = two_versions
    store = SegmentStore.of(home)
    latest = store.labels()
    assert latest.version == second.version
    assert latest.frame.equals(second.segmentation.assignments.frame[["account_id", *SEGMENT_KINDS]])
    tiers = store.labels(first.version, columns=("tier",))
    assert list(tiers.frame.columns) == ["account_id", "tier"]
    assert list(tiers.frame["tier"]) == list(first.segmentation.assignments.frame["tier"])
    assert store.manifest(first.version) == first.manifest
    empty = SegmentStore(tmp_path / "none").labels()
    assert empty.version is None and empty.frame is None
    with pytest.raises(DataError, match=rf"no segmentation version '20990101T000000Z' .*versions: .*{second.version}"):
        store.labels("20990101T000000Z")


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

    store = SegmentStore(tmp_path)
    at = datetime(2026, 11, 23, 14, 15, 1, tzinfo=timezone.utc)
    assert store.new_version_id(at) == "20261123T141501Z"
    complete("20261123T141501Z")
    assert store.new_version_id(at) == "20261123T141501Z-02"
    for n in range(2, 11):
        complete(f"20261123T141501Z-{n:02d}")
    (tmp_path / "20261123T141502Z").mkdir()  # an unfinished folder: not a version, but its name is taken
    (tmp_path / ".20261123T141503Z.partial-x").mkdir()
    assert store.versions()[-2:] == ["20261123T141501Z-09", "20261123T141501Z-10"]
    assert store.new_version_id(at.replace(second=2)) == "20261123T141502Z-02"
    assert store.new_version_id(at.replace(hour=9)) == "20261123T141501Z-11"  # clock went back


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
    assert world.resolve_as_of(None, purpose="segments") == pd.Timestamp("2023-07-01")  # midnight after the last event
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
    assert result.used_models == {"conversion": "1", "propensity": "1", "churn": "1", "cltv": "1"}
    assert result.model_names["churn"] == "b2bscore-churn"
    frame = result.segmentation.assignments.frame
    customers = frame["customer_status"] == "customer"
    assert frame.loc[customers, "p_churn"].notna().all() and frame.loc[customers, "cltv_pred"].notna().all()
    assert frame["p_convert"].notna().any()
    assert (frame.loc[customers, "propensity_source"] == "1 - p_churn").all()
    _assert_scores_are_the_champions(world_dir, home, result)
    _assert_tiers_follow_the_model_scores(result)
    assert result.manifest["models"]["cltv"]["name"] == "b2bscore-cltv" and result.manifest["fallback"] is False
    tags = _client(home).get_run(result.run_id).data.tags
    assert tags["model.conversion"] == "b2bscore-conversion v1" and tags["model.churn.version"] == "1"
    assert tags["segments.fallback"] == "false" and tags["segments.trigger"] == TRIGGER


def _assert_scores_are_the_champions(world_dir, home: ProjectHome, result) -> None:
    """p_churn and cltv_pred are the churn and CLTV champions' scores of the same accounts and as-of, and p_convert
    the best of each account's open leads (those the batch leads file holds), as the batch path (``serving.predict``)
    computes them."""
    from b2bscore.model.champions import load_champions
    from b2bscore.serving.predict import Scorer, score_account_rows, score_lead_rows

    champions = load_champions(_client(home))
    known = load_dataset(world_dir)[0].known_before(result.as_of)
    frame = result.segmentation.assignments.frame.set_index("account_id")
    entities = pd.DataFrame({"account_id": frame.index.to_numpy(), "as_of": result.as_of})
    batch, _ = score_account_rows(Scorer(champions["churn"]), Scorer(champions["cltv"]), known, entities,
                                  with_reasons=False)
    batch = batch.set_index("account_id")
    assert (batch["is_customer"] == (frame["customer_status"] == "customer")).all()
    np.testing.assert_allclose(frame["p_churn"], batch["churn_probability"], rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(frame["cltv_pred"], batch["cltv_pred"], rtol=1e-9, equal_nan=True)
    leads, _ = score_lead_rows(Scorer(champions["conversion"]), known, known.open_leads(result.as_of), with_reasons=False)
    best = leads.groupby("account_id")["probability"].max().reindex(frame.index)
    assert best.notna().any() and best.isna().any()
    np.testing.assert_allclose(frame["p_convert"], best, rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("stage", ["won", "lost"])
def test_an_account_whose_only_recent_lead_closed_has_no_p_convert_as_in_the_batch_leads_file(trained, tmp_path, stage):
    """Open leads have one definition (``Dataset.open_leads``): A3's only recent lead became an opportunity that was
    won or lost before as-of, so the scores the segmentation tiers on give A3 no p_convert, as the batch leads file
    has no row for it; A1's open leads give it the best of their batch scores."""
    from b2bscore.model.champions import account_scores, load_champions
    from b2bscore.serving.batch import score_dataset

    _, home = trained
    base, at = tiny_dataset(), pd.Timestamp
    leads = pd.concat([base.leads, pd.DataFrame({
        "lead_id": ["L4"], "account_id": ["A3"], "created_at": [at("2024-03-10")], "source": ["events"],
        "job_title": ["Founder"], "buying_role": ["decider"]})], ignore_index=True)
    opportunities = pd.concat([base.opportunities, pd.DataFrame({
        "opportunity_id": ["O3"], "account_id": ["A3"], "lead_id": ["L4"], "created_at": [at("2024-03-12")],
        "closed_at": [at("2024-03-25")], "stage": [stage], "amount": [9000.0]})], ignore_index=True)
    data = replace(base, leads=leads, opportunities=opportunities)
    as_of = at("2024-04-01")

    scores = account_scores(data.known_before(as_of), as_of, load_champions(_client(home))).frame
    p_convert = scores.set_index("account_id")["p_convert"]
    batch = score_dataset(data, tmp_path / "scores.parquet", home=home, as_of=as_of, log_predictions=False)
    written = pd.read_parquet(batch.leads_path)
    assert sorted(written["lead_id"]) == ["L1", "L2"]  # L3 is old, L4's opportunity closed
    assert np.isnan(p_convert["A3"]) and np.isnan(p_convert["A2"])
    assert p_convert["A1"] == pytest.approx(written["probability"].max(), rel=1e-9)


def _expected_tiers(frame: pd.DataFrame, fit, propensity, value, tiers: RuleList) -> tuple[np.ndarray, np.ndarray]:
    """The recorded tier rules evaluated here, independently of ``segments._rules``: quantile thresholds within each
    customer status (the default ``quantile_scope``), the first rule that holds wins, else the default tier."""
    columns = {"fit": np.asarray(fit, dtype=float), "propensity": np.asarray(propensity, dtype=float),
               "value": np.asarray(value, dtype=float)}
    status = (frame["customer_status"] == "customer").to_numpy()  # customers, and everyone else
    threshold = {}
    for condition in (c for rule in tiers.rules for c in (*rule.all_of, *rule.any_of)):
        assert condition.op == ">=" and condition.quantile is not None, condition  # all the default tier rules read
        cut = np.full(len(frame), np.nan)
        for group in np.unique(status):
            member = status == group
            cut[member] = np.nanquantile(columns[condition.column][member], condition.quantile)
        threshold[(condition.column, condition.quantile)] = cut

    def holds(condition):
        with np.errstate(invalid="ignore"):
            return columns[condition.column] >= threshold[(condition.column, condition.quantile)]

    labels = np.full(len(frame), tiers.default, dtype=object)
    names = np.full(len(frame), "default", dtype=object)
    placed = np.zeros(len(frame), dtype=bool)
    for rule in tiers.rules:
        ok = np.logical_and.reduce([holds(c) for c in rule.all_of]) if rule.all_of else np.ones(len(frame), bool)
        if rule.any_of:
            ok &= np.logical_or.reduce([holds(c) for c in rule.any_of])
        new = ok & ~placed
        labels[new], names[new] = rule.label, rule.name
        placed |= new
    return labels, names


def _assert_tiers_follow_the_model_scores(result) -> None:
    """Propensity and value are the model scores (customers: 1 - p_churn and cltv_pred; prospects with an open lead:
    p_convert; other prospects: look-alike customers' median predicted CLTV in their size band), and the tiers are
    the recorded tier rules applied to them -- not to the behaviour proxy the fallback uses."""
    from b2bscore.segments.assign import assign_segments

    frame = result.segmentation.assignments.frame
    features = pd.read_parquet(result.version_dir / "features.parquet")
    assert list(features["account_id"]) == list(frame["account_id"])
    config = SegmentConfig()
    assert result.manifest["config"]["tiers"] == config.tiers.model_dump(mode="json")  # the default rules were used
    customer = (frame["customer_status"] == "customer").to_numpy()
    p_churn, p_win, cltv = (frame[c].to_numpy(dtype=float) for c in ("p_churn", "p_win", "cltv_pred"))
    prospect = (frame["customer_status"] == "prospect").to_numpy()
    scored_prospect = prospect & ~np.isnan(p_win)
    assert customer.any() and scored_prospect.sum() == prospect.sum()  # every prospect has the propensity model's p_win
    propensity = frame["propensity"].to_numpy(dtype=float)
    value = frame["value"].to_numpy(dtype=float)
    # customers: exactly 1 - p_churn and the predicted CLTV; every prospect: exactly p_win (not a lead's p_convert)
    assert np.array_equal(propensity[customer], 1.0 - p_churn[customer])
    assert np.array_equal(value[customer], cltv[customer])
    assert np.array_equal(frame["churn_risk"].to_numpy(dtype=float)[customer], p_churn[customer])
    assert np.array_equal(propensity[prospect], p_win[prospect])
    assert (frame.loc[prospect, "propensity_source"] == "p_win").all()
    assert (frame.loc[customer, "value_source"] == "cltv_pred").all()
    typical = pd.Series(cltv[customer]).groupby(features["size_band"].to_numpy()[customer]).median()
    expected_value = features["size_band"].map(typical).fillna(np.median(cltv[customer])).to_numpy(dtype=float)
    np.testing.assert_allclose(value[~customer], expected_value[~customer], rtol=1e-12)

    # the tiers, re-derived from the model scores (not from the frame's own propensity column)
    model_propensity = np.where(customer, 1.0 - p_churn, np.where(np.isnan(p_win), propensity, p_win))
    model_value = np.where(customer, cltv, expected_value)
    tiers, names = _expected_tiers(frame, frame["fit"], model_propensity, model_value, config.tiers)
    assert list(frame["tier"]) == list(tiers) and list(frame["tier_rule"]) == list(names)
    assert set(tiers) == {"Tier 1", "Tier 2", "Tier 3"}
    # within each customer status, among strong-fit accounts, Tier 1 are exactly those whose propensity or value is in
    # the top 20%: a Tier 2 strong-fit account's propensity and value are both below every such threshold
    for status in ("customer", "not a customer"):  # the two groups the default quantile_scope ranks within
        member = (frame["customer_status"] == "customer").to_numpy() == (status == "customer")
        fit_cut = np.nanquantile(frame["fit"].to_numpy(dtype=float)[member], 0.6)
        strong = member & (frame["fit"].to_numpy(dtype=float) >= fit_cut)
        p_cut = np.nanquantile(model_propensity[member], 0.8)
        v_cut = np.nanquantile(model_value[member], 0.8)
        tier1 = strong & (frame["tier"] == "Tier 1").to_numpy()
        tier2 = strong & (frame["tier"] == "Tier 2").to_numpy()
        assert tier1.any() and tier2.any(), status
        assert ((model_propensity[tier1] >= p_cut) | (model_value[tier1] >= v_cut)).all(), status
        assert ((model_propensity[tier2] < p_cut) & (model_value[tier2] < v_cut)).all(), status
    # the test has power: tiering the same accounts on the fallback proxies gives other tiers
    fallback = assign_segments(features, None, config).frame
    assert fallback["propensity_source"].isin(["health proxy", "behaviour and intent proxy"]).all()
    assert (fallback["tier"].to_numpy() != frame["tier"].to_numpy()).any()


def test_a_killed_job_s_staging_folders_are_removed_by_the_next_job(world, project_home):
    """kill -9 leaves the hidden staging folder (and, before 0.3, an empty ``.<version>.partial-xxxxxxxx``); the next
    job removes them, leaves a live job's folder alone, and publishes its own version."""
    segments = project_home.segments_dir
    segments.mkdir(parents=True)
    process = subprocess.Popen(["true"])
    process.wait()
    dead = segments / f".20230601T000000Z.partial-{socket.gethostname()}-{process.pid}-0123abcd"
    dead.mkdir()
    (dead / "assignments.parquet").write_bytes(b"PAR1 half")
    legacy = segments / ".20230602T000000Z.partial-k3j_9xq2"
    legacy.mkdir()
    live = segments / f".20230603T000000Z.partial-{socket.gethostname()}-{os.getpid()}-0123abcd"
    live.mkdir()
    result = run_segment_dataset(world, home=project_home, as_of="2023-05-01", config=CONFIG)
    assert sorted(p.name for p in segments.iterdir()) == sorted([live.name, result.version])


def test_cluster_names_stay_the_same_across_versions_when_the_clusters_do(two_versions):
    """Clusters matched by account overlap keep the previous version's name; only a new cluster gets a new one."""
    _, first, second = two_versions
    a, b = (r.segmentation.assignments.frame.set_index("account_id") for r in (first, second))
    before = a["cluster_name"].reindex(b.index)
    for name, group in b.groupby("cluster_name"):
        kept = before[group.index].value_counts()
        same = kept.index[0] == name
        # a name carried over is the name most of those accounts had; a new name is one the first version never used
        assert same or name not in set(a["cluster_name"]), name
    names = {p.name for p in second.segmentation.assignments.profiles}
    assert names == set(b["cluster_name"])


def test_the_page_backtests_the_tiers_when_the_data_runs_past_the_date(world, project_home):
    """As of 2023-03-15 the 60-account world has 108 more days: each tier's conversion, revenue and churn in the
    90 days after the date are on the page, in kpis.csv and in the manifest; as of 2023-05-01 only 61 days follow,
    and the page says when the backtest will be possible."""
    result = run_segment_dataset(world, home=project_home, as_of="2023-03-15", config=CONFIG)
    backtest = result.segmentation.backtest
    assert backtest.available and backtest.window_end == pd.Timestamp("2023-06-13")
    frame = result.segmentation.assignments.frame
    rows = backtest.rows.set_index("tier")
    assert rows["accounts"].sum() == 60 and rows["customers"].sum() == (frame["customer_status"] == "customer").sum()
    page = result.summary_path.read_text()
    assert "Do the tiers deliver? Backtest" in page and "Conversion (next 90 days)" in page
    assert backtest.verdict().replace(">", "&gt;") in page
    assert ("The tiers are ordered" in backtest.verdict()) or ("not ordered" in backtest.verdict())
    kpis = pd.read_csv(result.kpis_path)
    tiers = kpis[kpis["kind"] == "tier"].set_index("segment")
    np.testing.assert_allclose(tiers["backtest_revenue_per_account"].reindex(rows.index), rows["revenue_per_account"],
                               rtol=1e-4)
    assert kpis.loc[kpis["kind"] != "tier", "backtest_conversion_rate"].isna().all()
    assert result.manifest["backtest"]["available"] is True and len(result.manifest["backtest"]["tiers"]) == len(rows)
    metrics = _client(project_home).get_run(result.run_id).data.metrics
    assert any(k.startswith("backtest_revenue_per_account_tier_") for k in metrics)

    later = run_segment_dataset(world, home=project_home, as_of="2023-05-01", config=CONFIG)
    assert not later.segmentation.backtest.available
    assert "will be possible after 29 more days of data" in later.summary_path.read_text()
    assert later.manifest["backtest"]["days_to_wait"] == 29
    assert pd.read_csv(later.kpis_path)["backtest_conversion_rate"].isna().all()


def test_the_call_lists_import_as_a_crm_reads_them(trained):
    """Two lists, each on one scale: prospects by the expected value of winning them (every prospect has the
    propensity model's chance, not a behaviour proxy), customers by revenue at risk. Read as a CRM import would:
    one header, no repeated account, a company name on every row, rounded numbers."""
    import csv

    world_dir, home = trained
    result = run_segment_job(world_dir, home=home)
    frame = result.segmentation.assignments.frame.set_index("account_id")
    names = load_dataset(world_dir)[0].accounts.set_index("account_id")["name"]
    for path, status, order, decimals in (
            (result.prospects_path, "prospect", "expected_value", {"chance_to_win": 3, "lead_chance": 3,
                                                                   "first_year_value": 0, "expected_value": 0}),
            (result.customers_path, "customer", "value_at_risk", {"churn_risk": 3, "revenue_growth": 3, "value": 0,
                                                                  "value_at_risk": 0})):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and list(rows[0])[:3] == ["rank", "account_id", "company"]
        ids = [r["account_id"] for r in rows]
        assert len(ids) == len(set(ids)) and set(ids) == set(frame.index[frame["customer_status"] == status])
        assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
        assert all(r["company"] == names[r["account_id"]] for r in rows)
        for column, places in decimals.items():
            for text in (r[column] for r in rows if r[column] != ""):
                value = float(text)
                near_edge = column in ("chance_to_win", "lead_chance", "churn_risk") and (
                    0 < value < 0.0005 or 0.9995 < value < 1)  # a chance is never shown as 0 or 1
                assert value == round(value, places) or (near_edge and value == round(value, 4)), (path.name, column,
                                                                                                    text)
        ordered = [float(r[order]) for r in rows]
        assert ordered == sorted(ordered, reverse=True), path.name
    prospects = pd.read_csv(result.prospects_path)
    assert (prospects["chance_source"] == "propensity model").all()
    assert prospects["lead_to_call"].notna().any()
