"""Benchmark: the training pipeline's overhead over a bare ``lightgbm.train`` on the same matrix.

Prepares a conversion training table of ``--rows`` rows (the point-in-time features and labels of a
generated world's leads, repeated with a small time jitter until the table is large enough), then
measures, each in a fresh child process (so peak memory is its own):

* ``bare``: ``lightgbm.train`` with the pipeline's parameters and early stopping on the same
  train/validation matrices — the reference;
* ``pipeline``: ``fit_and_register`` — encoding, LightGBM with early stopping, calibration, the
  logistic baseline, every metric, plots, MLflow logging of the self-sufficient model, registration.

Feature building is excluded from both (it has its own benchmark, ``features_bench.py``).

Usage::

    python benchmarks/training_overhead.py --rows 1000000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORK = Path(__file__).parent / "_work"


def _prepare(rows: int, accounts: int, seed: int) -> Path:
    import numpy as np
    import pandas as pd

    from b2bscore.data.load import load_dataset
    from b2bscore.features import build_features
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.train import check_trainable

    world = WORK / f"world-{accounts}-36-{seed}"
    if not (world / "accounts.parquet").exists():
        generate_world(WorldConfig(accounts=accounts, months=36, seed=seed), world)
    table = WORK / f"conversion-table-{rows}-{accounts}-{seed}.parquet"
    if table.exists():
        return table
    data, _ = load_dataset(world)
    labels, _ = check_trainable("conversion", data, TrainConfig())
    base = labels.rows
    features = build_features(data, base[["lead_id", "as_of"]], entity="lead")
    repeats = -(-rows // len(base))
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(repeats):
        jitter = pd.to_timedelta(rng.integers(0, 3600, len(base)), unit="s")
        part = features.assign(**{c: base[c].to_numpy() for c in ("label", "label_end")})
        part["as_of"] = part["as_of"] + jitter
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True).head(rows).sort_values("as_of", kind="stable").reset_index(drop=True)
    frame.to_parquet(table)
    return table


def _child(kind: str, table: Path, world: Path) -> dict:
    import lightgbm as lgb
    import pandas as pd

    from b2bscore.training.config import TrainConfig
    from b2bscore.training.labels import LabelSet
    from b2bscore.model.estimator import ModelInputs
    from b2bscore.training.splits import split_out_of_time

    frame = pd.read_parquet(table)
    config = TrainConfig()
    rows = frame[["lead_id", "account_id", "as_of", "label", "label_end"]]
    split = split_out_of_time(rows, config.split)
    started = time.perf_counter()
    if kind == "bare":
        inputs = ModelInputs.declared(config.features, "lead")
        categories = inputs.categories(frame.iloc[split.train])
        x_train = inputs.encode(frame.iloc[split.train], categories)
        x_valid = inputs.encode(frame.iloc[split.valid], categories)
        y = frame["label"].to_numpy(dtype=float)
        started = time.perf_counter()  # the reference starts from ready matrices
        lgbm = config.lightgbm
        params = {"objective": "binary", "num_leaves": lgbm.num_leaves, "max_depth": lgbm.max_depth,
                  "learning_rate": lgbm.learning_rate, "min_child_samples": lgbm.min_child_samples,
                  "feature_fraction": lgbm.feature_fraction, "bagging_fraction": lgbm.bagging_fraction, "bagging_freq": 1,
                  "lambda_l2": lgbm.lambda_l2, "num_threads": lgbm.num_threads, "seed": lgbm.seed, "deterministic": True,
                  "verbosity": -1}
        names = list(inputs.names)
        train_set = lgb.Dataset(x_train, label=y[split.train], feature_name=names,
                                categorical_feature=list(inputs.categorical))
        valid_set = lgb.Dataset(x_valid, label=y[split.valid], reference=train_set)
        booster = lgb.train(params, train_set, num_boost_round=lgbm.max_rounds, valid_sets=[valid_set],
                            callbacks=[lgb.early_stopping(lgbm.early_stopping_rounds, verbose=False)])
        extra = {"trees": booster.current_iteration(), "train_rows": len(split.train)}
    else:
        from b2bscore.data.load import load_dataset
        from b2bscore.home import ProjectHome
        from b2bscore.training.train import fit_and_register

        data, _ = load_dataset(world)  # for the run's data digest and the model's input example
        labels = LabelSet(rows=rows, censored=0, data_end=rows["label_end"].max())
        marks: list[tuple[str, float]] = []
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as home:
            result = fit_and_register("conversion", data, labels, split, frame, config=config, home=ProjectHome(Path(home)),
                                      progress=lambda step, f: marks.append((step, time.perf_counter())))
        steps = {}
        previous = started
        for (step, _), (_, at) in zip(marks, marks[1:] + [("end", time.perf_counter())]):
            steps[step] = round(at - max(previous, _stamp(marks, step)), 1)
            previous = at
        extra = {"roc_auc": result.metrics["test_roc_auc"], "train_rows": len(split.train), "steps": steps}
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "seconds": elapsed, "peak_mb": peak_mb, **extra, "rows": len(frame), "features": frame.shape[1]}


def _stamp(marks: list[tuple[str, float]], step: str) -> float:
    return next(at for name, at in marks if name == step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--table", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    world = WORK / f"world-{args.accounts}-36-{args.seed}"
    if args.child:
        print(json.dumps(_child(args.child, args.table, world)))
        return
    table = _prepare(args.rows, args.accounts, args.seed)
    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        for kind in ("bare", "pipeline"):
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--table", str(table), "--accounts",
                                  str(args.accounts), "--seed", str(args.seed)], check=True, capture_output=True, text=True)
            results.setdefault(kind, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    bare, pipe = results["bare"], results["pipeline"]
    b = statistics.median(r["seconds"] for r in bare)
    p = statistics.median(r["seconds"] for r in pipe)
    print(f"table: {bare[0]['rows']:,} rows x {bare[0]['features']} columns ({bare[0]['train_rows']:,} training rows), "
          f"median of {args.repeat}")
    print(f"{'step':<10}{'seconds':>9}{'peak MB':>10}")
    for name, runs in (("bare", bare), ("pipeline", pipe)):
        print(f"{name:<10}{statistics.median(r['seconds'] for r in runs):>9.1f}"
              f"{statistics.median(r['peak_mb'] for r in runs):>10.0f}")
    print("pipeline seconds per step (first run):", json.dumps(pipe[0]["steps"]))
    print(f"pipeline / bare lightgbm.train: {p / b:.2f}x  (trees grown: {bare[0]['trees']}, test ROC AUC {pipe[0]['roc_auc']:.4f})")


if __name__ == "__main__":
    main()
