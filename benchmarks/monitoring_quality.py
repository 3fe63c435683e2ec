"""Benchmark: is each drift kind detected in the segments it touched, from its date, while untouched segments
stay ok; and how often does a world without drift raise an alert?

Protocol: generate a world without drift, train the three champions on it, segment it as of its end. Then

* ``drift``: generate the same world (same seed) with ``--drift KIND`` -- identical to the trained-on world
  before the drift date, changed after it -- and check it at several dates around the drift date;
* ``null``: for each seed, check the trained-on world itself at its end (the same process, no drift).

Checks go through ``check_task``, the judgement ``b2bscore monitor`` makes, without writing the HTML reports.
A segment is *touched* when at least half of its accounts are ones the drift changes (from ``truth/``:
healthcare accounts for industry_mix, the planted smb_services segment for price_change, every account for
intent_decay; for channel_shift the paid_search and events lead sources) and *untouched* when at most 10% are.

Usage::

    python benchmarks/monitoring_quality.py drift --seed 1 --out /tmp/monq      # 4 drift kinds x 6 dates
    python benchmarks/monitoring_quality.py null --seeds 1-20 --out /tmp/monq   # false alarms
    python benchmarks/monitoring_quality.py report --out /tmp/monq              # the tables in BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("industry_mix", "channel_shift", "intent_decay", "price_change")
DATES = ("2024-12-01", "2025-02-01", "2025-06-01", "2025-08-01", "2025-10-01", "2026-01-01")
"""Around the drift date (2025-01-01). 1 March, April and May are left out: there, revenue_90d counts three monthly
invoices instead of two (the 90 days before them span three month starts), in every world -- the monitor rightly
flags that the CLTV model sees revenue it was not trained on, but it is a calendar effect, not a market move."""
SHIFTED_SOURCES = ("paid_search", "events")
TRAIN = {"conversion": {"min_positives": 10}, "propensity": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
         "lightgbm": {"max_rounds": 300, "early_stopping_rounds": 30}, "candidates": {"confidence": 0.6}}
FIXED = ("all", "industry", "region", "size_band", "lead_source")


def _quiet() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore")
    import mlflow  # noqa: F401  (it configures its loggers on import; quiet them afterwards)

    for name in ("mlflow", "alembic", "b2bscore"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _trained(root: Path, seed: int, accounts: int, months: int):
    """The no-drift world of ``seed``, its champions and a segmentation, built once under ``root``."""
    from b2bscore.data.load import load_dataset
    from b2bscore.home import ProjectHome
    from b2bscore.segments.job import run_segment_dataset
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.job import train_tasks

    base, home = root / f"seed{seed}" / "base", ProjectHome(root / f"seed{seed}" / "home")
    if not (home.root / "done").exists():
        shutil.rmtree(base.parent, ignore_errors=True)
        started = time.perf_counter()
        generate_world(WorldConfig(accounts=accounts, seed=seed, months=months), base)
        train_tasks("all", base, config=TrainConfig.model_validate(TRAIN), home=home)
        run_segment_dataset(load_dataset(base)[0], home=home)
        (home.root / "done").write_text("")
        print(f"seed {seed}: generated, trained and segmented in {time.perf_counter() - started:.0f} s", flush=True)
    return base, home


def _touched(world: Path, kind: str | None, assignments: pd.DataFrame | None) -> pd.DataFrame:
    """One row per account: its segment labels and whether the drift changes it."""
    from b2bscore.features.firmographic import SIZE_BANDS, band

    accounts = pd.read_parquet(world / "accounts.parquet")
    truth = pd.read_parquet(world / "truth" / "segments.parquet")[["account_id", "planted_segment"]]
    frame = accounts[["account_id", "industry", "region", "employees"]].merge(truth, on="account_id")
    frame["size_band"] = band(frame["employees"].to_numpy(dtype=float), SIZE_BANDS)
    if assignments is not None:
        frame = frame.merge(assignments[["account_id", "tier", "cluster_name"]], on="account_id", how="left")
    touched = {"industry_mix": frame["industry"] == "healthcare", "price_change": frame["planted_segment"] == "smb_services",
               "intent_decay": pd.Series(True, index=frame.index), None: pd.Series(False, index=frame.index)}
    # channel_shift changes leads, not accounts: every account's lead mix moves a little, so account segments are
    # neither touched nor untouched (its segments are the lead sources, see _share)
    frame["touched"] = touched.get(kind, pd.Series(np.nan, index=frame.index)).astype(float)
    return frame


def _share(frame: pd.DataFrame, column: str, value: str, kind: str | None) -> float:
    if column == "lead_source":  # leads, not accounts: channel_shift changes exactly the shifted sources
        return float(value in SHIFTED_SOURCES) if kind == "channel_shift" else float(frame["touched"].mean())
    if column == "all":
        return float(frame["touched"].mean())
    if column not in frame:
        return float("nan")
    mine = frame[frame[column].astype(str) == value]
    return float(mine["touched"].mean()) if len(mine) else float("nan")


def _check(world: Path, home, kind: str | None, dates: tuple[str, ...], seed: int) -> list[dict]:
    from b2bscore.model.champions import load_champions
    from b2bscore.data.load import load_dataset
    from b2bscore.monitoring.check import check_task
    from b2bscore.monitoring.config import MonitorConfig
    from b2bscore.monitoring.reference import load_reference
    from b2bscore.model.tracking import activate, resolve_tracking
    from b2bscore.segments.store import SegmentStore

    champions = load_champions(activate(resolve_tracking(home)))
    references = {t: load_reference(c) for t, c in champions.items()}
    assignments = SegmentStore.of(home).labels()
    touched = _touched(world, kind, assignments.frame)
    data = load_dataset(world)[0]
    config = MonitorConfig(source="data")
    rows = []
    for date in dates:
        as_of = pd.Timestamp(date)
        known = data.known_before(as_of)
        for task, champion in champions.items():
            started = time.perf_counter()
            check, _ = check_task(champion, known, as_of=as_of, now=as_of, config=config, assignments=assignments,
                                  reference=references[task])
            for s in check.segments:
                rows.append({"seed": seed, "kind": kind or "none", "as_of": date, "task": task, "segment": s.name,
                             "column": s.column, "status": s.status, "current_rows": s.current_rows,
                             "matured_rows": s.matured_rows, "touched_share": _share(touched, s.column, s.value, kind),
                             "findings": [f"{f.level} {f.rule}: {f.text}" for f in s.findings]})
            print(f"  seed {seed} {kind or 'no drift'} as of {date} {task}: {check.status} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    return rows


def run_drift(args) -> None:
    from b2bscore.synth import WorldConfig, generate_world

    base, home = _trained(args.out, args.seed, args.accounts, args.months)
    for kind in args.kinds:
        path = args.out / f"drift-{kind}-seed{args.seed}.json"
        if path.exists():
            continue
        world = args.out / f"seed{args.seed}" / kind
        if not (world / "accounts.parquet").exists():
            generate_world(WorldConfig(accounts=args.accounts, seed=args.seed, months=args.months, drift=kind), world)
        rows = _check(world, home, kind, tuple(args.dates), args.seed)
        path.write_text(json.dumps(rows, default=str) + "\n")


def run_null(args) -> None:
    for seed in args.seeds:
        path = args.out / f"null-seed{seed}.json"
        if path.exists():
            continue
        base, home = _trained(args.out, seed, args.accounts, args.months)
        path.write_text(json.dumps(_check(base, home, None, (args.null_date,), seed), default=str) + "\n")
        if not args.keep:
            shutil.rmtree(args.out / f"seed{seed}", ignore_errors=True)


def _frame(out: Path, prefix: str) -> pd.DataFrame:
    rows = [r for path in sorted(out.glob(f"{prefix}-*.json")) for r in json.loads(path.read_text())]
    return pd.DataFrame(rows)


def report(args) -> None:
    drift, null = _frame(args.out, "drift"), _frame(args.out, "null")
    if len(drift):
        _report_drift(drift)
    if len(null):
        _report_null(null)


_SHORT = {"conversion": "conv", "churn": "churn", "cltv": "cltv"}


def _cell(group: pd.DataFrame) -> str:
    """The worst status of a segment on one date across the models, and which models reached it."""
    from b2bscore.monitoring.result import worst as worst_of

    worst = worst_of(group["status"])
    if worst in ("ok", "not_judged"):
        return worst.replace("_", " ")
    models = ", ".join(_SHORT[t] for t in group.loc[group["status"] == worst, "task"])
    return f"**alert** ({models})" if worst == "alert" else f"warn ({models})"


def _report_drift(frame: pd.DataFrame) -> None:
    from b2bscore.monitoring.config import MonitorConfig
    from b2bscore.monitoring.result import worst

    min_rows = MonitorConfig().segments.min_rows
    fixed = frame[frame["column"].isin(FIXED)]
    dates = sorted(frame["as_of"].unique())
    print("\n#### Touched segments: the worst status over the three models, by check date (drift from 2025-01-01)\n")
    print("| drift kind | seed | segment | touched | " + " | ".join(dates) + " |")
    print("|---|---:|---|---:|" + "---|" * len(dates))
    for (kind, seed), group in fixed.groupby(["kind", "seed"], sort=False):
        touched = group[group["touched_share"] >= 0.5]
        for segment, seg in touched.groupby("segment", sort=False):
            cells = [_cell(seg[seg["as_of"] == d]) if (seg["as_of"] == d).any() else "-" for d in dates]
            print(f"| {kind} | {seed} | {segment} | {seg['touched_share'].max():.0%} | " + " | ".join(cells) + " |")
    print("\n#### Touched segments by date: alert / warn / ok, worst status over the models (in brackets: of the ok, "
          f"those with fewer than {min_rows} current rows, judged on their share only)\n")
    print("| drift kind | seed | " + " | ".join(dates) + " |")
    print("|---|---:|" + "---|" * len(dates))
    for (kind, seed), group in fixed.groupby(["kind", "seed"], sort=False):
        touched = group[group["touched_share"] >= 0.5]
        worst_rows = touched.groupby(["as_of", "segment"]).agg(status=("status", worst),
                                                         rows=("current_rows", "max")).reset_index()
        cells = []
        for d in dates:
            on = worst_rows[worst_rows["as_of"] == d]
            small = int(((on["status"] == "ok") & (on["rows"] < min_rows)).sum())
            counts = " / ".join(str(int((on["status"] == s).sum())) for s in ("alert", "warn", "ok"))
            cells.append(f"{counts} ({small})" if len(on) else "-")
        print(f"| {kind} | {seed} | " + " | ".join(cells) + " |")
    print("\n#### Untouched segments (at most 10% of accounts changed): segment checks over all models and dates\n")
    print("| drift kind | before the drift date: ok / warn / alert | after: ok / warn / alert | not judged |")
    print("|---|---|---|---:|")
    for kind, group in fixed.groupby("kind", sort=False):
        untouched = group[group["touched_share"] <= 0.1]
        before, after = untouched[untouched["as_of"] < "2025-01-01"], untouched[untouched["as_of"] >= "2025-01-01"]
        count = lambda f: " / ".join(str(int((f["status"] == s).sum())) for s in ("ok", "warn", "alert"))  # noqa: E731
        print(f"| {kind} | {count(before)} | {count(after)} | {int((untouched['status'] == 'not_judged').sum())} |")
    for row in fixed[(fixed["touched_share"] <= 0.1) & (fixed["status"] == "alert")].itertuples():
        print(f"  untouched alert: {row.kind} seed {row.seed} {row.as_of} {row.task} {row.segment}: {'; '.join(row.findings)}")


def _report_null(frame: pd.DataFrame) -> None:
    worlds = frame.groupby("seed")
    alerting = [seed for seed, g in worlds if (g["status"] == "alert").any()]
    warning = [seed for seed, g in worlds if (g["status"] == "warn").any()]
    judged = frame[frame["status"] != "not_judged"]
    print(f"\n#### No-drift worlds: {worlds.ngroups} seeds, {len(judged)} judged segment checks "
          f"({len(judged) // max(worlds.ngroups, 1)} per world)\n")
    print(f"- worlds with at least one alert: {len(alerting)} of {worlds.ngroups}" + (f" (seeds {alerting})" if alerting else ""))
    print(f"- worlds with at least one warning: {len(warning)} of {worlds.ngroups}")
    counts = judged["status"].value_counts()
    print("- judged segment checks: " + ", ".join(f"{s} {int(counts.get(s, 0))}" for s in ("ok", "warn", "alert")))
    rules = pd.Series([f.split(":")[0] for fs in judged["findings"] for f in fs]).value_counts()
    print("- rules that fired: " + ", ".join(f"{k} {v}" for k, v in rules.items()))
    for row in frame[frame["status"] == "alert"].itertuples():
        print(f"  alert: seed {row.seed} {row.task} {row.segment}: {'; '.join(row.findings)}")


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("drift", "null", "report"))
    parser.add_argument("--out", type=Path, required=True, help="folder for the worlds, homes and results (resumable)")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=1, help="drift: the world's seed")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--dates", nargs="+", default=list(DATES), help="drift: check dates (the drift starts 2025-01-01)")
    parser.add_argument("--seeds", type=_seeds, default=list(range(1, 21)), help="null: e.g. 1-20 or 1,2,3")
    parser.add_argument("--null-date", default="2026-01-01")
    parser.add_argument("--keep", action="store_true", help="null: keep each seed's world and home")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    _quiet()
    np.seterr(all="ignore")
    {"drift": run_drift, "null": run_null, "report": report}[args.step](args)


if __name__ == "__main__":
    main()
