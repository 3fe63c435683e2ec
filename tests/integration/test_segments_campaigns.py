"""Issue 19 end to end: ``b2bscore segment`` on a generated world writes CAC, ROI and engagement in kpis.csv, ROI per
campaign x segment in campaigns.csv, the rule in the run's parameters, and ``--diff`` names the segments whose CAC or
ROI moved; on a minimal export (no campaigns, no spend) it still works and says what is unavailable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.model.tracking import resolve_tracking
from b2bscore.segments.store import SegmentStore
from b2bscore.synth import WorldConfig, generate_minimal, generate_world

runner = CliRunner()
CONFIG = "clustering: {k_max: 3, n_init: 1}\nattribution: {rule: linear, lookback_days: 120}\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=200, months=12, seed=4), out)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_segment_writes_cac_roi_and_reports_their_moves(world, project_home, tmp_path):
    config = tmp_path / "segments.yaml"
    config.write_text(CONFIG)
    home = ("--home", str(project_home.root))
    first = runner.invoke(app, ["segment", "--data", str(world), "--as-of", "2023-10-01", "--config", str(config), *home])
    assert first.exit_code == 0, first.output
    assert "market share is not shown" in first.output and "campaigns.csv" in first.output
    version = SegmentStore.of(project_home).latest()
    folder = project_home.segments_dir / version
    kpis = _rows(folder / "kpis.csv")
    tiers = [r for r in kpis if r["kind"] == "tier"]
    for column in ("new_customers", "cac", "campaign_roi", "attributed_deals", "email_click_through_rate", "actionable"):
        assert column in kpis[0], column
    assert all(float(r["cac"]) > 0 and int(r["new_customers"]) > 0 for r in tiers)
    campaigns = _rows(folder / "campaigns.csv")
    assert {r["kind"] for r in campaigns} >= {"all", "tier"} and {r["rule"] for r in campaigns} == {"linear, 120 days"}
    page = (folder / "summary.html").read_text(encoding="utf-8")
    assert "Cost to acquire a customer against its value" in page and "Cost per new customer (CAC)" in page
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"]["attribution"] == {"rule": "linear", "lookback_days": 120, "unattributed_split": "touches"}
    tracking = resolve_tracking(project_home)
    run = MlflowClient(tracking_uri=tracking.tracking_uri).get_run(manifest["mlflow_run_id"])
    assert run.data.params["attribution_rule"] == "linear" and run.data.params["attribution_lookback_days"] == "120"

    second = runner.invoke(app, ["segment", "--data", str(world), "--as-of", "2023-12-01", "--config", str(config),
                                 "--diff", *home])
    assert second.exit_code == 0, second.output
    assert "segments whose CAC or campaign ROI moved" in second.output and "Tier " in second.output
    later = SegmentStore.of(project_home).latest()
    diff = json.loads((project_home.segments_dir / later / "diff.json").read_text())
    assert diff["kpi_moves"] and {m["kpi"] for m in diff["kpi_moves"]} <= {"cac", "campaign_roi"}
    shown = runner.invoke(app, ["segment-diff", *home])
    assert shown.exit_code == 0 and "segments whose CAC or campaign ROI moved" in shown.output


def test_a_minimal_export_without_campaigns_says_what_is_unavailable(project_home, tmp_path):
    export = tmp_path / "minimal"
    generate_minimal(WorldConfig(accounts=150, months=12, seed=5), export)
    config = tmp_path / "segments.yaml"
    config.write_text(CONFIG)
    result = runner.invoke(app, ["segment", "--data", str(export), "--config", str(config), "--home",
                                 str(project_home.root)])
    assert result.exit_code == 0, result.output
    assert "CAC and campaign ROI are unavailable" in result.output
    folder = project_home.segments_dir / SegmentStore.of(project_home).latest()
    assert all(r["cac"] == "" and r["campaign_roi"] == "" for r in _rows(folder / "kpis.csv"))
    assert _rows(folder / "campaigns.csv") == []
    assert "CAC and campaign ROI are unavailable" in (folder / "summary.html").read_text(encoding="utf-8")
