"""Benchmark: churn and CLTV of buyers without contracts, beside the buy-till-you-die reference and the oracle.

Generates (or reuses) transactional worlds (``generate --revenue-mode transactional``), trains the churn and CLTV
models with the default configuration -- which picks the horizon the history allows and, for orders placed at
will, churn as silence -- and reports on the out-of-time test rows: the model, its own baseline (run-rate for
CLTV, logistic regression for churn), the generator's oracle (knows whether each buyer is still alive) and the
buy-till-you-die expectation *with the true parameters* (``btyd_`` columns of ``truth/buyers.parquet``: what a
perfectly fitted BG/NBD x Gamma-Gamma would predict from the order history alone -- an upper bound for the fitted
one). The fitted BG/NBD baseline itself is the next step of issue 16.

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
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import numpy as np
    import pandas as pd

    from b2bscore.data.load import load_dataset
    from b2bscore.home import ProjectHome
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
            for result in results:
                fitted = fit_to_history(result.task, data, TrainConfig(), check_trainable)
                settings = getattr(fitted.config, result.task)
                h = settings.horizon_days
                test = fitted.labels.rows.iloc[fitted.split.test].merge(truth, on=["account_id", "as_of"], how="left")
                m = result.metrics
                row = {"months": months, "seed": seed, "task": result.task, "horizon": h, "candidate": result.candidate,
                       "test_rows": int(m["test_n"]), "seconds": seconds}
                if result.task == "cltv":
                    btyd = regression_metrics(test["label"], test[f"btyd_expected_revenue_{h}d"])
                    row.update({"mae": m["test_mae"], "baseline_mae": m["baseline_test_mae"],
                                "oracle_mae": m.get("oracle_test_mae", np.nan), "btyd_true_mae": btyd.mae,
                                "spearman": m["test_spearman"], "baseline_spearman": m["baseline_test_spearman"],
                                "oracle_spearman": m.get("oracle_test_spearman", np.nan),
                                "btyd_true_spearman": btyd.spearman,
                                "predicted_total": m["test_mean_predicted"] * m["test_n"],
                                "actual_total": m["test_mean_actual"] * m["test_n"],
                                "btyd_true_total": float(test[f"btyd_expected_revenue_{h}d"].sum())})
                else:
                    btyd = classification_metrics(test["label"], test[f"btyd_p_no_order_{h}d"])
                    row.update({"definition": settings.definition, "roc_auc": m["test_roc_auc"],
                                "baseline_roc_auc": m["baseline_test_roc_auc"],
                                "oracle_roc_auc": m.get("oracle_test_roc_auc", np.nan), "btyd_true_roc_auc": btyd.roc_auc,
                                "ece": m["test_ece"], "base_rate": m["test_base_rate"]})
                rows.append(row)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
