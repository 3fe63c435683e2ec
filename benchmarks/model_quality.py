"""Benchmark: model quality on a generated world, against the baseline and the generator's oracle.

Generates (or reuses) a world, trains conversion, churn and CLTV exactly as ``b2bscore train all``
does (embedded MLflow under a temporary home), and prints, on the out-of-time test period, each
model's metrics beside its baseline's and the oracle's (the true probabilities / expected values
the generator wrote to ``truth/``), with the gaps the issue sets targets for.

Usage::

    python benchmarks/model_quality.py --accounts 100000 --months 36 --seed 7 --snapshot-months 3
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

WORK = Path(__file__).parent / "_work"
TARGETS = {"conversion": ("roc_auc", 0.02), "propensity": ("roc_auc", float("nan")), "churn": ("roc_auc", 0.03),
           "cltv": ("spearman", 0.05)}
"""Per model, the metric its oracle gap is judged on and the target gap (propensity: none set)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--snapshot-months", type=int, default=3, help="months between churn/CLTV snapshot dates")
    parser.add_argument("--data", type=Path, help="use this world instead of generating one")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    from b2bscore.home import ProjectHome
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.job import train_tasks

    data_dir = args.data or WORK / f"world-{args.accounts}-{args.months}-{args.seed}"
    if not (data_dir / "truth" / "prospects.parquet").exists() and not args.data:  # absent, or from an older generator
        started = time.perf_counter()
        generate_world(WorldConfig(accounts=args.accounts, months=args.months, seed=args.seed), data_dir)
        print(f"generated {data_dir} in {time.perf_counter() - started:.1f} s", flush=True)
    config = TrainConfig.model_validate({"churn": {"snapshot_months": args.snapshot_months},
                                         "cltv": {"snapshot_months": args.snapshot_months}})
    timings: dict[str, float] = {}
    last = [time.perf_counter(), ""]

    def progress(step: str, fraction: float) -> None:
        now = time.perf_counter()
        if last[1]:
            timings[last[1]] = timings.get(last[1], 0.0) + now - last[0]
        last[:] = [now, step]
        print(f"  {fraction:5.0%} {step}", flush=True)

    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        results = train_tasks("all", data_dir, config=config, home=ProjectHome(Path(home)), progress=progress)
        total = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    rows = []
    print(f"\nworld {data_dir.name} (seed {args.seed}); train all in {total:.0f} s, peak {peak_gb:.1f} GB")
    print("primary metric: chosen on the validation period, reported on the out-of-time test period")
    header = (f"{'model':<11}{'registered':<14}{'metric':<10}{'valid':>8}{'baseline':>10}{'test':>8}{'baseline':>10}"
              f"{'oracle':>8}{'ECE':>8}{'test rows':>11}")
    print(header)
    for result in results:
        m = result.metrics
        primary = result.decision.metric.removeprefix("test_")
        metric, target = TARGETS[result.task]
        row = {"task": result.task, "candidate": result.candidate, "candidate_reason": result.candidate_reason,
               "primary": primary, "valid": m.get(f"chosen_valid_{primary}"), "baseline_valid": m.get(f"baseline_valid_{primary}"),
               "test": m[f"test_{primary}"], "baseline_test": m[f"baseline_test_{primary}"],
               "oracle_test": m.get(f"oracle_test_{primary}", float("nan")),
               "metric": metric, "model": m[f"test_{metric}"], "baseline": m[f"baseline_test_{metric}"],
               "oracle": m.get(f"oracle_test_{metric}", float("nan")), "gap": m.get(f"oracle_gap_{metric}", float("nan")),
               "target_gap": target, "ece": m.get("test_ece", float("nan")),
               "oracle_ece": m.get("oracle_test_ece", float("nan")), "test_rows": int(m["test_n"]),
               "candidates_valid": {k: v for k, v in m.items() if k.startswith("candidate_valid_")},
               "lift_top10": m.get("test_lift_top10"), "split": result.split}
        rows.append(row)
        print(f"{result.task:<11}{result.candidate:<14}{primary:<10}{row['valid']:>8.4f}{row['baseline_valid']:>10.4f}"
              f"{row['test']:>8.4f}{row['baseline_test']:>10.4f}{row['oracle_test']:>8.4f}{row['ece']:>8.4f}"
              f"{row['test_rows']:>11,}")
    print()
    for row in rows:
        print(f"{row['task']}: {row['candidate_reason']}; {row['metric']} test {row['model']:.4f} (baseline "
              f"{row['baseline']:.4f}, oracle {row['oracle']:.4f}, gap {row['gap']:.4f}, target {row['target_gap']})")
    print("\ntime per step (s):", json.dumps({k: round(v, 1) for k, v in timings.items()}))
    if args.out:
        args.out.write_text(json.dumps({"seed": args.seed, "accounts": args.accounts, "months": args.months,
                                        "total_s": total, "peak_gb": peak_gb, "models": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
