"""``b2bscore score`` and ``b2bscore serve`` from the command line, bad input included."""

from __future__ import annotations

import pandas as pd
from conftest import copy_home
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.serving.predict import ACCOUNT_FILE_COLUMNS, LEAD_FILE_COLUMNS

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_score_writes_both_files_and_says_where(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    out = tmp_path / "crm" / "nightly.parquet"
    result = _run("score", "--data", trained_world.world, "--out", out, "--home", home.root, "--chunk-size", "200")
    assert result.exit_code == 0, result.output
    assert "conversion v1" in result.output and "open leads ->" in result.output
    leads = pd.read_parquet(tmp_path / "crm" / "nightly-leads.parquet")
    accounts = pd.read_parquet(tmp_path / "crm" / "nightly-accounts.parquet")
    assert list(leads.columns) == list(LEAD_FILE_COLUMNS) and list(accounts.columns) == list(ACCOUNT_FILE_COLUMNS)
    assert (home.root / "predictions" / "accounts").is_dir()


def test_score_bad_input_is_one_message_and_a_non_zero_exit(trained_world, project_home, tmp_path):
    cases = [
        (("--data", trained_world.world, "--out", tmp_path / "x.xlsx", "--home", trained_world.home.root), ".csv or .parquet"),
        (("--data", trained_world.world, "--out", tmp_path / "x.csv", "--home", project_home.root), "no champion"),
        (("--data", tmp_path / "nowhere", "--out", tmp_path / "x.csv", "--home", trained_world.home.root), "nowhere"),
        (("--data", trained_world.world, "--out", tmp_path / "x.csv", "--home", trained_world.home.root,
          "--as-of", "someday"), "someday"),
    ]
    for args, needle in cases:
        result = _run("score", *args)
        assert result.exit_code != 0, (args, result.output)
        assert needle in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not list(tmp_path.glob("x*"))


def test_serve_refuses_a_bad_port():
    result = _run("serve", "--port", "70000")
    assert result.exit_code == 2 and "65535" in result.output
