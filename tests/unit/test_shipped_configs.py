"""The top-level stage folders (features/, training/, serving/, monitoring/): every configuration shipped there loads
into its typed model, the ones that say so equal the library's defaults, the example mapping reads a real export,
the webhook sample is what the code sends, the schedules run a real command, and none of the folders is a package.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from doc_snippets import b2bscore_invocations, check_b2bscore

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("features", "training", "serving", "monitoring")

# shipped file -> (its loader, whether it is the library's defaults written out)
SHIPPED = {
    "features/icp.yaml": ("b2bscore.features:load_feature_config", True),
    "features/segments.yaml": ("b2bscore.segments.config:load_segment_config", True),
    "features/crm-mapping.yaml": ("b2bscore.data.mapping:load_mapping", False),
    "training/train.yaml": ("b2bscore.training.config:load_train_config", True),
    "monitoring/monitor.yaml": ("b2bscore.monitoring:load_monitor_config", True),
}
SERVE_LOADER = "b2bscore.serving.config:load_serve_config"
NOT_B2BSCORE_CONFIGS = {"serving/bentofile.yaml"}  # BentoML's build file (tests/integration/test_packaging.py builds it)
WEBHOOK_SAMPLE = ROOT / "monitoring" / "webhook-payload.json"


def _function(dotted: str):
    module, name = dotted.split(":")
    return getattr(importlib.import_module(module), name)


def _config_files() -> list[str]:
    found = []
    for stage in STAGES:
        for suffix in ("*.yaml", "*.yml", "*.toml"):
            found += [p.relative_to(ROOT).as_posix() for p in (ROOT / stage).rglob(suffix)]
    return sorted(found)


def _serving_configs() -> list[str]:
    return [f for f in _config_files() if f.startswith("serving/") and f not in NOT_B2BSCORE_CONFIGS]


def test_every_shipped_configuration_is_known_here():
    unknown = [f for f in _config_files() if f not in SHIPPED and f not in NOT_B2BSCORE_CONFIGS
               and not f.startswith("serving/")]
    assert not unknown, f"add these to SHIPPED (with their loader) so they cannot drift: {unknown}"
    for path in SHIPPED:
        assert (ROOT / path).is_file(), f"{path} is listed but not shipped"


@pytest.mark.parametrize("path", sorted(SHIPPED))
def test_a_shipped_configuration_loads_into_its_typed_model(path):
    loader, is_defaults = SHIPPED[path]
    loaded = _function(loader)(ROOT / path)
    if is_defaults:
        defaults = type(loaded)()
        differing = [name for name in type(loaded).model_fields if getattr(loaded, name) != getattr(defaults, name)]
        assert not differing, f"{path} says it holds the defaults, but these fields differ: {differing}"


def test_the_serving_configuration_loads_into_its_typed_model():
    configs = _serving_configs()
    if not configs:
        pytest.skip("serving/ ships no configuration yet")
    load_serve_config = _function(SERVE_LOADER)
    for path in configs:
        load_serve_config(ROOT / path)


def test_the_stage_folders_are_not_python_packages():
    for stage in STAGES:
        assert not list((ROOT / stage).rglob("__init__.py")), f"{stage}/ must not be a Python package"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["packages"]["find"]["where"] == ["src"]  # only src/b2bscore is installed


# ---- the example mapping reads an export shaped like the one it describes ----

def _export_as_the_mapping_describes(data, mapping, folder: Path) -> None:
    """Write ``data`` as the CRM would export it: the mapping's file and column names, values and date formats."""
    from b2bscore.data.contract import TABLE_NAMES

    for name in TABLE_NAMES:
        table = mapping.table(name)
        frame = getattr(data, name).copy()
        for column, values in table.values.items():
            back: dict[str, str] = {}
            for source, target in values.items():
                back.setdefault(target, source)
            frame[column] = frame[column].map(lambda v, back=back: back.get(v, v))
        for column, fmt in table.date_formats.items():
            frame[column] = frame[column].dt.strftime(fmt)
        frame.rename(columns={target: source for source, target in table.columns.items()}) \
            .to_csv(folder / (table.file or f"{name}.csv"), index=False)


def test_the_example_mapping_reads_a_crm_export_into_the_contract(tmp_path):
    from b2bscore.data.load import load_dataset, validate_data
    from b2bscore.data.mapping import load_mapping
    from b2bscore.synth import WorldConfig, generate_world

    generate_world(WorldConfig(accounts=40, seed=1, months=12), tmp_path / "world")
    original, _ = load_dataset(tmp_path / "world")
    mapping = load_mapping(ROOT / "features" / "crm-mapping.yaml")
    export = tmp_path / "export"
    export.mkdir()
    _export_as_the_mapping_describes(original, mapping, export)
    assert "Account ID" in pd.read_csv(export / "salesforce_accounts.csv").columns  # the export's own names
    report = validate_data(export, mapping)
    assert report.ok and not [i for i in report.issues if i.severity == "warning"], report.render()
    mapped, _ = load_dataset(export, mapping)
    for name in type(mapping).model_fields:
        expected = getattr(original, name).copy()
        for column, fmt in mapping.table(name).date_formats.items():  # what the export's format keeps of a time
            expected[column] = pd.to_datetime(expected[column].dt.strftime(fmt), format=fmt)
        pd.testing.assert_frame_equal(getattr(mapped, name), expected, obj=name)


# ---- monitoring: the webhook sample and the schedules ----

def webhook_sample() -> dict:
    """What ``b2bscore monitor`` posts when two segments start alerting and one recovers (the alert texts are
    those of a real check of a channel-shift world: tests/integration/test_monitoring_detection.py)."""
    from b2bscore.monitoring import alerts
    from b2bscore.monitoring.config import MonitorConfig
    from b2bscore.monitoring.result import Finding, MonitorResult, SegmentResult, TaskCheck

    def segment(column, value, status, *texts):
        findings = tuple(Finding("segment_share", "alert", text) for text in texts)
        return SegmentResult(column, value, 1200, 310, 0, (), None, None, status, findings)

    as_of, checked_at = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02 06:15:00")
    conversion = TaskCheck("conversion", "classification", "b2bscore-conversion", "3", None, "log",
                           as_of - pd.Timedelta(days=90), as_of, (), (
                               segment("all", "all", "warn"),
                               segment("lead_source", "paid_search", "alert",
                                       "share of the accounts scored went from 36.5% to 3.9% (x0.11, z -6.8)"),
                               segment("lead_source", "events", "alert",
                                       "share of the accounts scored went from 18.3% to 45.7% (x2.50, z 5.3)")))
    churn = TaskCheck("churn", "classification", "b2bscore-churn", "2", None, "log", as_of - pd.Timedelta(days=90),
                      as_of, (), (segment("all", "all", "ok"), segment("industry", "retail", "ok")))
    result = MonitorResult(as_of=as_of, checked_at=checked_at, config=MonitorConfig(), tasks=(conversion, churn))
    before = {"segments": {"churn/industry=retail": {"since": "2025-12-12T06:15:00", "announced": True,
                                                     "refreshed": True, "recovery_pending": False}}}
    events, _ = alerts.plan_alerts(before, result, checked_at.isoformat())
    report = "/srv/b2bscore/b2bscore-home/monitoring/runs/20260102T061500Z/summary.html"
    return json.loads(json.dumps(alerts.message(events, result, report), default=str))  # as posted: JSON


def test_the_webhook_sample_is_what_the_monitor_sends():
    payload = webhook_sample()
    if os.environ.get("B2BSCORE_WRITE_SAMPLES"):
        WEBHOOK_SAMPLE.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert json.loads(WEBHOOK_SAMPLE.read_text(encoding="utf-8")) == payload, (
        "the code now sends another payload: rerun with B2BSCORE_WRITE_SAMPLES=1 and review the difference")
    assert [e["kind"] for e in payload["events"]] == ["alert", "alert", "recovery"]


def _schedule_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted((ROOT / "monitoring" / "schedule").iterdir()):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".service":
            text = "\n".join(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart"))
        found += [(path.name, args) for args in b2bscore_invocations(text)]
    return found


def test_the_schedules_run_a_real_monitor_command():
    commands = _schedule_commands()
    assert {name for name, _ in commands} == {"crontab", "b2bscore-monitor.service"}
    for source in ("crontab", "b2bscore-monitor.service"):  # each scores (feeding the prediction log), then checks
        assert [check_b2bscore(args) for name, args in commands if name == source] == ["score", "monitor"], source
    timer = (ROOT / "monitoring" / "schedule" / "b2bscore-monitor.timer").read_text()
    assert "OnCalendar=" in timer and "WantedBy=timers.target" in timer


# ---- training: the tuning script still starts from its new place ----

def test_the_tuning_script_starts():
    done = subprocess.run([sys.executable, str(ROOT / "training" / "tune_lightgbm.py"), "--help"], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0 and "--task" in done.stdout, done.stderr[-2000:]
