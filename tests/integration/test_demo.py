"""The main command, `b2bscore demo` (no drift), run twice in the same home, as README.md's "What `b2bscore demo`
does today" describes it: the files it lists, "the first run creates three champions, a second run creates
challengers that are promoted only when they win", and a summary that says so.

A smaller world than the README's (900 accounts instead of 2,000; 600 leaves the conversion model's validation
period 10 conversions short of the default training configuration's 50), about 1.5-2 minutes a run on 2 cores.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.home import ProjectHome
from b2bscore.model.registry import CHALLENGER, CHAMPION, PromotionPolicy
from b2bscore.model.tasks import MODEL_NAMES
from b2bscore.model.tracking import resolve_tracking
from b2bscore.training.config import TrainConfig

pytestmark = pytest.mark.slow

ACCOUNTS = 900


def _client(root) -> MlflowClient:
    config = resolve_tracking(ProjectHome(root))
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.registry_uri)


def _registry(root) -> dict[str, dict[str, object]]:
    """Per model: its versions with their decision tags, and which version holds each alias."""
    client = _client(root)
    state = {}
    for task, name in MODEL_NAMES.items():
        versions = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name='{name}'")}
        aliases = {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}
        state[task] = {"versions": versions, "aliases": aliases}
    return state


def _flat(output: str) -> str:
    """The summary table's text with its borders and line folds removed (a folded cell reads as one line)."""
    return " ".join(re.sub(r"[│┃┌┐└┘├┤┬┴┼─━]", " ", output).split())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`b2bscore demo --home DIR --accounts 900` twice in one home; the registry as it stood after the first run."""
    root = tmp_path_factory.mktemp("demo") / "home"
    args = ["demo", "--home", str(root), "--accounts", str(ACCOUNTS)]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the embedded store of the home, as the README says
        first = CliRunner().invoke(app, args, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        after_first = _registry(root)
        segments_after_first = sorted(p.name for p in (root / "segments").iterdir())
        second = CliRunner().invoke(app, args, catch_exceptions=False)
        after_second = _registry(root)
    return root, first, second, after_first, segments_after_first, after_second


def test_the_files_the_readme_lists_are_written(demo):
    root, first, second, _, segments_after_first, _ = demo
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert (root / "world" / "truth").is_dir() and (root / "world" / "accounts.parquet").is_file()
    features = pd.read_parquet(root / "features" / "accounts.parquet")
    assert len(features) == ACCOUNTS and features["account_id"].is_unique
    assert (features["as_of"] == pd.Timestamp("2026-01-01")).all()  # the end of the 36-month world
    assert (root / "mlflow.db").is_file() and (root / "mlartifacts").is_dir()
    leads = pd.read_csv(root / "scores" / "scores-leads.csv")
    accounts = pd.read_csv(root / "scores" / "scores-accounts.csv")
    assert len(leads) > 0 and len(accounts) == ACCOUNTS
    assert leads["probability"].between(0, 1).all() and accounts.loc[accounts["is_customer"], "cltv_pred"].notna().all()
    assert (root / "predictions" / "leads").is_dir() and (root / "predictions" / "accounts").is_dir()
    versions = sorted(p for p in (root / "segments").iterdir() if (p / "manifest.json").is_file())
    assert len(segments_after_first) == 1 and len(versions) >= 2  # one per run (a monitoring alert may add one)
    for version in versions:
        assert (version / "ranked_accounts.csv").stat().st_size > 0 and (version / "summary.html").stat().st_size > 1000
        manifest = json.loads((version / "manifest.json").read_text())
        assert manifest["fallback"] is False and set(manifest["models"]) == {"conversion", "propensity", "churn", "cltv"}
    assert json.loads((versions[1] / "manifest.json").read_text())["previous_version"] == versions[0].name
    runs = sorted((root / "monitoring" / "runs").glob("*/summary.json"))
    assert len(runs) == 2  # one check per run
    for run in runs:
        assert (run.parent / "summary.html").stat().st_size > 1000
        # every champion is checked, the propensity model too (its matured rows are whole snapshots)
        assert {t["task"] for t in json.loads(run.read_text())["tasks"]} == {"conversion", "propensity", "churn", "cltv"}
    flat = _flat(second.output)
    status = json.loads(runs[-1].read_text())["status"]
    assert f"monitoring {status} (" in flat and str(runs[-1].parent / "summary.html") in flat.replace(" ", "")
    assert str(root / "scores" / "scores-leads.csv") in flat.replace(" ", "")


def test_the_first_run_creates_three_champions(demo):
    _, first, _, after_first, _, _ = demo
    flat = _flat(first.output)
    for task, name in MODEL_NAMES.items():
        state = after_first[task]
        assert list(state["versions"]) == ["1"] and state["aliases"] == {CHAMPION: "1"}, (task, state)
        tags = state["versions"]["1"]
        assert tags["decision"] == CHAMPION and tags["decision_reason"] == f"first model of {name}: no champion yet"
        assert f"model: {task} v1 champion, {tags['candidate']}: " in flat and tags["decision_reason"] in flat, (task, flat)
        assert re.search(rf"{tags['candidate']}( [\d.]+)? has the highest validation", flat), flat


def test_a_second_run_creates_challengers_promoted_only_when_they_win(demo):
    _, _, second, _, _, after_second = demo
    flat = _flat(second.output)
    margin = TrainConfig().promotion.margin
    for task, name in MODEL_NAMES.items():
        state = after_second[task]
        assert sorted(state["versions"]) == ["1", "2"], (task, state)
        tags = state["versions"]["2"]
        reason, metric = tags["decision_reason"], tags["primary_metric"]
        promoted = tags["decision"] == CHAMPION
        assert tags["decision"] in (CHAMPION, CHALLENGER)
        # the reason is recorded, and it is the comparison with the champion the decision followed
        assert reason.startswith(f"{metric.removeprefix('test_')} ") and " champion v1 " in reason, reason
        assert (" beats champion v1 " in reason) == promoted and (" does not beat champion v1 " in reason) != promoted
        if "same test set" in reason:  # both versions were measured on one test set: the rule, from their metrics
            wins = PromotionPolicy(metric=metric, margin=margin).wins(float(tags[metric]),
                                                                     float(state["versions"]["1"][metric]))
            assert wins == promoted, (task, tags[metric], state["versions"]["1"][metric], reason)
        if promoted:
            assert state["aliases"] == {CHAMPION: "2"}, (task, state["aliases"])
        else:
            assert state["aliases"] == {CHAMPION: "1", CHALLENGER: "2"}, (task, state["aliases"])
        # the summary says what became of version 2, and why
        assert f"model: {task} v2 {'champion' if promoted else 'challenger'}, {tags['candidate']}: " in flat, (task, flat)
        assert reason in flat, (task, reason, flat)
