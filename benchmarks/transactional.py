"""Benchmark: churn and CLTV of buyers without contracts, beside the buy-till-you-die reference and the oracle.

Generates (or reuses) transactional worlds (``generate --revenue-mode transactional``), trains the churn and CLTV
models with the default configuration -- which picks the horizon the history allows and, for orders placed at
will, churn as silence -- and reports on the out-of-time test rows: the model, its own baseline (run-rate for
CLTV, logistic regression for churn), the generator's oracle (knows whether each buyer is still alive) and the
buy-till-you-die model: BG/NBD x Gamma-Gamma fitted by PyMC-Marketing (MAP) on the orders before each as-of time,
which every such run logs beside the model (``btyd_test_*``), and the same expectation *with the generator's true
parameters* (``btyd_`` columns of ``truth/buyers.parquet``: what a perfectly specified and fitted BG/NBD x
Gamma-Gamma would predict from the order history alone). ``--segments`` also prints the CLTV totals per segment
(predicted / actual - 1, model and fitted BTYD) from each run's ``evaluation/metrics_by_segment.csv``.

Usage::

    python benchmarks/transactional.py --accounts 5000 --months 12 18 36 --seeds 1 2 3
    python benchmarks/transactional.py --accounts 20000 --months 36 --seeds 1
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
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--months", type=int, nargs="+", default=[12, 18, 36])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--segments", action="store_true", help="print CLTV totals per segment")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import mlflow
    import numpy as np
    import pandas as pd

    from b2bscore.data.load import load_dataset
    from b2bscore.home import ProjectHome
    from b2bscore.model.tracking import activate, resolve_tracking
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.evaluate import classification_metrics, regression_metrics
    from b2bscore.training.history import fit_to_history
    from b2bscore.training.job import train_dataset
    from b2bscore.training.train import check_trainable

    rows = []
    for months in args.months:
        for seed in args.seeds:
            folder = WORK / f"orders-{args.accounts}-{months}-{seed}"
            if not (folder / "truth" / "buyers.parquet").exists():
                generate_world(WorldConfig(accounts=args.accounts, months=months, seed=seed,
                                           revenue_mode="transactional"), folder)
            data = load_dataset(folder)[0]
            truth = pd.read_parquet(folder / "truth" / "buyers.parquet")
            truth["as_of"] = pd.to_datetime(truth["as_of"]).astype("datetime64[ns]")
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as home:
                results = train_dataset(("churn", "cltv"), data, config=TrainConfig(), home=ProjectHome(Path(home)),
                                        truth_dir=folder / "truth")
                seconds = time.perf_counter() - started
                segments = {}
                if args.segments:
                    activate(resolve_tracking(ProjectHome(Path(home))))
                    for result in results:
                        path = mlflow.artifacts.download_artifacts(run_id=result.run_id,
                                                                   artifact_path="evaluation/metrics_by_segment.csv")
                        segments[result.task] = pd.read_csv(path)
            for result in results:
                fitted = fit_to_history(result.task, data, TrainConfig(), check_trainable)
                settings = getattr(fitted.config, result.task)
                h = settings.horizon_days
                test = fitted.labels.rows.iloc[fitted.split.test].merge(truth, on=["account_id", "as_of"], how="left")
                m = result.metrics
                row = {"accounts": args.accounts, "months": months, "seed": seed, "task": result.task, "horizon": h,
                       "candidate": result.candidate, "test_rows": int(m["test_n"]), "seconds": seconds}
                if result.task == "cltv":
                    btyd = regression_metrics(test["label"], test[f"btyd_expected_revenue_{h}d"])
                    actual = m["test_mean_actual"]
                    row.update({
                        "mae": m["test_mae"], "btyd_mae": m.get("btyd_test_mae", np.nan),
                        "btyd_true_mae": btyd.mae, "oracle_mae": m.get("oracle_test_mae", np.nan),
                        "rmse": m["test_rmse"], "btyd_rmse": m.get("btyd_test_rmse", np.nan),
                        "btyd_true_rmse": btyd.rmse, "oracle_rmse": m.get("oracle_test_rmse", np.nan),
                        "spearman": m["test_spearman"], "btyd_spearman": m.get("btyd_test_spearman", np.nan),
                        "btyd_true_spearman": btyd.spearman, "oracle_spearman": m.get("oracle_test_spearman", np.nan),
                        "gini": m["test_gini_normalised"], "btyd_gini": m.get("btyd_test_gini_normalised", np.nan),
                        "btyd_true_gini": btyd.gini_normalised,
                        "oracle_gini": m.get("oracle_test_gini_normalised", np.nan),
                        "total": m["test_mean_predicted"] / actual - 1,
                        "btyd_total": m.get("btyd_test_mean_predicted", np.nan) / actual - 1,
                        "btyd_true_total": float(test[f"btyd_expected_revenue_{h}d"].mean()) / actual - 1,
                        "oracle_total": m.get("oracle_test_mean_predicted", np.nan) / actual - 1,
                        "mae_vs_btyd": m["test_mae"] / m.get("btyd_test_mae", np.nan) - 1})
                    if result.task in segments:
                        table = segments[result.task]
                        table = table[table["n"] >= 30]
                        row["segments"] = [
                            {"column": r.segment_column, "segment": r.segment, "n": int(r.n),
                             "total": r.mean_predicted / r.mean_actual - 1,
                             "btyd_total": r.btyd_mean_predicted / r.mean_actual - 1,
                             "mae": r.mae, "btyd_mae": r.btyd_mae, "spearman": r.spearman,
                             "btyd_spearman": r.btyd_spearman} for r in table.itertuples()]
                else:
                    btyd = classification_metrics(test["label"], test[f"btyd_p_no_order_{h}d"])
                    row.update({"definition": settings.definition, "roc_auc": m["test_roc_auc"],
                                "baseline_roc_auc": m["baseline_test_roc_auc"],
                                "btyd_roc_auc": m.get("btyd_test_roc_auc", np.nan),
                                "btyd_orders_roc_auc": m.get("btyd_orders_test_roc_auc", np.nan),
                                "btyd_true_roc_auc": btyd.roc_auc,
                                "oracle_roc_auc": m.get("oracle_test_roc_auc", np.nan),
                                "ece": m["test_ece"], "base_rate": m["test_base_rate"]})
                rows.append(row)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                                  if k != "segments"}), flush=True)
                for seg in row.get("segments", ()):
                    print("   segment", json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                                                    for k, v in seg.items()}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
