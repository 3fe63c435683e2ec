"""Benchmark: what bounding a calibration's ends (issue 21) costs or gains, measured in one run per world.

Trains the conversion, propensity and churn models exactly as ``b2bscore train`` does, then scores the out-of-time
test rows twice with the registered model: with its calibrator as registered (an isotonic end block at 0 lifted to
Jeffreys' 0.5 / (n + 1), see ``b2bscore.model.estimator._Bounded``) and with the isotonic calibrator inside it
unbounded (what the code before issue 21 gave). Both against the outcomes (ECE, equal-mass bins, as ``train`` logs
it; log loss) and against the generator's true probabilities (mean absolute error to the oracle, the calibration
error the outcomes can only estimate). Same model, same rows: the difference is the bound alone.

Usage::

    python benchmarks/calibration_bounds.py --accounts 20000 --months 36 --seeds 7 8 9 --snapshot-months 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

WORK = Path(__file__).parent / "_work"
TASKS = ("conversion", "propensity", "churn")


def _test_rows(task, data, config, model):
    from b2bscore.features import build_features
    from b2bscore.model.tasks import TASKS as SPECS
    from b2bscore.training.history import fit_to_history
    from b2bscore.training.train import check_trainable

    fitted = fit_to_history(task, data, config, check_trainable)
    rows = fitted.labels.rows.iloc[fitted.split.test].reset_index(drop=True)
    key = SPECS[task].key
    features = build_features(data, rows[[key, "as_of"]], entity=SPECS[task].entity, config=model.feature_config)
    return rows, features, fitted.config


def _figures(y, p, oracle):
    from b2bscore.training.evaluate import expected_calibration_error

    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    known = ~np.isnan(oracle)
    return {"ece": expected_calibration_error(y, p),
            "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
            "oracle_mae": float(np.mean(np.abs(p[known] - oracle[known]))) if known.any() else float("nan"),
            "zeros": int((p <= 0).sum()), "ones": int((p >= 1).sum()), "min": float(p.min())}


def measure(data_dir: Path, snapshot_months: int) -> list[dict]:
    from b2bscore.data.load import load_dataset
    from b2bscore.home import ProjectHome
    from b2bscore.model.champions import load_champion
    from b2bscore.model.tracking import activate, resolve_tracking
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.job import train_dataset
    from b2bscore.training.tasks import horizon_days, truth_frame

    config = TrainConfig.model_validate({"churn": {"snapshot_months": snapshot_months},
                                         "cltv": {"snapshot_months": snapshot_months}})
    data, _ = load_dataset(data_dir)
    out = []
    with tempfile.TemporaryDirectory() as folder:
        home = ProjectHome(Path(folder))
        train_dataset(TASKS, data, config=config, home=home, truth_dir=data_dir / "truth")
        client = activate(resolve_tracking(home))
        for task in TASKS:
            model = load_champion(client, task).model
            rows, features, fitted = _test_rows(task, data, config, model)
            bounded = model.predict(features)
            calibrator = model.calibrator_
            inner = getattr(calibrator, "calibrator", None)
            if inner is None:
                print(f"{task}: the registered calibrator is not bounded ({type(calibrator).__name__})")
                continue
            model.calibrator_ = inner
            try:
                unbounded = model.predict(features)
            finally:
                model.calibrator_ = calibrator
            truth = truth_frame(task, data_dir / "truth", horizon_days(task, fitted),
                                churn_definition=fitted.churn.definition)
            keys = ["lead_id"] if task == "conversion" else ["account_id", "as_of"]
            oracle = (rows[keys].merge(truth, on=keys, how="left")["oracle"].to_numpy(dtype=np.float64)
                      if truth is not None else np.full(len(rows), np.nan))
            y = rows["label"].to_numpy(dtype=np.float64)
            row = {"world": data_dir.name, "task": task, "rows": len(rows), "low": float(calibrator.low),
                   "high": float(calibrator.high), "moved": int((bounded != unbounded).sum()),
                   "before": _figures(y, unbounded, oracle), "after": _figures(y, bounded, oracle)}
            out.append(row)
            b, a = row["before"], row["after"]
            print(f"{data_dir.name:<22}{task:<11}{len(rows):>7,}{row['moved']:>7,}  ECE {b['ece']:.5f} -> {a['ece']:.5f}"
                  f"  log loss {b['log_loss']:.5f} -> {a['log_loss']:.5f}  |p - true p| {b['oracle_mae']:.5f} -> "
                  f"{a['oracle_mae']:.5f}  zeros {b['zeros']} -> {a['zeros']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--snapshot-months", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    from b2bscore.synth import WorldConfig, generate_world

    print(f"{'world':<22}{'model':<11}{'rows':>7}{'moved':>7}")
    rows = []
    for seed in args.seeds:
        data_dir = WORK / f"world-{args.accounts}-{args.months}-{seed}"
        if not (data_dir / "truth" / "prospects.parquet").exists():
            started = time.perf_counter()
            generate_world(WorldConfig(accounts=args.accounts, months=args.months, seed=seed), data_dir)
            print(f"generated {data_dir} in {time.perf_counter() - started:.1f} s", flush=True)
        rows += measure(data_dir, args.snapshot_months)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
