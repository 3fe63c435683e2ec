"""The command line end to end: generate -> validate -> features, and bad input without tracebacks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from b2bscore.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    result = runner.invoke(app, ["generate", "--out", str(out), "--accounts", "150", "--seed", "3", "--months", "12"])
    assert result.exit_code == 0, result.output
    return out


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_generate_validate_features(world, tmp_path):
    validated = _run("validate", str(world), "--json", str(tmp_path / "report.json"))
    assert validated.exit_code == 0, validated.output
    assert "data is usable" in validated.output.lower() or "0 error" in validated.output
    out = tmp_path / "features.parquet"
    built = _run("features", str(world), "--as-of", "2023-10-01", "--out", str(out))
    assert built.exit_code == 0, built.output
    frame = pd.read_parquet(out)
    assert len(frame) == 150 and (frame["as_of"] == pd.Timestamp("2023-10-01")).all()
    leads = _run("features", str(world), "--as-of", "2023-10-01", "--out", str(tmp_path / "leads.csv"), "--entity", "lead")
    assert leads.exit_code == 0, leads.output
    lead_frame = pd.read_csv(tmp_path / "leads.csv")
    assert (pd.to_datetime(lead_frame["as_of"]) == pd.Timestamp("2023-10-01")).all() and "lead_seniority" in lead_frame


def _commands(command, path: tuple[str, ...] = ()):
    """Every command of the app, groups and their sub-commands included, as (path of names, click command).

    Duck-typed (``.commands``, ``param_type_name``): Typer may bring its own copy of click."""
    yield path, command
    if getattr(command, "commands", None):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


def test_every_command_has_help():
    """Enumerated from the Typer app itself, so a new command or sub-command is covered without editing this test."""
    found = list(_commands(typer.main.get_command(app)))
    names = {" ".join(path) for path, _ in found}
    assert {"", "generate", "validate", "features", "train", "score", "serve", "segment", "monitor", "demo", "models",
            "models list", "models promote", "models rollback", "runs", "runs compare"} <= names, names
    for path, command in found:
        result = _run(*path, "--help")
        shown = " ".join(result.output.split())
        assert result.exit_code == 0 and "Usage" in result.output, (path, result.output)
        assert "Traceback" not in result.output
        summary = " ".join((command.help or "").split(".")[0].split())
        assert summary and summary[:60] in shown, (path, summary, result.output)
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "argument":
                assert param.name in result.output, (path, param.name, result.output)
            else:
                for option in (*param.opts, *param.secondary_opts):
                    assert option in result.output, (path, option, result.output)
        for name in getattr(command, "commands", None) or ():
            assert name in result.output, (path, name, result.output)


def test_flags_show_as_flags_in_help():
    """A flag (``--dry-run``, ``--log/--no-log``, ``--help``) takes no value, so its help line shows no type; options
    that take a value keep theirs (``<path>``)."""
    found = list(_commands(typer.main.get_command(app)))
    flags = 0
    for path, command in found:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        lines = [" ".join(line.strip("│ *").split()) for line in result.output.splitlines()]
        assert "<bool>" not in result.output, (path, result.output)
        assert any(line.startswith("--help Show this message") for line in lines), (path, result.output)
        for param in command.params:
            if param.param_type_name != "option" or getattr(param, "hidden", False):
                continue
            # the option's own row is the first line starting with its name (a wrapped help text may start another)
            line = next(line for line in lines if line.startswith(param.opts[0] + " "))
            if param.is_flag:
                flags += 1
                assert not line.split()[1].startswith("<"), (path, line)
            else:
                assert line.split()[1].startswith("<"), (path, line)
    assert flags >= 4  # generate --minimal, segment --diff, score --log/--no-log, serve --metrics-open, monitor --dry-run


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing_accounts", "accounts"),
        ("misspelled_column", "no required column 'occurred_at'. Did you mean 'occured_at'"),
        ("text_in_number", "annual_revenue"),
        ("unknown_account", "not in accounts"),
        ("empty_table", "intent.parquet has a header but no rows"),
        ("not_a_table_file", "leads"),
    ],
)
def test_bad_data_gets_one_clear_message_and_a_non_zero_exit(world, tmp_path, damage, message):
    data = tmp_path / "data"
    shutil.copytree(world, data)
    if damage == "missing_accounts":
        (data / "accounts.parquet").unlink()
    elif damage == "misspelled_column":
        pd.read_parquet(data / "activities.parquet").rename(columns={"occurred_at": "occured_at"}).to_parquet(data / "activities.parquet")
    elif damage == "text_in_number":
        accounts = pd.read_parquet(data / "accounts.parquet")
        accounts["annual_revenue"] = accounts["annual_revenue"].astype(object)
        accounts.loc[3, "annual_revenue"] = "lots"
        (data / "accounts.parquet").unlink()
        accounts.to_csv(data / "accounts.csv", index=False)
    elif damage == "unknown_account":
        leads = pd.read_parquet(data / "leads.parquet")
        leads.loc[0, "account_id"] = "NOT-AN-ACCOUNT"
        leads.to_parquet(data / "leads.parquet")
    elif damage == "empty_table":
        pd.read_parquet(data / "intent.parquet").head(0).to_parquet(data / "intent.parquet")
    elif damage == "not_a_table_file":
        (data / "leads.parquet").write_bytes(b"PK\x03\x04 this is a spreadsheet, not parquet")
    for command in (["validate", str(data)], ["features", str(data), "--as-of", "2023-10-01", "--out", str(tmp_path / "f.csv")]):
        result = _run(*command)
        assert result.exit_code != 0, result.output
        assert message in result.output, result.output
        assert "Traceback" not in result.output


def test_bad_options_and_paths_exit_non_zero_without_traceback(tmp_path):
    cases = [
        ["validate", str(tmp_path / "nope")],
        ["generate", "--out", str(tmp_path / "w"), "--accounts", "3"],
        ["generate", "--out", str(tmp_path / "w"), "--drift", "meteor"],
        ["validate", str(tmp_path), "--mapping", str(tmp_path / "missing.yaml")],
    ]
    for args in cases:
        result = _run(*args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output and "error" in result.output.lower(), result.output


@pytest.mark.parametrize("name", ["no[/such]dir", "no[bold]such"])
def test_a_message_holding_brackets_is_printed_as_written(tmp_path, name):
    """A user's path (or column, or message) with ``[...]`` in it: rich read it as markup -- a MarkupError traceback
    for a closing tag, a word silently dropped for an opening one."""
    result = _run("validate", str(tmp_path / name))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"error: data directory {tmp_path / name} does not exist" in " ".join(result.output.split())


def test_console_script_runs_as_a_real_process(world, tmp_path):
    """The installed entry point, not just the in-process app."""
    exe = Path(sys.executable).parent / "b2bscore"
    result = subprocess.run([str(exe), "features", str(world), "--as-of", "2023-06-01", "--out", str(tmp_path / "x.parquet")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    bad = subprocess.run([str(exe), "validate", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_demo_refuses_a_home_that_holds_another_world(tmp_path):
    """`demo --drift` after the main demo in the same home would check the old world's models against the new one."""
    home = tmp_path / "home"
    truth = home / "world" / "truth"
    truth.mkdir(parents=True)
    (truth / "world.json").write_text('{"config": {"accounts": 2000, "seed": 42, "months": 36, "start": "2023-01-01", '
                                      '"drift": null, "file_format": "parquet"}}')
    result = _run("demo", "--drift", "industry_mix", "--home", str(home))
    assert result.exit_code == 2
    assert "holds the demo of another world" in result.output and "no drift" in result.output
    assert "Traceback" not in result.output
    assert not (home / "mlflow.db").exists()  # refused before anything was written


def test_long_commands_print_a_line_per_stage_when_output_is_not_a_terminal(world, tmp_path):
    """Issue 14: with output redirected (cron, CI) a long command is never silent: one line per stage on standard
    error, with the time, the stage, how far and the seconds since the start."""
    import re

    built = _run("features", str(world), "--as-of", "2023-10-01", "--out", str(tmp_path / "f.parquet"))
    assert built.exit_code == 0, built.output
    lines = [line for line in built.stderr.splitlines() if re.match(r"^\[\d\d:\d\d:\d\d\] features: .+ \(\d+%, [\d.]+ s\)$", line)]
    assert len(lines) >= 2, built.stderr
    assert len(set(lines)) == len(lines)  # one line per stage, not one per update
