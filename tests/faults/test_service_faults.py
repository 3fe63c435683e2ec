"""The scoring service under faults: a truncated serving cache with the registry down, the registry's database
moved away while serving, no model at all, a flood of unknown paths, the bad-request catalogue, and the prediction
log across a shutdown. Real ``b2bscore serve`` processes on 127.0.0.1 (issue 13, items 4, 5, 7, 9-13, 15)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from badrequests import ACCOUNT, LEAD, probe, secrets
from conftest import copy_home, free_port, stop_process_group, wait_until_answering

from b2bscore.home import ProjectHome
from b2bscore.serving.store import ModelStore

KEY = "faults-secret-key"
PART_GLOB = "date=*/part-*.parquet"
AUTH = {"Authorization": f"Bearer {KEY}"}


@contextlib.contextmanager
def serving(home: ProjectHome, *, wait_ready: bool = True, **settings) -> Iterator[str]:
    """``b2bscore serve`` on ``home`` with the API key and ``settings`` (a serve config file); yields its URL. The
    server's log must hold no traceback, and is at ``home/serve.log``."""
    config = home.root / "serve-test.yaml"
    config.write_text(yaml.safe_dump({"refresh_seconds": 1, "max_batch": 5, **settings}))
    port = free_port()
    env = {**os.environ, "B2BSCORE_API_KEY": KEY}
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = home.root / "serve.log"
    log = log_path.open("w")
    cli = Path(sys.executable).parent / "b2bscore"
    process = subprocess.Popen([str(cli), "serve", "--port", str(port), "--home", str(home.root), "--config",
                                str(config)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url, process, log_path, path="/ready" if wait_ready else "/health")
        yield url
    finally:
        stop_process_group(process)
        log.close()
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


# -- item 5 and 13: the model store ----------------------------------------------------------------------------
@pytest.fixture
def home(trained_world, tmp_path, monkeypatch) -> ProjectHome:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return copy_home(trained_world.home, tmp_path / "home")


def _cached(home: ProjectHome) -> ProjectHome:
    """``home`` with its serving cache filled, as by a service that ran once."""
    ModelStore(home).refresh()
    cached = sorted(p.parent.name for p in home.serving_cache.glob("*/champion.pkl"))
    assert cached == ["churn", "cltv", "conversion", "propensity"]
    return home


def test_an_unreadable_cache_entry_with_the_registry_down_is_skipped_and_named(home, caplog):
    _cached(home)
    (home.tracking_db).rename(home.root / "mlflow.db.away")
    broken = home.serving_cache / "churn" / "champion.pkl"
    _truncate(broken)
    store = ModelStore(home)
    store.refresh()  # no exception: the other models serve
    assert sorted(store.snapshot.scorers) == ["cltv", "conversion", "propensity"] and store.snapshot.source == "cache"
    ok, detail = store.ready()
    assert ok and "churn" in detail and str(broken) in detail and "unreadable" in detail, detail
    assert str(broken) in caplog.text
    assert not home.tracking_db.exists()  # the service did not create an empty registry
    assert "registry database" in store.describe()["registry_error"]
    assert store.unavailable("churn") is not None and store.unavailable("conversion") is None


def test_a_registry_database_moved_away_is_unreachable_and_not_recreated(home):
    store = ModelStore(home)
    store.refresh()
    assert store.registry_ok and sorted(store.snapshot.scorers) == ["churn", "cltv", "conversion", "propensity"]
    home.tracking_db.rename(home.root / "mlflow.db.away")
    store.refresh()
    described = store.describe()
    assert described["registry_reachable"] is False
    assert described["registry_error"] == f"the registry database {home.tracking_db} is missing"
    assert not home.tracking_db.exists()
    assert sorted(described["models"]) == ["churn", "cltv", "conversion", "propensity"]  # still serving what it had
    (home.root / "mlflow.db.away").rename(home.tracking_db)
    store.refresh()
    assert store.registry_ok


def test_the_service_starts_and_serves_with_a_truncated_cache_and_the_registry_down(home):
    _cached(home)
    home.tracking_db.rename(home.root / "mlflow.db.away")
    broken = home.serving_cache / "conversion" / "champion.pkl"
    _truncate(broken)
    with serving(home) as url:
        ready = requests.get(f"{url}/ready", timeout=10)
        body = ready.json()
        assert ready.status_code == 200 and body["models"] == {"propensity": "1", "churn": "1", "cltv": "1"}, body
        assert "conversion" in body["missing"] and str(broken) in body["missing"]["conversion"], body
        assert requests.get(f"{url}/health", timeout=10).json() == {"status": "alive"}
        accounts = requests.post(f"{url}/score_accounts", json={"accounts": [ACCOUNT]}, headers=AUTH,
                                 timeout=60)
        assert accounts.status_code == 200, accounts.text
        leads = requests.post(f"{url}/score_leads", json={"leads": [LEAD]}, headers=AUTH, timeout=60)
        assert leads.status_code == 503 and str(broken) in leads.json()["error"], leads.text
        assert requests.get(f"{url}/models", timeout=10).json()["registry_reachable"] is False
    assert not home.tracking_db.exists()
    log = (home.root / "serve.log").read_text()
    assert str(broken) in log and log.count("Service b2bscore initialized") == 1  # no restart loop


def test_a_registry_moved_away_while_serving_is_reported_unreachable(home):
    with serving(home) as url:
        assert requests.get(f"{url}/models", timeout=10).json()["registry_reachable"] is True
        home.tracking_db.rename(home.root / "mlflow.db.away")
        deadline = time.monotonic() + 30
        while (models := requests.get(f"{url}/models", timeout=10).json())["registry_reachable"]:
            assert time.monotonic() < deadline, models
            time.sleep(0.5)
        assert models["registry_error"] == f"the registry database {home.tracking_db} is missing"
        assert sorted(models["models"]) == ["churn", "cltv", "conversion", "propensity"]
        ready = requests.get(f"{url}/ready", timeout=10).json()
        assert ready["ready"] is True and "registry database" in ready["detail"]
        time.sleep(2)  # two more refreshes
        assert not home.tracking_db.exists()
    assert (home.root / "serve.log").read_text().count("registry unreachable") == 1  # said once, not per refresh


# -- item 10: no model -----------------------------------------------------------------------------------------
def test_without_a_model_scoring_answers_503_with_the_reason_ready_gives_logged_once(project_home):
    with serving(project_home, wait_ready=False) as url:
        ready = requests.get(f"{url}/ready", timeout=10)
        assert ready.status_code == 503
        reason = ready.json()["detail"]
        for _ in range(5):
            answer = requests.post(f"{url}/score_leads", json={"leads": [LEAD]}, headers=AUTH, timeout=30)
            assert answer.status_code == 503 and answer.json() == {"error": reason}, answer.text
        accounts = requests.post(f"{url}/score_accounts", json={"accounts": [ACCOUNT]}, headers=AUTH,
                                 timeout=30)
        assert accounts.status_code == 503 and accounts.json() == {"error": reason}, accounts.text
        assert requests.post(f"{url}/score_leads", json={"leads": [LEAD]}, timeout=30).status_code == 401
    log = (project_home.root / "serve.log").read_text()
    assert log.count("/score_leads: refusing requests with 503") == 1, log[-3000:]


# -- items 7, 9, 11, 12, 15 on a healthy service ---------------------------------------------------------------
@pytest.fixture(scope="module")
def healthy(trained_world, tmp_path_factory):
    """A service with the default settings on a copy of the trained home."""
    home = copy_home(trained_world.home, tmp_path_factory.mktemp("healthy") / "home")
    with serving(home) as url:
        yield url, home


def test_every_bad_request_gets_a_4xx_and_no_refused_value_reaches_the_log(healthy):
    url, home = healthy
    results = probe(url, KEY)
    wrong = [(r.name, r.status, r.answer) for r in results if not r.ok]
    assert not wrong, wrong
    assert all(r.status < 500 for r in results)
    requests.get(f"{url}/health", timeout=10)
    log = (home.root / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log
    leaked = [s for s in secrets() if s in log]
    assert not leaked, leaked
    assert "refused a request on /score_leads [POST]: leads.0: value_error (lead.account_id" in log


def test_unknown_paths_add_no_metrics_series_and_metrics_need_the_key(healthy):
    url, _ = healthy
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
    requests.post(f"{url}/score_leads", json={"leads": [LEAD]}, headers=AUTH, timeout=60)
    before = requests.get(f"{url}/metrics", headers=AUTH, timeout=10)
    assert before.status_code == 200 and 'endpoint="/score_leads"' in before.text
    with requests.Session() as session:
        for _ in range(3000):
            assert session.get(f"{url}/x{uuid.uuid4().hex[:12]}", timeout=10).status_code == 404
    after = requests.get(f"{url}/metrics", headers=AUTH, timeout=10).text
    assert "/x" not in after.replace('endpoint="/score_leads"', "")
    series = {line.split("{")[0] + "{" + line.split("{")[1].split("}")[0] for line in after.splitlines()
              if "{" in line and not line.startswith("#")}
    assert len(after) < len(before.text) + 5_000, (len(before.text), len(after))
    assert not any("endpoint=\"/x" in s for s in series)


def test_the_prediction_log_writes_few_parts_and_everything_by_shutdown(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    with serving(home, log_flush_rows=100, log_flush_seconds=3600) as url:
        with requests.Session() as session:
            for i in range(130):
                lead = {**LEAD, "lead": {**LEAD["lead"], "lead_id": f"L-{i}"}}
                answer = session.post(f"{url}/score_leads", json={"leads": [lead]}, headers=AUTH, timeout=60)
                assert answer.status_code == 200, answer.text
        parts = sorted((home.predictions_dir / "leads").glob(PART_GLOB))
        assert len(parts) == 1 and len(pd.read_parquet(parts[0])) == 100  # one part of 100, 30 rows waiting
    parts = sorted((home.predictions_dir / "leads").glob(PART_GLOB))  # the service stopped: the rest is written
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert len(parts) == 2 and len(frame) == 130 and frame["lead_id"].is_unique
    assert not [p for p in (home.predictions_dir / "leads").rglob("*") if p.is_file() and p not in parts]
