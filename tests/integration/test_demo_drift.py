"""The documented second command: `b2bscore demo --drift industry_mix` shows an alert in the segment the drift
touched, a refreshed segmentation recording its trigger, and challengers that did not replace the champions.

One run of the real command on the README's world (2,000 accounts, seed 42; about 3 minutes on 2 cores).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from b2bscore.cli import DriftChoice, app
from b2bscore.home import ProjectHome
from b2bscore.synth import DRIFT_KINDS

pytestmark = pytest.mark.slow  # the real drift demo on 2,000 accounts (about 2 minutes)


@pytest.fixture(scope="module")
def drift_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift-demo")
    result = CliRunner().invoke(app, ["demo", "--drift", "industry_mix", "--home", str(root)], catch_exceptions=False)
    return root, result


def test_drift_choices_are_the_generators_kinds():
    assert tuple(c.value for c in DriftChoice) == DRIFT_KINDS


def test_drift_demo_alerts_in_the_touched_segment_only(drift_demo):
    root, result = drift_demo
    assert result.exit_code == 0, result.output
    runs = sorted((root / "monitoring" / "runs").glob("*/summary.json"))
    assert len(runs) == 1
    summary = json.loads(runs[0].read_text())
    assert summary["status"] == "alert"
    assert "conversion/industry=healthcare" in summary["alerts"]
    industries = [a for a in summary["alerts"] if "/industry=" in a]
    assert industries and all(a.endswith("industry=healthcare") for a in industries), industries
    assert "alerts" in result.output and "healthcare" in result.output  # the summary table names them


def test_drift_demo_refreshes_the_segmentation_with_its_trigger(drift_demo):
    root, _ = drift_demo
    versions = sorted(p for p in (root / "segments").iterdir() if (p / "manifest.json").is_file())
    assert len(versions) == 2  # before the drift, and the refresh the alert set off
    before, after = (json.loads((v / "manifest.json").read_text()) for v in versions)
    assert before["as_of"].startswith("2024-05-01")
    assert after["trigger"].startswith("drift alert (b2bscore monitor, as of 2026-01-01)")
    assert "conversion/industry=healthcare" in after["trigger"]
    assert after["previous_version"] == versions[0].name


def test_drift_demo_retrains_into_challengers_only(drift_demo):
    from b2bscore.model.tasks import MODEL_NAMES
    from b2bscore.model.tracking import activate, resolve_tracking

    root, result = drift_demo
    client = activate(resolve_tracking(ProjectHome(root)))
    (run,) = (root / "monitoring" / "runs").glob("*/summary.json")
    alerting = {key.split("/", 1)[0] for key in json.loads(run.read_text())["alerts"]}
    assert "conversion" in alerting
    retrained_tasks = set()
    for task, name in MODEL_NAMES.items():
        model = client.get_registered_model(name)
        # trained before the drift; a retrained version never replaces it
        assert str(model.aliases["champion"]) == "1", (task, model.aliases)
        pre_drift = client.get_model_version(name, "1")
        assert "trigger" not in pre_drift.tags and pre_drift.tags["decision"] == "champion"
        versions = sorted((v for v in client.search_model_versions(f"name='{name}'") if str(v.version) != "1"),
                          key=lambda v: int(v.version))
        for version in versions:  # every retrained version: tagged with the drift trigger, and not the champion
            trigger = version.tags["trigger"]
            assert trigger.startswith("drift alert (b2bscore monitor, as of 2026-01-01)"), (task, version.tags)
            assert version.tags["decision"] == "challenger", (task, version.tags)
            assert "champion" not in version.aliases, (task, version.aliases)
            assert client.get_run(version.run_id).data.tags["b2bscore.trigger"] == trigger
            retrained_tasks.add(task)
        assert len(versions) == (1 if task in alerting else 0), (task, alerting, [v.version for v in versions])
    assert retrained_tasks == alerting  # the alerting models, and only they, were retrained once
    assert "retrained" in result.output and "(challenger)" in result.output
    assert "(champion)" not in result.output
