"""One real ``b2bscore serve`` on 127.0.0.1: auth, scoring, bad requests as 4xx, hot reload, the OpenAPI spec
fuzzed with schemathesis."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import schemathesis
from conftest import copy_home, free_port, stop_process_group, wait_until_answering
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.data.load import load_dataset
from b2bscore.model.registry import promote
from b2bscore.model.tasks import MODEL_NAMES
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.records import api_records

KEY = "test-secret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def service(trained_world, tmp_path_factory):
    """``b2bscore serve`` on a copy of the trained home, with an API key, max batch 5, registry polled every second,
    the prediction log written every second; the home holds a segmentation, so the responses carry tiers and
    segments."""
    from b2bscore.segments.job import run_segment_dataset

    home = copy_home(trained_world.home, tmp_path_factory.mktemp("serve") / "home")
    run_segment_dataset(load_dataset(trained_world.world)[0], home=home)
    port = free_port()
    env = {**os.environ, "B2BSCORE_API_KEY": KEY}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (home.root / "serve.log").open("w")
    cli = Path(sys.executable).parent / "b2bscore"
    config = home.root / "serve-test.yaml"
    config.write_text("log_flush_seconds: 1\n")
    process = subprocess.Popen([str(cli), "serve", "--port", str(port), "--home", str(home.root), "--refresh-seconds", "1",
                                "--max-batch", "5", "--config", str(config)], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url, process, home.root / "serve.log")
        yield url, home
    finally:
        stop_process_group(process)
        log.close()
        text = (home.root / "serve.log").read_text()
        assert "Traceback" not in text, text[-3000:]
        assert "many" not in text and "telepathy" not in text  # refused values are not logged


@pytest.fixture(scope="module")
def records(trained_world):
    data = load_dataset(trained_world.world)[0]
    as_of = data.resolve_as_of(None, purpose="scoring")  # the as-of `b2bscore score` uses by default
    leads = data.open_leads(as_of).head(3).merge(data.leads[["lead_id", "account_id"]], on="lead_id")
    lead_records = api_records(data, leads)
    customers = data.revenue["account_id"].drop_duplicates().head(2)
    accounts = pd.DataFrame({"account_id": customers, "as_of": as_of})
    return lead_records, api_records(data, accounts)


def test_health_is_open_and_scoring_needs_the_key(service, records):
    url, _ = service
    assert requests.get(f"{url}/health", timeout=10).json() == {"status": "alive"}
    ready = requests.get(f"{url}/ready", timeout=10).json()
    assert ready["ready"] is True and ready["models"] == {"conversion": "1", "propensity": "1", "churn": "1", "cltv": "1"}
    body = {"leads": records[0][:1]}
    assert requests.post(f"{url}/score_leads", json=body, timeout=30).status_code == 401
    wrong = requests.post(f"{url}/score_leads", json=body, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401 and "API key" in wrong.json()["error"]
    assert requests.post(f"{url}/score_accounts", json={"accounts": records[1]}, timeout=30).status_code == 401


def test_the_published_spec_declares_the_key(service):
    url, _ = service
    spec = requests.get(f"{url}/docs.json", timeout=30).json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}
    for path in ("/score_leads", "/score_accounts"):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"bearerAuth": []}] and "401" in operation["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]  # health stays open
    assert "components" in spec and spec["components"]["schemas"]  # BentoML's schemas are kept


@pytest.fixture(scope="module")
def batch(service, trained_world, tmp_path_factory):
    """The batch files of ``b2bscore score`` for the same data, home (models and segmentation) and default as-of
    (the default as-of of `b2bscore score`, as in ``records``), keyed by lead and account."""
    _, home = service
    copy = copy_home(home, tmp_path_factory.mktemp("batch") / "home")
    out = copy.root / "scores.parquet"
    result = CliRunner().invoke(app, ["score", "--data", str(trained_world.world), "--out", str(out), "--home",
                                      str(copy.root), "--no-log"])
    assert result.exit_code == 0, result.output
    leads = pd.read_parquet(copy.root / "scores-leads.parquet").set_index("lead_id", verify_integrity=True)
    accounts = pd.read_parquet(copy.root / "scores-accounts.parquet").set_index("account_id", verify_integrity=True)
    return leads, accounts


def _same(api_value, batch_value) -> bool:
    """Equal, with the batch file's missing value (NaN, None, pd.NA) standing for the response's null."""
    if api_value is None:
        return batch_value is None or bool(pd.isna(batch_value))
    return api_value == batch_value


def _close(api_value: float, batch_value: float) -> bool:
    return api_value == pytest.approx(float(batch_value), rel=1e-9, abs=1e-12)


def test_score_leads_and_accounts(service, records, batch):
    url, home = service
    batch_leads, batch_accounts = batch
    as_of = {pd.Timestamp(r["as_of"]) for r in records[0] + records[1]}
    assert len(as_of) == 1 and (batch_leads["as_of"] == as_of.pop()).all()  # the same moment on both paths
    response = requests.post(f"{url}/score_leads", json={"leads": records[0]}, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    scores = response.json()
    assert [s["lead_id"] for s in scores] == [r["lead"]["lead_id"] for r in records[0]]
    for s in scores:
        assert 0 <= s["probability"] <= 1 and s["score"] == min(max(round(100 * s["probability"]), 1), 99)
        assert s["grade"] in "ABCD" and s["model_version"] == "1" and s["tier"] is not None
        assert len(s["reasons_for"]) <= 3 and len(s["reasons_against"]) <= 3
        assert s["reasons_for"] or s["reasons_against"]
        # one code path: the HTTP answer is the batch file's row for the same lead and as-of
        b = batch_leads.loc[s["lead_id"]]
        assert _close(s["probability"], b["probability"]), (s, b.to_dict())
        assert (s["account_id"], s["score"], s["grade"], s["tier"], s["model_version"]) == (
            b["account_id"], b["score"], b["grade"], b["tier"], b["model_version"]), (s, b.to_dict())
        assert s["reasons_for"] == json.loads(b["reasons_for"])
        assert s["reasons_against"] == json.loads(b["reasons_against"])
    response = requests.post(f"{url}/score_accounts", json={"accounts": records[1]}, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    accounts = response.json()
    assert [a["account_id"] for a in accounts] == [r["account"]["account_id"] for r in records[1]]
    assert all(a["is_customer"] and 0 <= a["churn_probability"] <= 1 and a["cltv_pred"] >= 0 for a in accounts)
    for a in accounts:
        b = batch_accounts.loc[a["account_id"]]
        assert bool(b["is_customer"]) and a["tier"] is not None and a["segment"] is not None
        assert _close(a["churn_probability"], b["churn_probability"]), (a, b.to_dict())
        assert _close(a["cltv_pred"], b["cltv_pred"]), (a, b.to_dict())
        for key in ("churn_score", "churn_risk_level", "tier", "segment", "churn_model_version", "cltv_model_version"):
            assert _same(a[key], b[key]), (key, a[key], b[key])
        assert a["reasons_for"] == json.loads(b["reasons_for"])
        assert a["reasons_against"] == json.loads(b["reasons_against"])
    # what was scored is in the prediction log, without personal data; the request body is not in the service log
    deadline = time.monotonic() + 30
    while not (parts := list((home.root / "predictions" / "leads").glob("date=*/part-*.parquet"))):
        assert time.monotonic() < deadline, "the prediction log was not written within its flush interval"
        time.sleep(0.5)
    assert "job_title" not in pd.read_parquet(parts[0]).columns
    log = (home.root / "serve.log").read_text()
    assert records[0][0]["account"]["name"] not in log


def _bad(records):
    lead = records[0][0]
    cases = {}
    r = copy.deepcopy(lead); r["account"]["industry"] = ["software"]; cases["industry"] = {"leads": [r]}  # noqa: E702
    r = copy.deepcopy(lead); r["account"]["employees"] = "many"; cases["employees"] = {"leads": [r]}  # noqa: E702
    r = copy.deepcopy(lead); r["account"]["custom"] = {"partner_code": {"a": 1}}  # noqa: E702
    cases["partner_code"] = {"leads": [r]}
    r = copy.deepcopy(lead)
    r["activities"].append({"occurred_at": "2020-01-01T00:00:00", "activity_type": "telepathy"})
    cases["activity_type"] = {"leads": [r]}
    r = copy.deepcopy(lead); r["as_of"] = None  # noqa: E702
    r["activities"].append({"occurred_at": "2099-01-01T00:00:00", "activity_type": "web_visit"})
    cases["future"] = {"leads": [r]}
    cases["maximum batch of 5"] = {"leads": [lead] * 6}
    cases["empty"] = {"leads": []}
    return cases


def test_bad_requests_get_a_4xx_naming_the_problem(service, records):
    url, _ = service
    for needle, body in _bad(records).items():
        response = requests.post(f"{url}/score_leads", json=body, headers=AUTH, timeout=60)
        assert response.status_code == 400, (needle, response.status_code, response.text)
        assert needle in response.text, (needle, response.text)
    malformed = requests.post(f"{url}/score_leads", data=b'{"leads": [}', headers={**AUTH, "Content-Type": "application/json"},
                              timeout=30)
    assert malformed.status_code == 400 and "JSON" in malformed.text


def test_service_switches_to_a_promoted_version_without_restart(service, records):
    url, home = service
    client = activate(resolve_tracking(home))
    name = MODEL_NAMES["conversion"]
    source = client.get_model_version(name, "1")
    version = str(client.create_model_version(name, source=source.source, run_id=source.run_id).version)
    promote(client, name, version, reason="test: hot reload")
    deadline = time.monotonic() + 60
    while requests.get(f"{url}/models", timeout=10).json()["models"]["conversion"]["version"] != version:
        assert time.monotonic() < deadline, "the service did not pick up the new champion"
        time.sleep(0.5)
    scores = requests.post(f"{url}/score_leads", json={"leads": records[0][:1]}, headers=AUTH, timeout=60).json()
    assert scores[0]["model_version"] == version
    models = requests.get(f"{url}/models", timeout=10).json()
    assert models["registry_reachable"] is True and "roc_auc" in models["models"]["churn"]["metrics"]


def test_openapi_fuzzing_never_gets_a_server_error(service):
    """schemathesis generates requests from the published OpenAPI spec (valid and invalid): none may get a 5xx."""
    url, _ = service
    schema = schemathesis.openapi.from_url(f"{url}/docs.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    posts = [op for op in operations if op.method.upper() == "POST"]
    assert {op.path for op in posts} == {"/score_leads", "/score_accounts"}
    for operation in posts:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case):
                response = case.call(headers=AUTH, timeout=60)
                assert response.status_code < 500, (case.path, response.status_code, response.text[:500],
                                                    json.dumps(case.body, default=str)[:500])

            check()
