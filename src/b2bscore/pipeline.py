"""The main job on embedded defaults: generate a world, validate it, build features, train and register
the three models, segment the accounts on their scores, score open leads and accounts for CRM import, check
the champions for drift per segment (monitoring), summarise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from b2bscore.data.load import load_dataset
from b2bscore.data.report import ValidationReport
from b2bscore.errors import ConfigError
from b2bscore.features import FeatureConfig, build_features, feature_specs, resolve_custom_features
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.io import write_table
from b2bscore.model.tasks import TASK_NAMES
from b2bscore.segments.job import SegmentJobResult, run_segment_dataset
from b2bscore.segments.store import SegmentStore
from b2bscore.serving.batch import BatchResult, score_dataset
from b2bscore.synth import WorldConfig, WorldSummary, generate_world
from b2bscore.training.config import TrainConfig
from b2bscore.training.job import train_dataset
from b2bscore.training.train import TrainResult


@dataclass(frozen=True)
class DemoResult:
    home: Path
    world: WorldSummary
    report: ValidationReport
    as_of: pd.Timestamp
    features_path: Path
    features: pd.DataFrame
    models: list[TrainResult]
    segments: SegmentJobResult | None = None
    scores: BatchResult | None = None
    monitoring: object | None = None  # b2bscore.monitoring.job.MonitorRun
    trained_as_of: pd.Timestamp | None = None  # before the drift date in a drifted world; the world's end otherwise
    feature_config: FeatureConfig = FeatureConfig()  # the features' configuration, custom columns resolved

    def summary_rows(self) -> list[tuple[str, str]]:
        """The short summary the CLI prints: what was built and what it looks like."""
        f = self.features
        specs = [s for s in feature_specs(self.feature_config) if s.model_input]
        families = pd.Series([s.family for s in specs]).value_counts()
        return [
            ("world", f"{self.world.out_dir}  ({', '.join(f'{k} {v:,}' for k, v in self.world.row_counts.items())})"),
            ("validation", "ok" if self.report.ok else "FAILED"),
            *([("drift", f"{self.world.drift['kind']} from {self.world.drift['start_date']}: "
                         f"{self.world.drift['description']}"),
               ("trained as of", f"{self.trained_as_of.date()} (the data known before the drift; models and first "
                                 "segmentation)")] if self.world.drift and self.trained_as_of is not None else []),
            ("as of", str(self.as_of.date()) + (" (scores and the monitoring check)" if self.world.drift else "")),
            ("features", f"{len(f):,} accounts x {len(specs)} model features "
                         f"({', '.join(f'{n} {fam}' for fam, n in families.items())}) -> {self.features_path}"),
            ("customers", f"{f['is_customer'].mean():.1%} of accounts are paying customers"),
            ("ICP fit", f"median {f['icp_fit_score'].median():.0f}/100; "
                        f"{(f['icp_fit_score'] >= 75).mean():.1%} score 75 or more"),
            ("intent", f"{(f['intent_surging_topics'] > 0).mean():.1%} of accounts surge on at least one topic"),
            ("engaged (30d)", f"{(f['activity_total_30d'] > 0).mean():.1%} of accounts had activity in the last 30 days"),
            *[(f"model: {r.task}", _model_line(r)) for r in self.models],
            *(_segment_rows(self.segments) if self.segments is not None else []),
            *(_score_rows(self.scores) if self.scores is not None else []),
            *(_monitor_rows(self.monitoring, SegmentStore.of(ProjectHome(self.home)))
              if self.monitoring is not None else []),
        ]


def _monitor_rows(run, segments: SegmentStore) -> list[tuple[str, str]]:
    result = run.result
    parts = [f"{check.task}: {check.status_summary()}" for check in result.tasks]
    rows = [("monitoring", f"{result.status} ({'; '.join(parts)}) -> {run.folder / 'summary.html'}")]
    alerting = result.segments_with("alert")
    if alerting:
        shown = [f"{t.task} {s.name}: " + next((f.text for f in s.findings if f.level == "alert"), "alert")
                 for t, s in alerting[:6]]
        rows.append(("alerts", "; ".join(shown) + (f"; and {len(alerting) - 6} more" if len(alerting) > 6 else "")))
    refresh = run.refresh
    if refresh.segment_version:
        rows.append(("refreshed segments", f"version {refresh.segment_version}{_refresh_changes(segments, refresh.segment_version)}"
                                           f" (trigger recorded: {refresh.trigger})"))
    for line in refresh.retrained:
        rows.append(("retrained", line))
    for error in refresh.errors:
        rows.append(("refresh failed", error))
    return rows


def _check_same_world(home: ProjectHome, config: WorldConfig) -> None:
    """A home holds one demo world: its registered models and segments were made from it. Running the demo of
    another world there (e.g. ``--drift`` after the main demo) would check the old world's models against the new
    one; refuse, naming both, rather than mix them."""
    record = home.world_dir / "truth" / "world.json"
    if not record.is_file():
        return
    try:
        before = WorldConfig.model_validate(json.loads(record.read_text(encoding="utf-8"))["config"])
    except (ValueError, KeyError, TypeError):
        return  # not a world this version wrote: it is regenerated
    if before != config:
        raise ConfigError(f"{home.root} holds the demo of another world ({_describe(before)}), whose models and "
                          f"segments would be mixed with this one ({_describe(config)}); run it with --home and a new "
                          f"folder, or delete {home.root}")


def _describe(config: WorldConfig) -> str:
    return (f"{config.accounts:,} accounts, seed {config.seed}, {config.months} months from {config.start}, "
            + (f"drift {config.drift}" if config.drift else "no drift"))


def _tier_text(tier_counts: dict) -> str:
    return ", ".join(f"{tier} {count:,}" for tier, count in tier_counts.items())


def _moved_text(count: int, previous: str) -> str:
    return f"; {count:,} accounts changed tier since {previous} (`b2bscore segment-diff`)"


def _refresh_changes(store: SegmentStore, version: str) -> str:
    """``": Tier 1 482, ...; 360 accounts changed tier since <previous>"`` from the stored version."""
    tiers = _tier_text(dict(store.manifest(version).get("tiers") or {}))
    diff = store.diff_summary(version)
    moved = _moved_text(diff.moved_counts.get("tier", 0), diff.previous_version) if diff is not None else ""
    return f": {tiers}{moved}" if tiers else moved


def _score_rows(result: BatchResult) -> list[tuple[str, str]]:
    return [("scores (CRM import)", f"{result.leads:,} open leads -> {result.leads_path}; "
                                    f"{result.accounts:,} accounts -> {result.accounts_path}; "
                                    "every score logged for monitoring")]


def _segment_rows(result: SegmentJobResult) -> list[tuple[str, str]]:
    clustering = result.segmentation.assignments.clustering
    scores = ("fit and behaviour only (no champion models)" if result.fallback
              else "scores of " + ", ".join(f"{t} v{v}" for t, v in result.used_models.items()))
    moved = "" if result.diff is None else _moved_text(result.diff.moved_counts.get("tier", 0), result.previous_version)
    calls = result.segmentation.calls
    return [
        ("segments", f"version {result.version}: {_tier_text(result.tier_counts())}; {clustering.k} data-driven "
                     f"segments; {scores}{moved}"),
        *([("call first (prospects)", _call_first(calls.prospects)),
           ("keep (customers at risk)", _keep_first(calls.customers))] if calls is not None else []),
        ("prospects' call list", str(result.prospects_path)),
        ("customers' call list", str(result.customers_path)),
        ("ranked accounts", str(result.ranked_path)),
        ("segment summary", str(result.summary_path)),
    ]


def _call_first(prospects: pd.DataFrame, top: int = 3) -> str:
    """The top of the prospects' call list: company, chance to win, expected value, the lead to call."""
    if prospects.empty:
        return "no prospects"
    parts = []
    for row in prospects.head(top).itertuples():
        lead = f", call lead {row.lead_to_call}" if isinstance(row.lead_to_call, str) else ", no open lead"
        parts.append(f"{row.company or row.account_id} ({row.chance_to_win:.0%} to win, expected "
                     f"${row.expected_value:,.0f}{lead})")
    return "; ".join(parts)


def _keep_first(customers: pd.DataFrame, top: int = 3) -> str:
    """The top of the customers' call list: company, churn risk, revenue at risk."""
    if customers.empty:
        return "no customers"
    return "; ".join(f"{row.company or row.account_id} ({row.churn_risk:.0%} churn risk, ${row.value_at_risk:,.0f} at risk"
                     + (", growing" if row.expansion == "yes" else "") + ")" for row in customers.head(top).itertuples())


def _model_line(result: TrainResult) -> str:
    d, m = result.decision, result.metrics
    metric = d.metric.removeprefix("test_")
    oracle = m.get(f"oracle_test_{metric}")
    figures = f"{metric} {m[d.metric]:.3f} (baseline {m.get(f'baseline_test_{metric}', float('nan')):.3f}" + (
        f", oracle {oracle:.3f})" if oracle is not None else ")")
    if "test_ece" in m:
        figures += f", ECE {m['test_ece']:.3f}"
    return (f"v{d.version} {'champion' if d.promoted else 'challenger'}, {result.candidate}: {figures}; "
            f"{result.candidate_reason}; {d.reason}")


DEMO_MONTHS = 36
DRIFT_DEMO_START, DRIFT_DEMO_MONTHS = date(2021, 1, 1), 60
"""A drifted demo world starts earlier and ends when the main demo's does: its models train on the data before the
drift date (two thirds in, May 2024), and the CLTV model's out-of-time split needs years of snapshots whose
one-year outcomes are known by then."""


def run_demo(home: ProjectHome, *, accounts: int = 2000, seed: int = 42, months: int | None = None,
             drift: str | None = None, train_config: TrainConfig | None = None,
             progress: Progress = no_progress) -> DemoResult:
    """Generate a synthetic world under ``home`` and run the whole loop on it: validate, build account features as
    of its end, train and register the models, segment the accounts, score them, check the champions.

    With ``drift`` (a :data:`DRIFT_KINDS` name) the world changes from its drift date on, and the loop replays what
    happens in production: the models are trained and the accounts segmented on the data known before the drift
    date, the accounts are scored at the world's end, and the check -- which alerts on the segments the drift
    touched -- refreshes the segmentation (its trigger recorded) and retrains the alerting models, whose new
    versions stay challengers.
    """
    from b2bscore.monitoring.config import MonitorConfig, RefreshConfig
    from b2bscore.monitoring.job import run_monitor  # imports Evidently: only when the demo gets here

    config = WorldConfig(accounts=accounts, seed=seed, months=months or (DRIFT_DEMO_MONTHS if drift else DEMO_MONTHS),
                         drift=drift, **({"start": DRIFT_DEMO_START} if drift else {}))
    _check_same_world(home, config)
    world = generate_world(config, home.world_dir, progress=lambda step, f: progress(f"generate: {step}", 0.45 * f))
    progress("validate", 0.45)
    dataset, report = load_dataset(home.world_dir, now=pd.Timestamp(world.end))
    progress("features", 0.5)
    as_of = pd.Timestamp(world.end)
    feature_config = resolve_custom_features(dataset, FeatureConfig(), as_of)  # the customer's own columns, if any
    features = build_features(dataset, as_of=as_of, config=feature_config)
    path = write_table(features, home.features_dir / "accounts.parquet")
    trained_as_of = pd.Timestamp(str(world.drift["start_date"])) if world.drift else as_of
    known = dataset.known_before(trained_as_of) if world.drift else dataset
    models = train_dataset(TASK_NAMES, known, config=train_config or TrainConfig(), home=home, truth_dir=home.world_dir / "truth",
                           progress=lambda step, f: progress(f"train: {step}", 0.55 + 0.2 * f))
    trigger = "b2bscore demo" + (f" --drift {drift}: the segmentation before the drift" if drift else "")
    segments = run_segment_dataset(known, home=home, as_of=trained_as_of, trigger=trigger,
                                   progress=lambda step, f: progress(f"segment: {step}", 0.75 + 0.04 * f))
    scores = score_dataset(dataset, home.scores_dir / "scores.csv", home=home,
                           progress=lambda step, f: progress(f"score: {step}", 0.79 + 0.02 * f))
    monitor_config = MonitorConfig(refresh=RefreshConfig(segments=True, retrain=drift is not None))
    monitoring = run_monitor(home.world_dir, home=home, config=monitor_config,
                             progress=lambda step, f: progress(f"monitor: {step}", 0.81 + 0.19 * f))
    progress("done", 1.0)
    return DemoResult(home=home.root, world=world, report=report, as_of=as_of, features_path=path, features=features,
                      models=models, segments=segments, scores=scores, monitoring=monitoring, trained_as_of=trained_as_of,
                      feature_config=feature_config)
