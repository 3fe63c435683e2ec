"""Benchmark: do the call lists and tiers order what happens next? A backtest on a generated world.

Generates (or reuses) a world, cuts it ``--holdout-days`` before its end (the segmentation date), trains every
model on the data known then with the default configuration, segments the accounts as of that date with the
champions' scores, builds the two call lists, and measures what happened in the 90 days after the date:
prospects that won a first deal (by rank in the prospects list, and by tier) and revenue per account (by tier).

Usage::

    python benchmarks/call_lists.py --accounts 2000 --months 36 --seed 42
    python benchmarks/call_lists.py --accounts 20000 --months 36 --seed 7
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

WORK = Path(__file__).parent / "_work"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--holdout-days", type=int, default=120, help="days between the segmentation date and the end")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import numpy as np
    import pandas as pd

    from b2bscore.data.load import load_dataset
    from b2bscore.features import build_features
    from b2bscore.home import ProjectHome
    from b2bscore.model.champions import account_scores, load_champions
    from b2bscore.model.tasks import TASK_NAMES
    from b2bscore.model.tracking import activate, resolve_tracking
    from b2bscore.segments.calls import call_lists
    from b2bscore.segments.job import run_segment_dataset
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.job import train_dataset

    data_dir = WORK / f"world-{args.accounts}-{args.months}-{args.seed}"
    if not (data_dir / "accounts.parquet").exists():
        generate_world(WorldConfig(accounts=args.accounts, months=args.months, seed=args.seed), data_dir)
    data = load_dataset(data_dir)[0]
    date = (data.end - pd.Timedelta(days=args.holdout_days)).normalize()
    after = date + pd.Timedelta(days=90)
    known = data.known_before(date)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        home = ProjectHome(Path(folder))
        results = train_dataset(TASK_NAMES, known, config=TrainConfig(), home=home)
        segments = run_segment_dataset(known, home=home, as_of=date)
        champions = load_champions(activate(resolve_tracking(home)))
        scores = account_scores(known, date, champions).frame
        propensity = champions["propensity"].model if "propensity" in champions else None
    seconds = time.perf_counter() - started
    features = build_features(known, as_of=date)
    assignments = segments.segmentation.assignments.frame
    leads = scores.dropna(subset=["best_lead_id"]).rename(columns={"best_lead_id": "lead_id"})
    names = data.accounts.set_index("account_id")["name"]
    lists = call_lists(assignments, features, names, leads[["account_id", "lead_id", "p_convert"]])

    won = data.opportunities[(data.opportunities["stage"] == "won") & (data.opportunities["closed_at"] > date)
                             & (data.opportunities["closed_at"] <= after)]
    winners = set(won["account_id"])
    revenue = data.revenue[(data.revenue["invoice_at"] >= date) & (data.revenue["invoice_at"] < after)]
    revenue = revenue.groupby("account_id")["amount"].sum()

    prospects = lists.prospects.assign(won=lambda f: f["account_id"].isin(winners))
    n = len(prospects)
    top = prospects["won"].iloc[: max(1, n // 10)].mean()
    bottom = prospects["won"].iloc[n // 2:].mean()
    frame = assignments.assign(won=assignments["account_id"].isin(winners),
                               revenue=assignments["account_id"].map(revenue).fillna(0.0))
    tiers = {}
    for tier, group in frame.groupby("tier"):
        pros = group[group["customer_status"] == "prospect"]
        tiers[str(tier)] = {"accounts": len(group), "prospects": len(pros),
                            "prospect_win_rate": float(pros["won"].mean()) if len(pros) else float("nan"),
                            "revenue_per_account": float(group["revenue"].mean())}
    ordered_conv = all(np.diff([t["prospect_win_rate"] for t in tiers.values()]) < 0)
    ordered_rev = all(np.diff([t["revenue_per_account"] for t in tiers.values()]) < 0)
    print(f"world {data_dir.name}; segmented as of {date:%Y-%m-%d}, outcomes to {after:%Y-%m-%d}; "
          f"train + segment {seconds:.0f} s")
    print(f"prospects list: {n:,} prospects, {int(prospects['won'].sum())} won a first deal in the 90 days after; "
          f"top 10% won {top:.1%}, bottom half {bottom:.1%} (ratio {top / bottom if bottom else float('inf'):.1f}x)")
    print(f"{'tier':<8}{'accounts':>10}{'prospects':>11}{'prospect win rate':>19}{'revenue / account':>19}")
    for tier, row in tiers.items():
        print(f"{tier:<8}{row['accounts']:>10,}{row['prospects']:>11,}{row['prospect_win_rate']:>19.2%}"
              f"{row['revenue_per_account']:>19,.0f}")
    print(f"tiers ordered: conversion {ordered_conv}, revenue {ordered_rev}")

    # every grade's (churn: risk level's) realised rate on each model's own out-of-time test period
    grades = {}
    for result in results:
        prefix = "test_risk_" if result.task == "churn" else "test_grade_"
        names = ("high", "medium", "low") if result.task == "churn" else ("A", "B", "C", "D")
        rows = {g: (result.metrics.get(f"{prefix}{g}_n", 0.0), result.metrics.get(f"{prefix}{g}_rate", float("nan")))
                for g in names}
        if not any(n for n, _ in rows.values()):
            continue
        rates = [r for n, r in rows.values() if n]
        grades[result.task] = {"grades": {g: {"n": int(n), "rate": r} for g, (n, r) in rows.items()},
                               "ordered": bool(all(np.diff(rates) < 0)), "candidate": result.candidate}
        print(f"{result.task} ({result.candidate}) on its test period: "
              + ", ".join(f"{g} {r:.1%} of {int(n):,}" if n else f"{g} none" for g, (n, r) in rows.items())
              + f"; ordered {grades[result.task]['ordered']}")
    # the propensity grades of the prospects on the segmentation date, against the next 90 days
    if propensity is not None:
        pros = scores[scores["p_win"].notna()].assign(grade=lambda f: propensity.grade(f["p_win"].to_numpy()),
                                                      won=lambda f: f["account_id"].isin(winners))
        forward = pros.groupby("grade")["won"].agg(["size", "mean"])
        grades["propensity_forward"] = {g: {"n": int(r["size"]), "rate": float(r["mean"])} for g, r in forward.iterrows()}
        print("propensity grades of the prospects on the date, next 90 days: "
              + ", ".join(f"{g} {r['mean']:.1%} of {int(r['size']):,}" for g, r in forward.iterrows()))
    if args.out:
        args.out.write_text(json.dumps({"date": str(date), "prospects": n, "top10_win_rate": top,
                                        "bottom_half_win_rate": bottom, "tiers": tiers, "grades": grades},
                                       indent=1, default=str))


if __name__ == "__main__":
    main()
