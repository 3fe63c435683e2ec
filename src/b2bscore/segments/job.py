"""``run_segment_job``: segment every account as of a date into a new version under the project home,
recorded as one MLflow run of the ``b2bscore-segments`` experiment.

Scores come from the registry's champions when there are any; without them the job falls back to
fit and behaviour only and says so (``SegmentJobResult.message``). The computation is ``segment_accounts``
(``segment.py``); the version is staged and published through the home's :class:`SegmentStore` (``store.py``),
so it appears in ``home/segments/<version>/`` only when complete, with ``diff.txt`` and ``manifest.json`` added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from b2bscore import __version__
from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset
from b2bscore.data.mapping import MappingConfig
from b2bscore.features import feature_specs
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.model.champions import account_scores, load_champions
from b2bscore.model.tracking import (
    TrackingConfig,
    activate,
    ensure_experiment,
    owner_tags,
    resolve_tracking,
    settle_abandoned_runs,
)
from b2bscore.segments.config import SegmentConfig, check_rule_columns, load_segment_config
from b2bscore.segments.diff import SegmentDiff
from b2bscore.segments.segment import SegmentationResult, segment_accounts
from b2bscore.segments.store import (
    CALLS_CUSTOMERS,
    CALLS_PROSPECTS,
    CAMPAIGNS,
    KPIS,
    MANIFEST,
    RANKED,
    SUMMARY,
    SegmentStore,
    StagedVersion,
)

SEGMENTS_EXPERIMENT = "b2bscore-segments"
MANUAL_TRIGGER = "manual"


@dataclass(frozen=True)
class SegmentJobResult:
    """One segmentation version: where it is, what it was compared with, and the MLflow run that records it.

    ``used_models``: task -> registered version of the champion that scored it (empty in fallback).
    ``message``: what the user must know about the scores (the fallback, or a missing model), else None.
    """

    version: str
    version_dir: Path
    previous_version: str | None
    segmentation: SegmentationResult
    run_id: str
    experiment_id: str
    tracking: str
    used_models: dict[str, str]
    model_names: dict[str, str]
    fallback: bool
    message: str | None
    trigger: str
    manifest: dict[str, object]

    @property
    def as_of(self) -> pd.Timestamp:
        return self.segmentation.as_of

    @property
    def diff(self) -> SegmentDiff | None:
        """What moved since ``previous_version`` (None for the first version)."""
        return self.segmentation.diff

    @property
    def ranked_path(self) -> Path:
        """The ranked accounts, for CRM import."""
        return self.version_dir / RANKED

    @property
    def prospects_path(self) -> Path:
        """The prospects' call list: ranked by the expected value of winning them, with the lead to call."""
        return self.version_dir / CALLS_PROSPECTS

    @property
    def customers_path(self) -> Path:
        """The customers' call list: ranked by revenue at risk, with expansion candidates marked."""
        return self.version_dir / CALLS_CUSTOMERS

    @property
    def summary_path(self) -> Path:
        """The HTML summary sales teams open."""
        return self.version_dir / SUMMARY

    @property
    def kpis_path(self) -> Path:
        return self.version_dir / KPIS

    @property
    def campaigns_path(self) -> Path:
        """Campaign ROI per campaign and per campaign x segment (header only without a campaigns table)."""
        return self.version_dir / CAMPAIGNS

    def tier_counts(self) -> dict[str, int]:
        """Accounts per tier, in tier order."""
        return {str(k): int(v) for k, v in self.segmentation.assignments.frame["tier"].value_counts().sort_index().items()}


def run_segment_job(data_dir: Path, *, home: ProjectHome, as_of: pd.Timestamp | str | None = None,
                    config_path: Path | None = None, mapping: MappingConfig | None = None, trigger: str | None = None,
                    progress: Progress = no_progress) -> SegmentJobResult:
    """Load ``data_dir`` (through ``mapping``) and segment it as :func:`run_segment_dataset` does."""
    config = load_segment_config(config_path)
    check_segment_config(config)  # before the (slower) load: a misspelled rule fails at once
    progress("load data", 0.0)
    dataset, _ = load_dataset(Path(data_dir), mapping)
    return run_segment_dataset(dataset, home=home, as_of=as_of, config=config, trigger=trigger, progress=progress)


def run_segment_dataset(dataset: Dataset, *, home: ProjectHome, as_of: pd.Timestamp | str | None = None,
                        config: SegmentConfig = SegmentConfig(), trigger: str | None = None,
                        progress: Progress = no_progress, created_at: datetime | None = None) -> SegmentJobResult:
    """Segment ``dataset`` as known before ``as_of`` (default: the end of the data) into a new version.

    ``trigger`` says why the job ran (e.g. ``"drift alert: segment Tier 1 / industry=software"``); it is
    recorded in the manifest and as the run's ``segments.trigger`` tag (``"manual"`` when None).
    ``created_at`` (default: now) dates the version id.
    """
    check_segment_config(config)
    as_of = dataset.resolve_as_of(as_of, purpose="segments")
    known = dataset.known_before(as_of)
    store = SegmentStore.of(home)
    previous = store.latest()
    tracking = resolve_tracking(home)
    client = activate(tracking)
    progress("score", 0.1)
    scores, champions, message = _model_scores(client, known, as_of, tracking)
    created_at = created_at or datetime.now(timezone.utc)
    progress("segment", 0.3)
    result = segment_accounts(known, as_of, config, scores, previous=None if previous is None else store.snapshot(previous),
                              outcomes=dataset)  # only the tier backtest reads what happened after as_of
    message = message or ("; ".join(result.notes) if result.notes else None)
    progress("record", 0.85)
    experiment_id = ensure_experiment(SEGMENTS_EXPERIMENT, tracking)
    version = store.new_version_id(created_at)
    header = {"version": version, "created_at": created_at.isoformat(), "as_of": as_of.isoformat(),
              "trigger": trigger or MANUAL_TRIGGER, "previous_version": previous, "data_digest": known.digest(),
              "models": champions, "fallback": result.fallback, "message": message}
    with store.stage(version) as staged:
        run_id = _record(client, experiment_id, header, result, config, staged)
    progress("done", 1.0)
    return SegmentJobResult(
        version=version, version_dir=store.path(version), previous_version=previous, segmentation=result,
        run_id=run_id, experiment_id=experiment_id, tracking=tracking.describe(),
        used_models={t: m["version"] for t, m in champions.items()},
        model_names={t: m["name"] for t, m in champions.items()}, fallback=result.fallback, message=message, trigger=header["trigger"], manifest=store.manifest(version))


def check_segment_config(config: SegmentConfig) -> None:
    """Raise :class:`ConfigError` when a rule or cluster feature names a column the features do not have."""
    check_rule_columns(config, [s.name for s in feature_specs(config.features)] + ["account_id"])


def _model_scores(client: MlflowClient, known: Dataset, as_of: pd.Timestamp,
                  tracking: TrackingConfig) -> tuple[pd.DataFrame | None, dict[str, dict[str, str | None]], str | None]:
    """Account scores from the champions, what was used (task -> name, version, run id), and a message for the user."""
    champions = load_champions(client)
    if not champions:
        return None, {}, (f"no champion models in {tracking.describe()}: tiers use fit and behaviour only (propensity "
                          "from recent behaviour and intent, value from revenue and look-alike customers); train them "
                          "with `b2bscore train all --data DIR` to tier on model scores")
    scored = account_scores(known, as_of, champions)
    used = {t: {"name": c.name, "version": c.version, "run_id": c.run_id} for t, c in champions.items()}
    message = None
    if scored.missing:
        message = (f"no champion for {', '.join(scored.missing)}: those scores use the fit-and-behaviour fallback; "
                   f"train it with `b2bscore train {scored.missing[0]} --data DIR`")
    return scored.frame, used, message


def _record(client: MlflowClient, experiment_id: str, header: dict[str, object], result: SegmentationResult,
            config: SegmentConfig, staged: StagedVersion) -> str:
    """Write the version's files, log everything as one run, then publish the version (all or nothing)."""
    settle_abandoned_runs(client)  # runs of killed jobs left RUNNING are marked FAILED
    run = client.create_run(experiment_id, run_name=f"segments-{header['version']}", tags=owner_tags())
    run_id = run.info.run_id
    try:
        staged.write_segmentation(result)
        diff = result.diff
        staged.write_diff_text(diff.render(limit=50) if diff else "first version: nothing to compare")
        staged.write_manifest({**header, "mlflow_run_id": run_id, "experiment": SEGMENTS_EXPERIMENT,
                               **{k: v for k, v in result.manifest.items() if k != "previous"},
                               "files": staged.files() + [MANIFEST]})
        stamp = int(datetime.fromisoformat(str(header["created_at"])).timestamp() * 1000)
        client.log_batch(run_id, metrics=_metrics(result, stamp), params=_params(result, config), tags=_tags(header))
        client.log_artifacts(run_id, str(staged.folder))
        staged.publish()
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def _params(result: SegmentationResult, config: SegmentConfig) -> list[Param]:
    clustering = config.clustering
    values = {
        "as_of": result.as_of.isoformat(), "k": result.assignments.clustering.k,
        "k_requested": clustering.k if clustering.k is not None else f"auto {clustering.k_min}-{clustering.k_max}",
        "cluster_method": clustering.method, "cluster_criterion": clustering.criterion,
        "cluster_features": ",".join(clustering.features), "cluster_seed": clustering.seed,
        "quantile_scope": config.quantile_scope, "kpi_window_days": config.kpis.window_days,
        "kpi_min_segment_size": config.kpis.min_segment_size, "kpi_alpha": config.kpis.alpha,
        "kpi_min_customers": config.kpis.min_customers, "backtest_days": config.kpis.backtest_days,
        "tier_rules": ",".join(r.name for r in config.tiers.rules), "reasons": config.reasons,
        "kpi_accounts_are_market": config.kpis.accounts_are_market, "attribution_rule": config.attribution.rule,
        "attribution_lookback_days": config.attribution.lookback_days,
        "attribution_unattributed_split": config.attribution.unattributed_split,
    }
    return [Param(k, str(v)) for k, v in values.items()]


def _metrics(result: SegmentationResult, stamp: int) -> list[Metric]:
    frame, kpis, diff = result.assignments.frame, result.kpis, result.diff
    values: dict[str, float] = {"accounts": len(frame), "clusters": result.assignments.clustering.k,
                                "segments": len(kpis), "flagged_segments": int(kpis["flagged"].sum()) if len(kpis) else 0}
    for tier, count in frame["tier"].value_counts().items():
        values[f"accounts_{_key(tier)}"] = int(count)
    backtest = result.backtest
    if backtest is not None and backtest.available:
        for row in backtest.rows.itertuples(index=False):
            for name in ("conversion_rate", "revenue_per_account", "churn_rate"):
                if np.isfinite(getattr(row, name)):
                    values[f"backtest_{name}_{_key(row.tier)}"] = float(getattr(row, name))
    if diff is not None:
        values["moved_accounts"] = diff.moved["account_id"].nunique()
        values.update({f"moved_{kind}": count for kind, count in diff.moved_counts.items()})
        values["new_accounts"], values["removed_accounts"] = len(diff.new_accounts), len(diff.removed_accounts)
    return [Metric(k, float(v), stamp, 0) for k, v in values.items()]


def _tags(header: dict[str, object]) -> list[RunTag]:
    tags = {"b2bscore.version": __version__, "segments.version": header["version"],
            "segments.as_of": header["as_of"], "segments.trigger": header["trigger"],
            "segments.previous_version": header["previous_version"] or "none",
            "segments.fallback": str(header["fallback"]).lower(), "data.digest": header["data_digest"]}
    for task, model in header["models"].items():
        tags[f"model.{task}"] = f"{model['name']} v{model['version']}"
        tags[f"model.{task}.version"] = model["version"]
    return [RunTag(k, str(v)) for k, v in tags.items()]


def _key(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(label).lower()).strip("_")
