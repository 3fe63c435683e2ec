"""``b2bscore monitor`` on a small trained world: reports, MLflow run, exit codes, dry run and bad input."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import copy_home
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.errors import DataError
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.monitoring import MonitorConfig, run_monitor
from b2bscore.monitoring.config import load_monitor_config
from b2bscore.monitoring.reference import check_columns
from b2bscore.serving.predlog import PredictionLog

runner = CliRunner()
QUICK = {"tasks": ["churn"], "segments": {"columns": ["industry", "region"]}}
EXIT_FOR_STATUS = {"ok": 0, "warn": 0, "alert": 1}  # the documented rule (monitoring.job, `b2bscore monitor --help`)


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def evidently_counts(page: Path) -> tuple[int, int]:
    """(columns, drifted columns) as Evidently's drift page states them."""
    found = re.search(r'"value": "(\d+)", "label": "Columns"\}, \{"value": "(\d+)", "label": "Drifted Columns"',
                      page.read_text(encoding="utf-8"))
    assert found, f"no drifted-columns counter in {page}"
    return int(found.group(1)), int(found.group(2))


def _config(folder: Path, text: str) -> Path:
    path = folder / "monitor.yaml"
    path.write_text(text)
    return path


def test_a_check_writes_reports_json_and_an_mlflow_run(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    config = MonitorConfig.model_validate(QUICK)
    run = run_monitor(trained_world.world, home=home, config=config, now=pd.Timestamp("2026-02-01 08:00", tz="UTC"))
    # Evidently's drift page counts the columns the summary counts (the model's inputs), drifted the same way
    overall = run.result.tasks[0].overall
    assert evidently_counts(run.folder / "churn-drift.html") == (len(overall.features), len(overall.drifted))
    # The world has no drift: the last 90 days of data come from the same process the champion was trained on, so
    # no rule fires in any segment; healthcare has too few current rows (3) to be judged. Nothing alerts, so nothing
    # is delivered or refreshed, and the exit code follows the status alone.
    assert run.result.status == "ok" and run.exit_code == EXIT_FOR_STATUS[run.result.status] == 0
    for status, code in EXIT_FOR_STATUS.items():  # the rule for the statuses this world does not reach
        assert dataclasses.replace(run, result=SimpleNamespace(status=status)).exit_code == code, status
    (check,) = run.result.tasks
    # the segments too small to judge (fewer than 50 reference or current rows: healthcare, and a few more since the
    # split keeps fewer validation rows after the purge) are the only ones not ok
    small = {s.name for s in check.segments if s.status != "ok"}
    assert "industry=healthcare" in small and {s.status for s in check.segments if s.name in small} == {"not_judged"}
    assert all(min(s.reference_rows, s.current_rows) < 50 for s in check.segments if s.name in small)
    assert [f for s in check.segments for f in s.findings] == []
    assert run.delivery.events == () and run.refresh.trigger is None and run.refresh.errors == ()
    summary = json.loads((run.folder / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["alerts"] == [] and summary["warnings"] == []
    assert summary["segments"] == {"not_judged": len(small), "ok": len(check.segments) - len(small), "warn": 0, "alert": 0}
    (churn,) = summary["tasks"]
    assert churn["model"] == "b2bscore-churn" and churn["source"] == "data" and churn["segments"][0]["segment"] == "all"
    assert {"drifted_features", "score_drift", "performance", "findings", "status"} <= set(churn["segments"][0])
    assert len(churn["segments"][0]["features"]) > 50  # every tested feature of the whole population, with amounts
    assert summary["thresholds"]["rules"]["calibration_gap"] == {"warn": 0.25, "alert": 0.5}
    assert "webhook" not in summary["thresholds"]  # a webhook url can hold a secret
    for name in ("summary.html", "churn-drift.html", "churn-performance.html"):
        assert (run.folder / name).stat().st_size > 1000, name
    client = activate(resolve_tracking(home))
    mlflow_run = client.get_run(run.run_id)
    assert mlflow_run.data.tags["monitor.status"] == run.result.status
    assert "churn_drifted_share" in mlflow_run.data.metrics and mlflow_run.data.params["window"] == "90d"
    assert {f.path for f in client.list_artifacts(run.run_id)} >= {"summary.json", "summary.html", "churn-drift.html"}
    assert (home.root / "monitoring" / "alert-state.json").is_file()


def test_cli_dry_run_records_nothing(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    config = _config(tmp_path, "tasks: [churn]\nsegments: {columns: [region]}\n")
    result = _run("monitor", "--data", trained_world.world, "--home", home.root, "--config", config, "--dry-run")
    # the same undrifted world (see above): every region and the whole population are ok, so the exit code is 0
    assert "Monitoring as of 2026-01-01: ok\n" in result.output, result.output
    assert result.exit_code == EXIT_FOR_STATUS["ok"] == 0, result.output
    assert re.search(r"churn \(b2bscore-churn v1, current rows from the data\): \d ok(, 1 not judged)?\n", result.output)
    assert "no segmentation version yet" in result.output
    assert not (home.root / "monitoring" / "alert-state.json").exists()
    assert not (home.root / "monitoring" / "runs").exists() and (home.root / "monitoring" / "dry-runs").is_dir()


def test_no_champion_is_a_clear_error(trained_world, project_home):
    result = _run("monitor", "--data", trained_world.world, "--home", project_home.root)
    assert result.exit_code == 2 and "no champion model" in result.output and "b2bscore train all" in result.output
    assert "Traceback" not in result.output


def test_an_empty_window_is_a_clear_error(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    result = _run("monitor", "--data", trained_world.world, "--home", home.root, "--source", "log", "--window", "7d")
    assert result.exit_code == 2, result.output
    assert "nothing to compare in the window" in result.output and "prediction log holds no" in result.output
    assert not list((home.root / "monitoring" / "runs").glob("*"))  # no half-written report
    bad = _run("monitor", "--data", trained_world.world, "--home", home.root, "--window", "a week")
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_bad_config_names_the_file_and_field(trained_world, tmp_path):
    config = _config(tmp_path, "segments: {columns: [industry, planet]}\n")
    result = _run("monitor", "--data", trained_world.world, "--home", trained_world.home.root, "--config", config)
    assert result.exit_code == 2 and "planet" in result.output and "neither a model feature" in result.output
    config = _config(tmp_path, "rules: {score_drift: {warn: 0.5, alert: 0.1}}\n")
    result = _run("monitor", "--data", trained_world.world, "--home", trained_world.home.root, "--config", config)
    assert result.exit_code == 2 and "rules.score_drift" in result.output and "must not be below" in result.output


def _log_churn_scores(trained_world, home, *, drop: tuple[str, ...] = ()) -> int:
    """Score every account as of 2025-12-01 with the churn champion into the prediction log; returns the customers."""
    from b2bscore.data.load import load_dataset
    from b2bscore.model.champions import load_champions
    from b2bscore.serving.predict import Scorer, score_account_rows

    champions = load_champions(activate(resolve_tracking(home)))
    data = load_dataset(trained_world.world)[0]
    entities = pd.DataFrame({"account_id": data.accounts["account_id"], "as_of": pd.Timestamp("2025-12-01")})
    scores, features = score_account_rows(Scorer(champions["churn"]), None, data, entities, with_reasons=False)
    PredictionLog(home.root / "predictions").append("accounts", scores, features.drop(columns=list(drop)),
                                                    source="test", now=pd.Timestamp("2026-01-31 10:00", tz="UTC"))
    return int(scores["churn_probability"].notna().sum())


def test_current_rows_from_the_prediction_log(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    customers = _log_churn_scores(trained_world, home)
    config = MonitorConfig.model_validate(QUICK)  # source auto: the log has the champion's rows
    run = run_monitor(trained_world.world, home=home, config=config, now=pd.Timestamp("2026-02-01", tz="UTC"), dry_run=True)
    (check,) = run.result.tasks
    assert check.source == "log" and check.overall.current_rows == customers
    assert check.window_start == pd.Timestamp("2025-11-03")  # 90 days before now


def test_reference_and_current_columns_must_match(trained_world, tmp_path):
    reference = pd.DataFrame({"a": [1.0], "b": [2.0], "prediction": [0.1]})
    with pytest.raises(DataError, match=r"current data \(prediction log\) lacks 1 column\(s\) the champion reads: b"):
        check_columns(reference, reference.drop(columns="b"), ("a", "b", "prediction"), reference_name="m v1",
                      current_name="prediction log")
    with pytest.raises(DataError, match=r"reference \(m v1\) lacks 1 column\(s\) the champion reads: a"):
        check_columns(reference.drop(columns="a"), reference, ("a", "b", "prediction"), reference_name="m v1",
                      current_name="prediction log")
    # end to end: a prediction log written by an older feature set lacks a feature the champion reads
    home = copy_home(trained_world.home, tmp_path / "home")
    _log_churn_scores(trained_world, home, drop=("intent_max",))
    config = MonitorConfig.model_validate({**QUICK, "source": "log"})
    with pytest.raises(DataError, match="lacks 1 column.*intent_max.*retrain"):
        run_monitor(trained_world.world, home=home, config=config, now=pd.Timestamp("2026-02-01", tz="UTC"))


def test_a_damaged_segment_version_is_exit_2_naming_the_file(trained_world, tmp_path):
    """A check that cannot run exits 2 with one message (exit 1 means "a segment alerts"), never a traceback."""
    home = copy_home(trained_world.home, tmp_path / "home")
    version = home.segments_dir / "20260101T000000Z"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text("{}\n")
    (version / "assignments.parquet").write_bytes(b"PAR1 cut short by a crash")
    result = _run("monitor", "--data", trained_world.world, "--home", home.root,
                  "--config", _config(tmp_path, json.dumps(QUICK)))
    assert result.exit_code == 2, result.output
    assert str(version / "assignments.parquet") in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_any_error_inside_the_check_is_exit_2_never_1(trained_world, tmp_path, monkeypatch):
    from b2bscore.monitoring import job

    def broken(champion):
        raise RuntimeError("reference store went away")

    monkeypatch.setattr(job, "load_reference", broken)
    home = copy_home(trained_world.home, tmp_path / "home")
    result = _run("monitor", "--data", trained_world.world, "--home", home.root,
                  "--config", _config(tmp_path, json.dumps(QUICK)))
    assert result.exit_code == 2, result.output
    assert "the check could not run: RuntimeError: reference store went away" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, RuntimeError)
    runs = home.root / "monitoring" / "runs"
    assert not runs.is_dir() or list(runs.iterdir()) == []  # no half-written or empty run folder


def test_a_killed_check_s_leftovers_are_cleaned_and_reports_point_at_the_run(trained_world, tmp_path):
    """An empty run folder (what a check killed before its first report left) and a dead check's hidden folder are
    removed by the next check; the reports the summary names are in the published run folder."""
    home = copy_home(trained_world.home, tmp_path / "home")
    runs = home.root / "monitoring" / "runs"
    (runs / "20250101T000000Z").mkdir(parents=True)
    process = subprocess.Popen(["true"])
    process.wait()
    dead = runs / f".20250102T000000Z.partial-{socket.gethostname()}-{process.pid}-0123abcd"
    dead.mkdir()
    (dead / "churn-drift.html").write_text("<html>half</html>")
    config = MonitorConfig.model_validate(QUICK)
    run = run_monitor(trained_world.world, home=home, config=config, now=pd.Timestamp("2026-02-01 08:00", tz="UTC"))
    assert [p.name for p in runs.iterdir()] == [run.folder.name]
    summary = json.loads((run.folder / "summary.json").read_text())
    reports = [path for task in summary["tasks"] for path in task["reports"].values()]
    assert reports and all(Path(path).parent == run.folder and Path(path).is_file() for path in reports)


def test_a_truncated_prediction_log_part_is_a_warning_naming_it(trained_world, tmp_path):
    """A part cut short by a crash (issue 13): the check runs on the other parts, says which part it skipped (a
    warning, and a note in the summary) and exits by the check's status; never a traceback, never exit 1 for it."""
    from datetime import datetime, timezone

    from b2bscore.data.load import load_dataset
    from b2bscore.model.champions import load_champions
    from b2bscore.serving.predict import Scorer, score_account_rows

    home = copy_home(trained_world.home, tmp_path / "home")
    champions = load_champions(activate(resolve_tracking(home)))
    data = load_dataset(trained_world.world)[0]
    entities = pd.DataFrame({"account_id": data.accounts["account_id"], "as_of": pd.Timestamp("2025-12-01")})
    scores, features = score_account_rows(Scorer(champions["churn"]), None, data, entities, with_reasons=False)
    good = PredictionLog(home.predictions_dir).append("accounts", scores, features, source="test",
                                                      now=datetime.now(timezone.utc))
    truncated = good.with_name("part-000000000000-deadbeef.parquet")
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = _run("monitor", "--data", trained_world.world, "--home", home.root, "--source", "log",
                  "--config", _config(tmp_path, json.dumps(QUICK)))
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception), result.output
    status = json.loads(next((home.root / "monitoring" / "runs").glob("*/summary.json")).read_text())
    assert result.exit_code == EXIT_FOR_STATUS[status["status"]], result.output
    assert any(line.startswith("warning:") and str(truncated) in line for line in result.output.splitlines())
    assert any(str(truncated) in note for note in status["notes"])


@pytest.mark.parametrize("task", ["churn", "cltv"])
def test_a_check_of_an_account_model_with_the_default_segment_columns_skips_lead_source(trained_world, tmp_path, task):
    """The default columns include lead_source, a conversion feature: a churn-only or CLTV-only check (a config
    holding only ``tasks: [cltv]``) skips it (as MonitorConfig documents) instead of refusing the config."""
    home = copy_home(trained_world.home, tmp_path / "home")
    config = load_monitor_config(_config(tmp_path, f"tasks: [{task}]\n"))
    run = run_monitor(trained_world.world, home=home, config=config, now=pd.Timestamp("2026-02-01 08:00", tz="UTC"))
    (check,) = run.result.tasks
    columns = {s.name.split("=")[0] for s in check.segments}
    assert {"industry", "region"} <= columns and "lead_source" not in columns
