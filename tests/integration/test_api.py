"""The top-level Python API: ``b2bscore.load/train/segment/score/monitor`` are the CLI's jobs, found lazily.

The jobs themselves are tested through the CLI and the README's snippet (tests/integration/test_readme.py, slow); here: the
lazy attributes, the coercion of paths, objects and dicts into typed configs, and that the commands call the API.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import b2bscore
from b2bscore import api
from b2bscore.errors import ConfigError
from b2bscore.home import ProjectHome
from b2bscore.monitoring.config import MonitorConfig
from b2bscore.segments.config import SegmentConfig
from b2bscore.training.config import TrainConfig

NAMES = ("load", "train", "segment", "score", "monitor")


def test_importing_b2bscore_loads_no_heavy_library():
    code = ("import sys, b2bscore; heavy = [m for m in ('pandas', 'mlflow', 'lightgbm', 'b2bscore.api') "
            "if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_api_is_found_on_first_use_and_listed():
    for name in NAMES:
        assert getattr(b2bscore, name) is getattr(api, name)
        assert name in dir(b2bscore) and name in b2bscore.__all__
    from b2bscore import train  # noqa: F401 (a from-import goes through the same look-up)

    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        b2bscore.trian  # noqa: B018


def test_a_config_is_a_path_an_object_or_a_dict(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("conversion: {min_positives: 20}\n")
    from b2bscore.training.config import load_train_config

    by_path = api._config(path, TrainConfig, load_train_config, "training")
    by_name = api._config(str(path), TrainConfig, load_train_config, "training")
    by_dict = api._config({"conversion": {"min_positives": 20}}, TrainConfig, load_train_config, "training")
    assert by_path == by_name == by_dict and by_dict.conversion.min_positives == 20
    assert api._config(by_dict, TrainConfig, load_train_config, "training") is by_dict
    assert api._config(None, TrainConfig, load_train_config, "training") == TrainConfig()
    with pytest.raises(ConfigError, match=r"(?s)training configuration.*conversion\.min_positives"):
        api._config({"conversion": {"min_positives": 0}}, TrainConfig, load_train_config, "training")
    with pytest.raises(TypeError, match="must be a path, a TrainConfig or a dict"):
        api._config(MonitorConfig(), TrainConfig, load_train_config, "training")


def test_home_time_and_mapping_are_accepted_as_the_cli_gives_them(tmp_path, monkeypatch):
    monkeypatch.setenv("B2BSCORE_HOME", str(tmp_path / "from-env"))
    assert api._home(None).root == (tmp_path / "from-env").resolve()
    assert api._home(str(tmp_path / "h")).root == (tmp_path / "h").resolve()
    home = ProjectHome(tmp_path / "given")
    assert api._home(home) is home
    assert api._time("2025-06-30") == pd.Timestamp("2025-06-30") and api._time(None) is None
    with pytest.raises(TypeError, match="mapping must be a path or a MappingConfig"):
        api._mapping({"accounts": {}})


def test_a_bad_segment_rule_fails_before_the_data_is_read(tmp_path):
    config = {"tiers": {"default": "Tier 3", "rules": [{"name": "r", "label": "Tier 1",
                                                         "all_of": [{"column": "fitt", "op": ">=", "value": 50}]}]}}
    with pytest.raises(ConfigError, match="unknown feature 'fitt'"):
        b2bscore.segment(tmp_path / "no-such-data", home=tmp_path / "home", config=config)
    with pytest.raises(ConfigError, match="unknown feature 'fitt'"):
        b2bscore.segment(tmp_path / "no-such-data", home=tmp_path / "home", config=SegmentConfig.model_validate(config))
    assert not (tmp_path / "home").exists()


def test_monitor_overrides_are_checked_like_the_cli_options(tmp_path):
    with pytest.raises(ConfigError, match="(?s)options: invalid configuration.*not a duration"):
        b2bscore.monitor(tmp_path, home=tmp_path / "home", window="a week")


def test_load_reads_a_data_directory(tmp_path):
    from b2bscore.synth import WorldConfig, generate_world

    generate_world(WorldConfig(accounts=30, seed=3, months=6), tmp_path / "world")
    data = b2bscore.load(tmp_path / "world")
    assert len(data.accounts) == 30 and data.leads is not None


def test_the_commands_call_the_api(monkeypatch, tmp_path):
    from b2bscore.cli import app

    calls = {}

    def record(name):
        def call(*args, **kwargs):
            calls[name] = (args, kwargs)
            raise ConfigError(f"{name} called")  # stops the command before it prints a result
        return call

    for name in ("train", "segment", "score", "monitor"):
        monkeypatch.setattr(api, name, record(name))
    runner = CliRunner()
    data, home = str(tmp_path / "data"), str(tmp_path / "home")
    runner.invoke(app, ["train", "churn", "--data", data, "--home", home, "--as-of", "2025-06-30"])
    runner.invoke(app, ["segment", "--data", data, "--config", "features/segments.yaml"])
    runner.invoke(app, ["score", "--data", data, "--out", "s.csv", "--chunk-size", "500", "--no-log"])
    result = runner.invoke(app, ["monitor", "--data", data, "--window", "30d", "--source", "data", "--dry-run"])
    assert result.exit_code == 2 and "monitor called" in result.output
    assert calls["train"][0] == ("churn", Path(data)) and calls["train"][1]["home"] == Path(home)
    assert pd.Timestamp(calls["train"][1]["as_of"]) == pd.Timestamp("2025-06-30")
    assert calls["segment"][1]["config"] == Path("features/segments.yaml")
    assert calls["score"][1]["chunk_size"] == 500 and calls["score"][1]["log_predictions"] is False
    assert {k: calls["monitor"][1][k] for k in ("window", "source", "dry_run")} == {"window": "30d", "source": "data",
                                                                                   "dry_run": True}
