"""``run_segmentation``: one versioned segmentation of every account as of a date, written atomically.

A version folder holds ``assignments.parquet``, ``features.parquet`` (what the next refresh diffs
against), ``profiles.json``, ``kpis.csv``, ``ranked_accounts.csv``, ``summary.html``, ``diff.json`` and
``segmentation.json`` (as-of date, config, fallback notes, the clustering choice). Everything is
computed first and written into a hidden temporary folder beside ``out_dir``, which is renamed into
place only when complete, so a failure leaves no half-written version.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.features import build_features, feature_specs
from b2bscore.segments.assign import Assignments, assign_segments
from b2bscore.segments.config import SegmentConfig, check_rule_columns
from b2bscore.segments.diff import SegmentDiff, diff_assignments
from b2bscore.segments.kpis import segment_kpis
from b2bscore.segments.report import ranked_accounts, summary_html

FILES: tuple[str, ...] = ("assignments.parquet", "features.parquet", "profiles.json", "kpis.csv",
                          "ranked_accounts.csv", "summary.html", "diff.json", "segmentation.json")


@dataclass(frozen=True)
class SegmentationResult:
    """What one run produced; ``out_dir`` holds it on disk. ``fallback`` / ``notes`` say when no model scores were used."""

    out_dir: Path
    as_of: pd.Timestamp
    assignments: Assignments
    kpis: pd.DataFrame
    ranked: pd.DataFrame
    diff: SegmentDiff | None
    manifest: dict[str, object]

    @property
    def fallback(self) -> bool:
        return self.assignments.fallback

    @property
    def notes(self) -> tuple[str, ...]:
        return self.assignments.notes


def run_segmentation(data: Dataset, as_of: pd.Timestamp | str, config: SegmentConfig, scores: pd.DataFrame | None,
                     out_dir: Path, previous_dir: Path | None = None) -> SegmentationResult:
    """Segment ``data`` as of ``as_of`` (features and KPIs use only data before it) into the new folder ``out_dir``.

    ``scores``: ``account_id`` with ``p_convert``, ``p_churn``, ``cltv_pred`` (None: fit-and-behaviour
    fallback). ``previous_dir``: an earlier version folder to compare with.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ConfigError(f"segmentation output {out_dir} already exists; versions are never overwritten, choose a new folder")
    as_of = pd.Timestamp(as_of)
    check_rule_columns(config, [s.name for s in feature_specs(config.features)] + ["account_id"])
    previous = _read_previous(previous_dir) if previous_dir is not None else None

    features = build_features(data, as_of=as_of, config=config.features)  # point-in-time: only data before as_of
    assignments = assign_segments(features, scores, config)
    kpis = segment_kpis(assignments.frame, data, as_of, config.kpis)
    diff = diff_assignments(previous[0], assignments.frame, previous[1], features) if previous else None
    tier_order = tuple(dict.fromkeys([r.label for r in config.tiers.rules] + [config.tiers.default]))
    ranked = ranked_accounts(assignments.frame, data.accounts, tier_order)
    page = summary_html(assignments.frame, kpis, assignments.profiles, as_of=as_of, notes=assignments.notes,
                        diff_text=diff.render() if diff else None)
    manifest = _manifest(as_of, config, assignments, kpis, previous_dir)
    _write_atomically(out_dir, {
        "assignments.parquet": lambda p: assignments.frame.to_parquet(p, index=False),
        "features.parquet": lambda p: features.to_parquet(p, index=False),
        "profiles.json": lambda p: _dump(p, [pr.to_dict() for pr in assignments.profiles]),
        "kpis.csv": lambda p: kpis.to_csv(p, index=False),
        "ranked_accounts.csv": lambda p: ranked.to_csv(p, index=False),
        "summary.html": lambda p: p.write_text(page, encoding="utf-8"),
        "diff.json": lambda p: _dump(p, diff.to_dict() if diff else {"previous": None, "note": "first version: nothing to compare"}),
        "segmentation.json": lambda p: _dump(p, manifest),
    })
    return SegmentationResult(out_dir=out_dir, as_of=as_of, assignments=assignments, kpis=kpis, ranked=ranked,
                              diff=diff, manifest=manifest)


def _read_previous(previous_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = [Path(previous_dir) / name for name in ("assignments.parquet", "features.parquet")]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"previous segmentation {previous_dir} lacks {', '.join(missing)}; pass a folder written by run_segmentation")
    return pd.read_parquet(paths[0]), pd.read_parquet(paths[1])


def _manifest(as_of: pd.Timestamp, config: SegmentConfig, assignments: Assignments, kpis: pd.DataFrame,
              previous_dir: Path | None) -> dict[str, object]:
    frame = assignments.frame
    return {
        "as_of": as_of.isoformat(),
        "accounts": len(frame),
        "fallback": assignments.fallback,
        "notes": list(assignments.notes),
        "tiers": {str(k): int(v) for k, v in frame["tier"].value_counts().sort_index().items()},
        "clustering": {"k": assignments.clustering.k, "criterion": assignments.clustering.criterion,
                       "scores": {str(k): v for k, v in assignments.clustering.scores.items()},
                       "features": list(config.clustering.features)},
        "kpi_window": {"start": kpis["window_start"].iloc[0].isoformat(), "end": kpis["window_end"].iloc[0].isoformat()}
        if len(kpis) else None,
        "flagged_segments": int(kpis["flagged"].sum()) if len(kpis) else 0,
        "previous": str(previous_dir) if previous_dir is not None else None,
        "config": config.model_dump(mode="json"),
    }


def _dump(path: Path, payload: object) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def _write_atomically(out_dir: Path, writers: dict) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        for name, write in writers.items():
            write(staging / name)
        staging.chmod(0o755)  # mkdtemp creates it private; a version folder is meant to be shared
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
