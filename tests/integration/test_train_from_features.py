"""Training from a feature table built elsewhere (``train --features``): the same labels, split, candidates and
registry decision as when the run builds its features, the source in the run's lineage, and bad tables refused with
the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.errors import DataError
from b2bscore.home import ProjectHome
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import TrainConfig
from b2bscore.training.job import train_tasks

SMALL = TrainConfig.model_validate({
    "conversion": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
    "lightgbm": {"max_rounds": 200, "early_stopping_rounds": 30}, "candidates": {"confidence": 0.6},
})


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=400, seed=11, months=36), out)
    return out


@pytest.fixture(scope="module")
def written(world, tmp_path_factory):
    """A run that builds its features and writes them, and a run in another home that trains from them."""
    tables = tmp_path_factory.mktemp("features")
    built = train_tasks("conversion", world, config=SMALL, home=ProjectHome(tmp_path_factory.mktemp("home-built")),
                        features_to=tables)
    home = ProjectHome(tmp_path_factory.mktemp("home-read"))
    read = train_tasks("conversion", world, config=SMALL, home=home, features_from=tables)
    return tables, built[0], read[0], home


def test_a_run_from_a_written_feature_table_equals_the_run_that_built_it(written):
    tables, built, read, home = written
    assert (tables / "conversion.parquet").is_file()
    assert read.metrics == built.metrics  # same rows, split, model and figures, to the last digit
    assert read.candidate == built.candidate and read.decision.promoted == built.decision.promoted
    activate(resolve_tracking(home))
    tags = mlflow.get_run(read.run_id).data.tags
    assert tags["features.source"] == str((tables / "conversion.parquet").resolve())
    assert len(tags["features.digest"]) == 16


def test_a_feature_table_that_lacks_rows_or_columns_is_refused_naming_it(written, world, tmp_path):
    tables = written[0]
    table = pd.read_parquet(tables / "conversion.parquet")
    cases = {
        "rows": (table.iloc[5:], r"no features for 5 of the .* labelled lead rows \(first: lead_id "),
        "column": (table.drop(columns=[table.columns[5]]), f"has no column {table.columns[5]}"),
        "duplicate": (pd.concat([table, table.iloc[:2]]), r"2 duplicated feature row\(s\)"),
    }
    for name, (frame, message) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        frame.to_parquet(folder / "conversion.parquet")
        with pytest.raises(DataError, match=message):
            train_tasks("conversion", world, config=SMALL, home=ProjectHome(tmp_path / f"home-{name}"),
                        features_from=folder)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "conversion.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot be read as a Parquet feature table"):
        train_tasks("conversion", world, config=SMALL, home=ProjectHome(tmp_path / "home-text"),
                    features_from=tmp_path / "text")


def test_the_cli_names_a_missing_feature_folder_or_table(world, tmp_path):
    runner = CliRunner()
    config = tmp_path / "train.yaml"  # JSON is YAML
    config.write_text(SMALL.model_dump_json())
    result = runner.invoke(app, ["train", "conversion", "--data", str(world), "--home", str(tmp_path / "home"),
                                 "--features", str(tmp_path / "nowhere"), "--config", str(config)])
    assert result.exit_code != 0 and "no such folder of feature tables" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["train", "conversion", "--data", str(world), "--home", str(tmp_path / "home"),
                                 "--features", str(tmp_path / "empty"), "--config", str(config)])
    assert result.exit_code != 0 and "no feature table for conversion" in result.output
