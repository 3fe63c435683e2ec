"""The command line when something is wrong around it (issue 13): an output path that cannot be written, a home
that does not exist, leftovers of a killed run, a check that cannot run. One clear message, the documented exit
code, nothing created that was not asked for, never a traceback."""

from __future__ import annotations

import socket
import subprocess

import pandas as pd
import pytest
from conftest import copy_home
from typer.testing import CliRunner

from b2bscore.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _clean(result) -> bool:
    """No traceback: the command ended through its own exit, not an exception."""
    return "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("where", ["/proc/nope/x.parquet", "{tmp}/a-file/x.csv", "{tmp}"])
def test_an_output_path_that_cannot_be_written_is_one_message(trained_world, tmp_path, where):
    (tmp_path / "a-file").write_text("not a folder\n")
    out = where.format(tmp=tmp_path)
    result = _run("features", trained_world.world, "--as-of", "2025-06-01", "--out", out)
    assert result.exit_code == 2, result.output
    assert f"cannot write output file {out}" in result.output and _clean(result), result.output


def test_score_to_a_path_that_cannot_be_written_is_one_message(trained_world, tmp_path):
    (tmp_path / "a-file").write_text("not a folder\n")
    out = tmp_path / "a-file" / "scores.csv"
    result = _run("score", "--data", trained_world.world, "--out", out, "--home", trained_world.home.root)
    assert result.exit_code == 2 and "cannot write output file" in result.output and _clean(result), result.output


READ_ONLY = [("models", "list"), ("models", "promote", "b2bscore-churn", "1"), ("models", "rollback", "b2bscore-churn"),
             ("runs", "compare", "--model", "churn"), ("segment-diff",)]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_home(tmp_path, monkeypatch, command):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    missing = tmp_path / "no-home"
    result = _run(*command, "--home", missing)
    assert result.exit_code == 2, result.output
    assert f"no project home at {missing}" in result.output and "b2bscore demo" in result.output, result.output
    assert _clean(result) and not missing.exists()


def test_models_list_on_a_home_without_a_registry_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    empty = tmp_path / "home"
    empty.mkdir()
    listed = _run("models", "list", "--home", empty)
    assert listed.exit_code == 0 and "no registered models yet" in listed.output, listed.output
    promoted = _run("models", "promote", "b2bscore-churn", "1", "--home", empty)
    assert promoted.exit_code == 2 and "no model registry yet" in promoted.output and _clean(promoted)
    assert list(empty.iterdir()) == []


def test_score_never_appends_to_what_a_killed_run_left(trained_world, tmp_path):
    """A run killed while writing left ``scores-accounts.csv.partial`` (the name before 0.3) and a temporary file of
    its own; the rerun writes a fresh file (one header, each account once), removes the dead run's file and leaves
    no temporary file of its own."""
    home = copy_home(trained_world.home, tmp_path / "home")
    out = tmp_path / "crm"
    out.mkdir()
    (out / "scores-accounts.csv.partial").write_text("account_id,churn_probability\nA-LEFTOVER,0.5\n")
    dead = out / f".scores-accounts.csv.partial-{socket.gethostname()}-{_dead_pid()}-0123abcd"
    dead.write_text("account_id,churn_probability\nA-DEAD,0.5\n")
    result = _run("score", "--data", trained_world.world, "--out", out / "scores.csv", "--home", home.root,
                  "--chunk-size", 100, "--no-log")
    assert result.exit_code == 0, result.output
    accounts = pd.read_parquet(trained_world.world / "accounts.parquet", columns=["account_id"])
    lines = (out / "scores-accounts.csv").read_text().splitlines()
    assert len(lines) - 1 == len(accounts) and lines.count(lines[0]) == 1
    assert pd.read_csv(out / "scores-accounts.csv")["account_id"].is_unique
    assert f"{len(accounts):,} accounts ->" in result.output
    assert not dead.exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_failed_score_run_leaves_the_earlier_files_as_they_were(trained_world, tmp_path, monkeypatch):
    home = copy_home(trained_world.home, tmp_path / "home")
    out = tmp_path / "crm" / "scores.parquet"
    args = ("score", "--data", trained_world.world, "--out", out, "--home", home.root, "--chunk-size", 100, "--no-log")
    assert _run(*args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    from b2bscore.serving import batch

    calls = []

    def fail_on_the_second_chunk(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(*a, **k)

    original = batch.score_account_rows
    monkeypatch.setattr(batch, "score_account_rows", fail_on_the_second_chunk)
    assert _run(*args).exit_code != 0
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before


def test_validate_json_to_a_path_that_cannot_be_written_is_one_message(trained_world):
    result = _run("validate", trained_world.world, "--json", "/proc/nope/report.json")
    assert result.exit_code == 2, result.output
    assert "cannot write output file /proc/nope/report.json" in result.output and _clean(result), result.output
