"""The bucketed engines (``--engine buckets`` and ``--engine spark``) give the same features and scores as the local
path, exactly; bad engine options get one message and a non-zero exit."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import copy_home
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.data.buckets import SPARK_SQL_BUCKET, bucket_of, partition_dataset
from b2bscore.data.load import load_dataset
from b2bscore.serving.engines import _data_end

pytestmark = pytest.mark.integration
runner = CliRunner()
AS_OF = "2024-06-01"
KEYS = {"account": ["account_id"], "lead": ["lead_id"]}


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _sorted(path, keys):
    return pd.read_parquet(path).sort_values(keys).reset_index(drop=True)


def _assert_same(expected_path, actual_path, keys):
    expected, actual = _sorted(expected_path, keys), _sorted(actual_path, keys)
    assert len(expected) and len(expected) == len(actual)
    pd.testing.assert_frame_equal(expected, actual, check_exact=True)


@pytest.fixture(scope="module")
def local_outputs(trained_world, tmp_path_factory):
    """The local path's features (accounts and leads) and scores of the trained world."""
    folder = tmp_path_factory.mktemp("local-outputs")
    for entity in ("account", "lead"):
        result = _run("features", trained_world.world, "--as-of", AS_OF, "--entity", entity,
                      "--out", folder / f"{entity}.parquet")
        assert result.exit_code == 0, result.output
    home = copy_home(trained_world.home, folder / "home")
    result = _run("score", "--data", trained_world.world, "--out", folder / "scores.parquet", "--home", home.root,
                  "--no-log")
    assert result.exit_code == 0, result.output
    return folder


def test_bucket_of_is_stable_and_spreads_accounts():
    ids = [f"A{i:06d}" for i in range(1000)]
    buckets = bucket_of(ids, 8)
    assert buckets.tolist() == bucket_of(list(reversed(ids)), 8)[::-1].tolist()
    assert bucket_of(["A000001", "A000001"], 8).tolist() == [bucket_of(["A000001"], 8)[0]] * 2
    assert np.bincount(buckets, minlength=8).min() > 80  # about 125 each
    assert bucket_of(["A000123"], 1000).tolist() == [int(hashlib.md5(b"A000123").hexdigest()[:15], 16) % 1000]
    assert set(bucket_of(ids, 1)) == {0}


@pytest.mark.parametrize("entity", ["account", "lead"])
def test_bucketed_features_equal_the_whole_data_path(trained_world, local_outputs, tmp_path, entity):
    out = tmp_path / f"{entity}.parquet"
    result = _run("features", trained_world.world, "--as-of", AS_OF, "--entity", entity, "--out", out,
                  "--engine", "buckets", "--buckets", "3")
    assert result.exit_code == 0, result.output
    assert "3 buckets" in result.output
    _assert_same(local_outputs / f"{entity}.parquet", out, KEYS[entity])


def test_partition_then_bucketed_scores_equal_the_whole_data_path(trained_world, local_outputs, tmp_path):
    parts = tmp_path / "parts"
    result = _run("partition", trained_world.world, "--buckets", "4", "--out", parts)
    assert result.exit_code == 0, result.output
    assert "in 4 buckets" in result.output and (parts / "bucket=00003" / "accounts.parquet").is_file()
    home = copy_home(trained_world.home, tmp_path / "home")
    result = _run("score", "--data", parts, "--out", tmp_path / "scores.parquet", "--home", home.root,
                  "--engine", "buckets")
    assert result.exit_code == 0, result.output
    for kind, keys in (("leads", ["lead_id"]), ("accounts", ["account_id"])):
        _assert_same(local_outputs / f"scores-{kind}.parquet", tmp_path / f"scores-{kind}.parquet", keys)
    assert (home.root / "predictions" / "accounts").is_dir()  # logged by default, as the local path does


def test_the_data_end_is_found_bucket_by_bucket(trained_world, tmp_path):
    """Issue 17: the default as-of came from a whole-data view of every time column (every activity's time), which
    grew the scoring driver's memory with the data; the latest of the buckets' ends is the same, empty buckets
    included."""
    data, _ = load_dataset(trained_world.world)
    source = partition_dataset(data, 500, tmp_path / "parts")
    assert 0 in source.accounts  # more buckets than some hold accounts
    assert _data_end(source) == data.end


def test_bad_engine_options_are_one_message_and_a_non_zero_exit(trained_world, tmp_path):
    world, out = trained_world.world, tmp_path / "f.parquet"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    cases = [
        (("features", world, "--as-of", AS_OF, "--out", out, "--engine", "gpu"), "gpu"),
        (("features", world, "--as-of", AS_OF, "--out", out, "--engine", "buckets", "--buckets", "0"), "--buckets"),
        (("features", tmp_path / "nowhere", "--as-of", AS_OF, "--out", out, "--engine", "buckets"), "nowhere"),
        (("features", world, "--as-of", AS_OF, "--out", blocked / "f.parquet", "--engine", "buckets"), "blocked"),
        (("features", world, "--as-of", AS_OF, "--out", out, "--master", "local[2]"), "--engine spark"),
        (("score", "--data", world, "--out", tmp_path / "s.csv", "--engine", "buckets", "--buckets", "-1"),
         "--buckets"),
        (("partition", world, "--buckets", "2", "--out", blocked), "blocked"),
        (("partition", tmp_path / "nowhere", "--buckets", "2", "--out", tmp_path / "p"), "nowhere"),
    ]
    for args, needle in cases:
        result = _run(*args)
        assert result.exit_code != 0, (args, result.output)
        assert needle in result.output, (args, result.output)
    assert not out.exists()


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None:
        return "Java is not installed (Spark 4 needs Java 17: apt-get install openjdk-17-jre-headless)"
    version = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    if '"1.' in version or any(f'"{v}' in version for v in range(9, 17)):
        return f"Spark 4 needs Java 17 or later, found {version.splitlines()[0]}"
    return None


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the Spark tests (the engine reuses an active session on the same master)."""
    reason = _spark_missing()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = SparkSession.builder.master("local[2]").appName("b2bscore-tests").config("spark.ui.enabled", "false") \
        .getOrCreate()
    yield session
    session.stop()


@pytest.mark.slow
def test_spark_features_and_scores_equal_the_whole_data_path(spark, trained_world, local_outputs, tmp_path):
    ids = pd.DataFrame({"account_id": [f"A{i:06d}" for i in range(200)] + ["x", "ü"]})
    sql = spark.createDataFrame(ids).selectExpr(f"{SPARK_SQL_BUCKET.format(buckets=7)} AS bucket").toPandas()
    assert sql["bucket"].tolist() == bucket_of(ids["account_id"], 7).tolist()

    out = tmp_path / "account.parquet"
    result = _run("features", trained_world.world, "--as-of", AS_OF, "--out", out, "--engine", "spark",
                  "--master", "local[2]", "--buckets", "3")
    assert result.exit_code == 0, result.output
    _assert_same(local_outputs / "account.parquet", out, KEYS["account"])

    home = copy_home(trained_world.home, tmp_path / "home")
    result = _run("score", "--data", trained_world.world, "--out", tmp_path / "scores.parquet", "--home", home.root,
                  "--no-log", "--engine", "spark", "--master", "local[2]", "--buckets", "3")
    assert result.exit_code == 0, result.output
    for kind, keys in (("leads", ["lead_id"]), ("accounts", ["account_id"])):
        _assert_same(local_outputs / f"scores-{kind}.parquet", tmp_path / f"scores-{kind}.parquet", keys)
