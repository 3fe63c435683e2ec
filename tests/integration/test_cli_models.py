"""``b2bscore train``, ``models`` and ``runs`` from the command line, bad input included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.synth import WorldConfig, generate_world

runner = CliRunner()
CONFIG = """
conversion: {min_positives: 10}
propensity: {min_positives: 10}
propensity: {min_positives: 10}  # present once the propensity model is (another change in progress)
churn: {min_positives: 10}
cltv: {min_rows: 50}
lightgbm: {max_rounds: 200, early_stopping_rounds: 30}
candidates: {confidence: 0.6}  # a 300-account world: better than chance, not provably at 95%
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=300, seed=5, months=36), out)
    return out


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_list_compare_promote_rollback(world, project_home, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(CONFIG)
    home = ("--home", project_home.root)
    trained = _run("train", "all", "--data", world, "--config", config, *home)
    assert trained.exit_code == 0, trained.output
    assert trained.output.count("champion") >= 3 and "oracle" in trained.output
    again = _run("train", "churn", "--data", world, "--config", config, *home)
    assert again.exit_code == 0 and "does not beat" in again.output
    assert "b2bscore-churn v2: " in again.output and "has the highest validation roc_auc" in again.output

    listed = _run("models", "list", *home)
    assert listed.exit_code == 0
    summary = " ".join(listed.output.split())
    assert "champion is" in summary
    assert re.search(r"b2bscore-churn v1 \((lightgbm|blend|baseline)\) beside its baseline: roc_auc 0\.\d+ vs 0\.\d+ on "
                     r"the validation period, 0\.\d+ vs 0\.\d+ on the test period", summary), summary
    for name in ("b2bscore-conversion", "b2bscore-churn", "b2bscore-cltv"):
        assert name in listed.output
    # the challenger's figures beside the champion's: v2 of churn is a challenger with its own test metrics
    assert re.search(r"b2bscore-churn challenger v2 beside champion v1: (\w+ \d\.\d{3} vs \d\.\d{3}, )*roc_auc "
                     r"0\.\d{3} vs 0\.\d{3}.* on the test period", summary), summary
    compared = _run("runs", "compare", "--model", "churn", *home)
    assert compared.exit_code == 0 and "test_roc_auc" in compared.output and "baseline_test_roc_auc" in compared.output
    lines = compared.output.splitlines()
    header = next(line for line in lines if "v1 (champion)" in line)
    assert "v2 (challenger)" in header, compared.output  # columns named by version and alias, not run-id prefix
    assert "Parameters that differ between the latest runs of b2bscore-churn" in compared.output, compared.output
    assert compared.output.index("Parameters that differ") < compared.output.index("Test metrics of the latest runs")
    (count,) = [line for line in lines if line.startswith("│ test_n ")]
    assert re.search(r"│\s+\d+\s+│", count) and "." not in count, count  # a count of rows, not 1007.0000

    promoted = _run("models", "promote", "b2bscore-churn", "2", "--reason", "sales asked", *home)
    assert promoted.exit_code == 0 and "champion is now version 2 (was 1)" in promoted.output
    rolled = _run("models", "rollback", "b2bscore-churn", *home)
    assert rolled.exit_code == 0 and "rolled back from version 2 to version 1" in rolled.output
    assert (project_home.root / "registry-audit.jsonl").read_text().count("sales asked") >= 1


@pytest.mark.parametrize(("args", "message"), [
    (("models", "promote", "b2bscore-nope", "1"), "no registered model 'b2bscore-nope'"),
    (("models", "rollback", "b2bscore-churn"), "no registered model 'b2bscore-churn'"),
    (("train", "churn", "--data", "{world}", "--as-of", "2040-01-01"), "as-of 2040-01-01 is outside the data"),
    (("train", "conversion", "--data", "{world}"), "conversion: the"),
    (("train", "churn", "--data", "{missing}"), "missing"),
    (("train", "churn", "--data", "{world}", "--config", "{bad_config}"), "lightgbm.num_leafs"),
])
def test_bad_input_is_one_message_and_a_non_zero_exit(world, project_home, tmp_path, args, message):
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("lightgbm: {num_leafs: 3}\n")
    filled = [a.format(world=world, missing=tmp_path / "missing", bad_config=bad_config) for a in args]
    result = _run(*filled, "--home", project_home.root)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_unreachable_tracking_server_is_a_clear_error(world, project_home, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    result = _run("models", "list", "--home", project_home.root)
    assert result.exit_code == 2 and "cannot reach the MLflow tracking server at http://127.0.0.1:9" in result.output
