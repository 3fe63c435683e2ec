"""Benchmark: do the tiers order later outcomes, and do the data-driven segments recover the planted ones?

Generates a world (or uses ``--data``), segments it as of ``--holdout-months`` before its end using
only data before that date, then measures on the following ``--horizon-months``:

* per tier: the realised conversion rate (share of prospect accounts that win an opportunity) and the
  realised revenue per account (all accounts, and customers only);
* the adjusted Rand index between the clusters and ``truth/segments.parquet`` (``planted_segment``),
  against chance (the mean ARI of random permutations of the cluster labels).

Without ``--scores`` the job runs in its fit-and-behaviour fallback. ``--scores FILE`` (CSV or Parquet
with account_id, p_convert, p_churn, cltv_pred as of the segmentation date) uses model scores.

Usage::

    python benchmarks/segments_quality.py --accounts 3000 --months 36 --seed 42
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--holdout-months", type=int, default=12, help="segment this many months before the end")
    parser.add_argument("--horizon-months", type=int, default=12, help="measure outcomes over this many months after")
    parser.add_argument("--data", type=Path, help="use this generated world instead of generating one")
    parser.add_argument("--scores", type=Path, help="model scores (account_id, p_convert, p_churn, cltv_pred)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    from b2bscore.data.load import load_dataset
    from b2bscore.segments import SegmentConfig, segment_accounts
    from b2bscore.synth import WorldConfig, generate_world

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data
        if data_dir is None:
            data_dir = Path(tmp) / "world"
            started = time.perf_counter()
            generate_world(WorldConfig(accounts=args.accounts, months=args.months, seed=args.seed), data_dir)
            print(f"generated {args.accounts} accounts x {args.months} months (seed {args.seed}) "
                  f"in {time.perf_counter() - started:.1f} s")
        world = json.loads((data_dir / "truth" / "world.json").read_text())
        end = pd.Timestamp(world["end"])
        data, _ = load_dataset(data_dir, now=end)
        as_of = end - pd.DateOffset(months=args.holdout_months)
        until = as_of + pd.DateOffset(months=args.horizon_months)
        scores = _read_scores(args.scores) if args.scores else None
        started = time.perf_counter()
        result = segment_accounts(data, as_of, SegmentConfig(), scores)
        print(f"segmented as of {as_of:%Y-%m-%d} in {time.perf_counter() - started:.1f} s; "
              f"fallback={result.fallback}; k={result.assignments.clustering.k} "
              f"({result.assignments.clustering.criterion})")
        for note in result.notes:
            print(f"  note: {note}")
        figures = _tier_outcomes(result.assignments.frame, data, as_of, until)
        truth = pd.read_parquet(data_dir / "truth" / "segments.parquet")
        figures["ari"] = _ari(result.assignments.frame, truth)
        flagged = result.kpis[result.kpis["flagged"]]
        figures["flagged_segments"] = int(len(flagged))
        figures["segments"] = int(len(result.kpis))
    _print(figures, as_of, until)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n")


def _read_scores(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _tier_outcomes(frame: pd.DataFrame, data, as_of: pd.Timestamp, until: pd.Timestamp) -> dict:
    opportunities = data.opportunities
    won = opportunities[(opportunities["stage"] == "won") & (opportunities["closed_at"] >= as_of)
                        & (opportunities["closed_at"] < until)]
    revenue = data.revenue
    later = revenue[(revenue["invoice_at"] >= as_of) & (revenue["invoice_at"] < until)]
    per_account = later.groupby("account_id")["amount"].sum().reindex(frame["account_id"]).fillna(0.0).to_numpy()
    converted = frame["account_id"].isin(won["account_id"]).to_numpy()
    prospect = (frame["customer_status"] == "prospect").to_numpy()
    rows = {}
    for tier in sorted(frame["tier"].unique()):
        member = (frame["tier"] == tier).to_numpy()
        rows[tier] = {
            "accounts": int(member.sum()),
            "prospects": int((member & prospect).sum()),
            "conversion_rate": float(converted[member & prospect].mean()) if (member & prospect).any() else np.nan,
            "revenue_per_account": float(per_account[member].mean()),
            "revenue_per_customer": float(per_account[member & ~prospect].mean()) if (member & ~prospect).any() else np.nan,
        }
    return {"tiers": rows}


def _ari(frame: pd.DataFrame, truth: pd.DataFrame) -> dict:
    from sklearn.metrics import adjusted_rand_score

    merged = frame.merge(truth[["account_id", "planted_segment"]], on="account_id")
    observed = adjusted_rand_score(merged["planted_segment"], merged["cluster"])
    rng = np.random.default_rng(0)
    chance = [adjusted_rand_score(merged["planted_segment"], rng.permutation(merged["cluster"].to_numpy()))
              for _ in range(20)]
    return {"clusters": observed, "chance_mean": float(np.mean(chance)), "chance_max": float(np.max(chance)),
            "k": int(merged["cluster"].nunique()), "planted": int(merged["planted_segment"].nunique())}


def _print(figures: dict, as_of: pd.Timestamp, until: pd.Timestamp) -> None:
    print(f"\noutcomes {as_of:%Y-%m-%d} .. {until:%Y-%m-%d} (after the segmentation date)")
    print(f"{'tier':<8}{'accounts':>9}{'prospects':>10}{'conversion':>12}{'revenue/account':>17}{'revenue/customer':>18}")
    tiers = figures["tiers"]
    for tier, row in tiers.items():
        print(f"{tier:<8}{row['accounts']:>9,}{row['prospects']:>10,}{row['conversion_rate']:>12.2%}"
              f"{row['revenue_per_account']:>17,.0f}{row['revenue_per_customer']:>18,.0f}")
    names = list(tiers)
    ordered = all(tiers[a]["conversion_rate"] > tiers[b]["conversion_rate"]
                  and tiers[a]["revenue_per_account"] > tiers[b]["revenue_per_account"] for a, b in zip(names, names[1:]))
    figures["tiers_ordered"] = ordered
    print(f"tiers order conversion and revenue: {'yes' if ordered else 'NO'}")
    ari = figures["ari"]
    print(f"clusters vs planted segments: ARI {ari['clusters']:.3f} (k={ari['k']}, planted {ari['planted']}); "
          f"chance {ari['chance_mean']:.4f} (max of 20 permutations {ari['chance_max']:.4f})")
    print(f"segments flagged by the KPI checks: {figures['flagged_segments']} of {figures['segments']}")


if __name__ == "__main__":
    main()
