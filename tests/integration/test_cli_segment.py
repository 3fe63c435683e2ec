"""``b2bscore segment`` and ``segment-diff`` from the command line: the summary, the refresh diff, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.segments.store import SegmentStore
from b2bscore.synth import WorldConfig, generate_world

runner = CliRunner()
FAST = "clustering: {k_max: 3, n_init: 1}\n"
UNKNOWN_FEATURE = """
tiers:
  default: Tier 3
  rules:
    - {name: t1, label: Tier 1, all_of: [{column: icp_fit_scroe, op: ">=", value: 50}]}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=60, months=6, seed=3), out)
    return out


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _config(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_segment_twice_then_diff(world, project_home, tmp_path):
    config, home = _config(tmp_path, "segments.yaml", FAST), ("--home", project_home.root)
    first = _run("segment", "--data", world, "--as-of", "2023-05-01", "--config", config, "--diff", *home)
    assert first.exit_code == 0, first.output
    (version,) = SegmentStore.of(project_home).versions()
    folder = project_home.segments_dir / version
    for text in (f"Segments {version} as of 2023-05-01: 60 accounts", "no champion models", "fit and behaviour only",
                 "Tier 1", "Data-driven segments (k=", "Segments that stand out", "call_list_prospects.csv",
                 str(folder / "ranked_accounts.csv"),
                 str(folder / "summary.html"), "experiment b2bscore-segments", "first version: nothing to compare yet"):
        assert text in first.output, text

    second = _run("segment", "--data", world, "--as-of", "2023-06-01", "--config", config, "--diff", *home)
    assert second.exit_code == 0, second.output
    later = SegmentStore.of(project_home).latest()
    for text in (f"Changes since {version}", "60 accounts compared", "tier transitions", "main reasons for tier moves",
                 "moved accounts (first"):
        assert text in second.output, text

    plain = _run("segment", "--data", world, "--config", config, *home)
    assert plain.exit_code == 0 and f"since {later}:" in plain.output and "accounts moved" in plain.output

    shown = _run("segment-diff", "--version", later, "--limit", "3", *home)
    assert shown.exit_code == 0, shown.output
    assert f"Segments {later} compared with {version}" in shown.output and "moved accounts (first 3 of" in shown.output


def test_segment_diff_needs_two_versions(world, project_home):
    empty = _run("segment-diff", "--home", project_home.root)
    assert empty.exit_code == 2 and "no segmentation versions" in empty.output and "Traceback" not in empty.output
    unknown = _run("segment-diff", "--version", "20990101T000000Z", "--home", project_home.root)
    assert unknown.exit_code == 2 and "no segmentation version '20990101T000000Z'" in unknown.output


@pytest.mark.parametrize(("args", "message"), [
    (("--data", "{missing}"), "does not exist"),
    (("--data", "{world}", "--config", "{unknown_feature}"), "tiers rule 't1' reads unknown feature 'icp_fit_scroe'; did you mean: icp_fit_score"),
    (("--data", "{world}", "--config", "{too_many}"), "too few accounts to cluster into 50 segments"),
    (("--data", "{world}", "--as-of", "2023-13-45"), "Invalid value for '--as-of'"),
    (("--data", "{world}", "--as-of", "2040-01-01"), "as-of 2040-01-01 is outside the data"),
    (("--data", "{world}", "--config", "{bad_field}"), "clustering.k_maxx"),
])
def test_bad_input_is_one_message_a_non_zero_exit_and_no_version(world, project_home, tmp_path, args, message):
    files = {"missing": tmp_path / "missing", "world": world,
             "unknown_feature": _config(tmp_path, "rule.yaml", UNKNOWN_FEATURE),
             "too_many": _config(tmp_path, "k.yaml", "clustering: {k: 50}\n"),
             "bad_field": _config(tmp_path, "field.yaml", "clustering: {k_maxx: 3}\n")}
    result = _run("segment", *[a.format(**files) for a in args], "--home", project_home.root)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    segments = project_home.segments_dir
    assert not segments.exists() or list(segments.iterdir()) == []


def test_help_lists_the_options():
    result = _run("segment", "--help")
    assert result.exit_code == 0
    for option in ("--data", "--as-of", "--config", "--mapping", "--home", "--diff"):
        assert option in result.output
