"""A shared registry on PostgreSQL, as a team runs it: ``scripts/registry-server.sh`` starts a real PostgreSQL cluster
(initdb into a temporary folder, 127.0.0.1 and a free port) and ``mlflow server`` on it; two ``b2bscore train`` jobs
run at once against it, a model is promoted while ``b2bscore serve`` serves from it, then rolled back."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from conftest import free_port, stop_process_group, wait_until_answering
from mlflow.tracking import MlflowClient

from b2bscore.data.load import load_dataset
from b2bscore.model.registry import CHAMPION, DONE, REGISTRATION, alias_history
from b2bscore.records import api_records
from b2bscore.synth import WorldConfig, generate_world

pytestmark = pytest.mark.slow  # PostgreSQL, an mlflow server, a service and three trainings (about 3 minutes)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "registry-server.sh"
BIN = Path(sys.executable).parent
KEY = "test-secret-key"
CHURN, CONVERSION = "b2bscore-churn", "b2bscore-conversion"
FAST = {"churn": {"min_positives": 10}, "conversion": {"min_positives": 10}, "lightgbm": {"max_rounds": 100},
        "candidates": {"confidence": 0.6}}


def _initdb() -> Path | None:
    """PostgreSQL's initdb where the script looks for it: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1] if versions else None


def _skip_without_postgres() -> None:
    if _initdb() is None:
        pytest.skip("PostgreSQL is not installed (no initdb on PATH nor in /usr/lib/postgresql/*/bin): "
                    "apt-get install postgresql, as .ci/run does where it can")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(os.environ.get("B2BSCORE_PG_USER", "postgres"))
        except KeyError:
            pytest.skip("running as root, and PostgreSQL refuses root: there is no 'postgres' user (or "
                        "$B2BSCORE_PG_USER) to run the cluster as")
    pytest.importorskip("psycopg", reason="the postgres extra is not installed: pip install 'b2bscore[postgres]' "
                                          "(scripts/setup.sh installs it)")


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW": str(BIN / "mlflow")}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def postgres_registry():
    """``scripts/registry-server.sh start``: PostgreSQL and one mlflow server worker; stopped in teardown, always.

    The cluster's folder is made with ``mkdtemp`` under the system's temporary folder rather than in ``tmp_path``:
    as root the cluster runs as the ``postgres`` user, which cannot enter pytest's private folder."""
    _skip_without_postgres()
    state = Path(tempfile.mkdtemp(prefix="b2bscore-registry-"))
    state.chmod(0o711)
    port, pg_port = free_port(), free_port()
    try:
        started = _script("start", str(state), "--port", str(port), "--pg-port", str(pg_port), "--workers", "1",
                          timeout=300)
        assert started.returncode == 0, started.stdout + started.stderr
        url = f"http://127.0.0.1:{port}"
        assert f"export MLFLOW_TRACKING_URI={url}" in started.stdout, started.stdout
        yield url, state, pg_port
    finally:
        stopped = _script("stop", str(state), timeout=120)
        shutil.rmtree(state, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def _cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([str(BIN / "b2bscore"), *map(str, args)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _finish(process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(process, timeout=10)
    assert process.returncode == 0, log.read_text(errors="replace")[-3000:]


def _served_churn_version(url: str, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (served := requests.get(f"{url}/models", timeout=10).json())["models"]["churn"]["version"] != wanted:
        assert time.monotonic() < deadline, f"the service still serves churn v{served['models']['churn']['version']}"
        time.sleep(0.5)
    assert served["registry_reachable"] is True


def _churn_version_scored(url: str, records: list[dict]) -> str:
    response = requests.post(f"{url}/score_accounts", json={"accounts": records},
                             headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()[0]["churn_model_version"]


def test_concurrent_trainings_promotion_while_serving_and_rollback(postgres_registry, tmp_path):
    url, state, pg_port = postgres_registry
    world, home = tmp_path / "world", tmp_path / "home"
    generate_world(WorldConfig(accounts=300, seed=5, months=36), world)
    fast, by_hand = tmp_path / "train.yaml", tmp_path / "train-by-hand.yaml"
    fast.write_text(yaml.safe_dump(FAST))
    # a second churn model that stays challenger until promoted by hand
    by_hand.write_text(yaml.safe_dump({**FAST, "lightgbm": {"max_rounds": 100, "seed": 3, "num_leaves": 4},
                                       "promotion": {"auto_promote": False}}))
    env = {k: v for k, v in os.environ.items() if k not in ("B2BSCORE_HOME", "MLFLOW_REGISTRY_URI")}
    env.update(MLFLOW_TRACKING_URI=url, B2BSCORE_API_KEY=KEY)

    # two trainings at once, sharing the server (and the project home's audit log)
    jobs = {task: _cli(["train", task, "--data", world, "--config", fast, "--home", home], env,
                       tmp_path / f"train-{task}.log") for task in ("churn", "conversion")}
    for task, job in jobs.items():
        _finish(job, tmp_path / f"train-{task}.log")
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    first = {name: client.get_model_version(name, "1") for name in (CHURN, CONVERSION)}
    runs = [client.get_run(v.run_id).info for v in first.values()]
    assert runs[0].start_time < runs[1].end_time and runs[1].start_time < runs[0].end_time, "the jobs did not overlap"

    # the service starts on the registry while a second churn model trains
    port = free_port()
    service_url = f"http://127.0.0.1:{port}"
    service = _cli(["serve", "--port", port, "--home", home, "--refresh-seconds", "1"], env, tmp_path / "serve.log")
    try:
        _finish(_cli(["train", "churn", "--data", world, "--config", by_hand, "--home", home], env,
                     tmp_path / "train-churn-2.log"), tmp_path / "train-churn-2.log")
        wait_until_answering(service_url, service, tmp_path / "serve.log")
        assert {a: str(v) for a, v in client.get_registered_model(CHURN).aliases.items()} == {
            "champion": "1", "challenger": "2"}
        data = load_dataset(world)[0]
        customers = data.revenue["account_id"].drop_duplicates().head(1)
        records = api_records(data, pd.DataFrame({"account_id": customers,
                                                  "as_of": data.resolve_as_of(None, purpose="scoring")}))
        _served_churn_version(service_url, "1")
        assert _churn_version_scored(service_url, records) == "1"

        promoted = subprocess.run([str(BIN / "b2bscore"), "models", "promote", CHURN, "2", "--reason",
                                   "test: promoted while serving", "--home", str(home)], env=env, capture_output=True,
                                  text=True, timeout=120)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        _served_churn_version(service_url, "2")
        assert _churn_version_scored(service_url, records) == "2"

        rolled = subprocess.run([str(BIN / "b2bscore"), "models", "rollback", CHURN, "--home", str(home)], env=env,
                                capture_output=True, text=True, timeout=120)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        _served_churn_version(service_url, "1")
        assert _churn_version_scored(service_url, records) == "1"
    finally:
        stop_process_group(service)
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace")

    # versions and aliases, as a fresh client reads them from the server
    fresh = MlflowClient(tracking_uri=url, registry_uri=url)
    versions = {name: sorted((str(v.version), v.tags.get(REGISTRATION)) for v in fresh.search_model_versions(
        f"name='{name}'")) for name in (CHURN, CONVERSION)}
    assert versions == {CHURN: [("1", DONE), ("2", DONE)], CONVERSION: [("1", DONE)]}
    aliases = {name: {a: str(v) for a, v in fresh.get_registered_model(name).aliases.items()}
               for name in (CHURN, CONVERSION)}
    assert aliases == {CHURN: {"champion": "1"}, CONVERSION: {"champion": "1"}}
    champion_moves = [m for m in alias_history(fresh, CHURN) if m.alias == CHAMPION]
    assert [(m.kind, m.previous_version, m.new_version) for m in champion_moves] == [
        ("promote", None, "1"), ("promote", "1", "2"), ("rollback", "2", "1")], [m.describe() for m in champion_moves]
    assert champion_moves[1].why == "test: promoted while serving" and champion_moves[2].undoes == champion_moves[1].key

    # the audit log of the home holds exactly the moves recorded on the versions, in the registry
    on_server = {m.key: m.__dict__ for name in (CHURN, CONVERSION) for m in alias_history(fresh, name)}
    lines = (home / "registry-audit.jsonl").read_text().splitlines()
    in_log = {move["key"]: move for move in map(json.loads, lines)}
    assert len(in_log) == len(lines) and in_log == on_server

    # the registry lives in PostgreSQL, the artifacts under the server's destination, nothing in the home
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=pg_port, user="mlflow", dbname="mlflow",
                         passfile=str(state / "pgpass")) as connection:
        rows = connection.execute("SELECT name, version FROM model_versions ORDER BY name, version").fetchall()
    assert rows == [(CHURN, 1), (CHURN, 2), (CONVERSION, 1)]
    assert not (home / "mlflow.db").exists()
    assert any((state / "artifacts").rglob("MLmodel"))
