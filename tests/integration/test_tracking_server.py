"""The same jobs against a shared tracking server (``MLFLOW_TRACKING_URI``), started here on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port
from mlflow.tracking import MlflowClient

from b2bscore.home import ProjectHome
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import TrainConfig
from b2bscore.training.job import train_tasks
from b2bscore.model.registry import alias_history, list_models, promote, rollback
from b2bscore.model.tracking import activate, resolve_tracking

pytestmark = pytest.mark.slow  # a real mlflow server and two trainings (about 1 minute)


@pytest.fixture
def tracking_server(tmp_path, _mlflow_template, monkeypatch):
    database = tmp_path / "server.db"
    shutil.copy(_mlflow_template, database)
    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(mlflow_cli), "server", "--backend-store-uri", f"sqlite:///{database}", "--artifacts-destination",
         str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_train_and_rollback_against_a_tracking_server(tracking_server, tmp_path):
    world = tmp_path / "world"
    generate_world(WorldConfig(accounts=300, seed=5, months=36), world)
    home = ProjectHome(tmp_path / "home")
    config = TrainConfig.model_validate({"churn": {"min_positives": 10}, "lightgbm": {"max_rounds": 100},
                                          "candidates": {"confidence": 0.6}})
    tracking = resolve_tracking(home)
    assert tracking.tracking_uri == tracking_server and not tracking.embedded
    first, = train_tasks("churn", world, config=config, home=home)
    better = config.model_copy(update={"promotion": config.promotion.model_copy(update={"margin": 0.0})})
    second, = train_tasks("churn", world, config=better.model_copy(update={
        "lightgbm": config.lightgbm.model_copy(update={"seed": 3, "num_leaves": 4})}), home=home)
    client = activate(tracking)
    names = [m.name for m in list_models(client)]
    assert names == ["b2bscore-churn"], names
    summary, = list_models(client)
    assert summary.name == "b2bscore-churn" and summary.versions == 2
    assert client.get_run(first.run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    assert not (home.root / "mlflow.db").exists()  # nothing embedded when a server is configured
    assert first.decision.promoted and first.decision.version == "1" and second.decision.version == "2"
    if not second.decision.promoted:  # the challenger did not win: promote it by hand, so the rollback always runs
        promote(client, "b2bscore-churn", "2", reason="test: promoted by hand", actor="test")
    assert str(client.get_model_version_by_alias("b2bscore-churn", "champion").version) == "2"
    move = rollback(client, "b2bscore-churn", actor="test")
    assert (move.kind, move.previous_version, move.new_version) == ("rollback", "2", "1")
    assert str(client.get_model_version_by_alias("b2bscore-churn", "champion").version) == "1"
    # the audit trail is read back from the server (a fresh client, the tags on the model versions), not from memory
    fresh = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    moves = [m for m in alias_history(fresh, "b2bscore-churn") if m.alias == "champion"]
    assert [(m.kind, m.previous_version, m.new_version) for m in moves] == [
        ("promote", None, "1"), ("promote", "1", "2"), ("rollback", "2", "1")], [m.describe() for m in moves]
    assert moves[2].undoes == moves[1].key and moves[2].key == move.key and "rollback of v2" in moves[2].why
    assert (moves[1].why == "test: promoted by hand") != second.decision.promoted  # by hand, or the automatic decision
    if second.decision.promoted:
        assert moves[1].why == second.decision.reason
    tags = fresh.get_model_version("b2bscore-churn", "1").tags
    assert tags[move.key] and json.loads(tags[move.key])["kind"] == "rollback"
