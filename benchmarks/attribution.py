"""Benchmark: how far is each attribution rule's campaign ROI from the true incremental ROI? (issue 19)

Generates worlds (``generate_world``: campaigns with a known ``truth/campaigns.parquet``) and computes, as of the end of
each world and over a window that covers all of it, the ROI of every campaign under each rule (first touch, last
touch before the opportunity, linear over the lookback) with ``b2bscore.segments.kpis.segment_campaigns`` -- the
function that writes ``campaigns.csv``. The true incremental ROI is (the won revenue of the leads the campaign
created x (1 - its organic share) - its cost) / its cost; engagement campaigns (email, webinar) cause no deal in
the generated world, so their true ROI is -100%.

Per rule and world: the mean absolute error of the ROI over campaigns (lead-creating and engagement campaigns
apart) and its median over all, the attributed revenue against the true incremental revenue (and the share of the
latter misplaced: the sum over campaigns of |attributed - incremental| / total incremental), Spearman's rank
correlation with the true ROI, and the share of campaigns whose verdict (ROI above or below 0) matches the truth. With ``--table`` it also prints
each campaign of the first world: attributed ROI per rule beside the true ROI.

Usage::

    python benchmarks/attribution.py --accounts 4000 --months 12 --seeds 42 43 44 --table
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from b2bscore.data.load import load_dataset
from b2bscore.io import write_text
from b2bscore.segments.config import AttributionConfig, KpiConfig
from b2bscore.segments.kpis import segment_campaigns
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.synth.campaigns import ENGAGEMENT_CHANNELS

RULES = ("first_touch", "last_touch", "linear")


def measure(folder: Path, lookback_days: int) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Per campaign: the true ROI and each rule's; and the summary rows of each rule."""
    data, _ = load_dataset(folder)
    as_of = data.resolve_as_of(None, purpose="attribution benchmark")
    window = KpiConfig(window_days=int((as_of - data.start).days) + 400)  # the whole world, campaigns included
    truth = pd.read_parquet(folder / "truth" / "campaigns.parquet").set_index("campaign_id")
    accounts = pd.DataFrame({"account_id": data.accounts["account_id"]})
    table = truth[["channel", "caused_deals", "total_cost", "incremental_revenue", "true_roi"]].copy()
    summary = []
    engagement = table["channel"].isin(list(ENGAGEMENT_CHANNELS)).to_numpy()
    for rule in RULES:
        frame = segment_campaigns(accounts, data, as_of, window, kinds=(),
                                  attribution=AttributionConfig(rule=rule, lookback_days=lookback_days))
        rows = frame.set_index("campaign_id").reindex(table.index)
        cost = rows["cost"].fillna(0.0)
        if not np.allclose(cost.to_numpy(), table["total_cost"].to_numpy(), rtol=1e-6):
            raise SystemExit(f"{rule}: the window does not hold every campaign's whole cost")
        revenue = rows["revenue"].fillna(0.0)
        roi = (revenue - cost) / cost
        table[f"{rule}_roi"] = roi
        table[f"{rule}_revenue"] = revenue
        error = (roi - table["true_roi"]).abs().to_numpy()
        summary.append({
            "rule": rule, "campaigns": len(table),
            "mae_roi_lead_campaigns": float(error[~engagement].mean()),
            "mae_roi_engagement_campaigns": float(error[engagement].mean()),
            "median_abs_roi_error": float(np.median(error)),
            "misattributed_revenue_share": float((revenue - table["incremental_revenue"]).abs().sum()
                                                 / table["incremental_revenue"].sum()),
            "attributed_revenue": float(revenue.sum()), "true_incremental_revenue": float(table["incremental_revenue"].sum()),
            "spearman_roi": float(spearmanr(roi, table["true_roi"]).statistic),
            "verdict_agreement": float(((roi > 0) == (table["true_roi"] > 0)).mean()),
        })
    return table, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--lookback-days", type=int, default=180)
    parser.add_argument("--table", action="store_true", help="print each campaign of the first world")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    results, first = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            started = time.perf_counter()
            folder = Path(tmp) / f"world-{seed}"
            generate_world(WorldConfig(accounts=args.accounts, months=args.months, seed=seed), folder)
            table, summary = measure(folder, args.lookback_days)
            first = table if first is None else first
            for row in summary:
                results.append({"seed": seed, **row})
            print(f"seed {seed}: {len(table)} campaigns, {time.perf_counter() - started:.1f}s", flush=True)
    frame = pd.DataFrame(results)
    pd.set_option("display.width", 200)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    means = frame.groupby("rule", sort=False)[["mae_roi_lead_campaigns", "mae_roi_engagement_campaigns",
                                                "median_abs_roi_error", "misattributed_revenue_share", "spearman_roi",
                                                "verdict_agreement"]].mean()
    print("\nmean over worlds:\n" + means.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.table and first is not None:
        shown = first[["channel", "caused_deals", "total_cost", "true_roi", *(f"{r}_roi" for r in RULES)]]
        print("\nper campaign, first world (ROI as a multiple of cost: 1.0 = +100%):")
        print(shown.to_string(float_format=lambda v: f"{v:,.2f}"))
    if args.out:
        write_text(args.out, json.dumps({"worlds": results, "first_world": first.reset_index().to_dict(orient="records")
                                        if first is not None else []}, indent=2, default=float))


if __name__ == "__main__":
    main()
