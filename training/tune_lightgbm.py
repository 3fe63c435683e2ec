"""LightGBM settings compared on one task's out-of-time split (features built once), beside the logistic baseline.

The defaults in ``b2bscore.model.settings.LightGBMConfig`` come from this sweep; rerun it when the features or
the data change. Each setting is fitted on train, early-stopped and calibrated on valid, scored on test.

Usage::

    python training/tune_lightgbm.py --data benchmarks/_work/world-20000-36-7 --task conversion
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from b2bscore.data.load import load_dataset
from b2bscore.features import build_features
from b2bscore.training import baseline
from b2bscore.model.settings import LightGBMConfig
from b2bscore.training.config import TrainConfig
from b2bscore.training.evaluate import classification_metrics, regression_metrics
from b2bscore.model.estimator import ScoringModel
from b2bscore.model.tasks import TASKS

from b2bscore.training.train import check_trainable

GRID = {  # overrides of the task's defaults (TrainConfig.lightgbm_for); "previous" = the shared defaults before this sweep
    "default": {},
    "previous": {"num_leaves": 15, "max_depth": 6, "feature_fraction": 0.8, "lambda_l2": 1.0},
    "leaves7": {"num_leaves": 7, "max_depth": 4},
    "leaves7_ff05_l2_5": {"num_leaves": 7, "max_depth": 4, "feature_fraction": 0.5, "lambda_l2": 5.0},
    "leaves7_mcs200": {"num_leaves": 7, "max_depth": 4, "min_child_samples": 200, "lambda_l2": 5.0},
    "leaves4_lr03": {"num_leaves": 4, "max_depth": 3, "learning_rate": 0.03, "min_child_samples": 100},
    "leaves31_ff05": {"num_leaves": 31, "max_depth": -1, "feature_fraction": 0.5, "min_child_samples": 100, "lambda_l2": 5.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--task", default="conversion", choices=sorted(TASKS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    config = TrainConfig()
    spec = TASKS[args.task]
    data = load_dataset(args.data)[0]
    labels, split = check_trainable(args.task, data, config)
    rows = labels.rows
    features = build_features(data, rows[[spec.key, "as_of"]], entity=spec.entity, config=config.features)
    y = rows["label"].to_numpy(dtype=np.float64)
    parts = {name: getattr(split, name) for name in ("train", "valid", "test")}
    frames = {name: features.iloc[idx].reset_index(drop=True) for name, idx in parts.items()}
    targets = {name: y[idx] for name, idx in parts.items()}
    evaluate = classification_metrics if spec.kind == "classification" else regression_metrics
    keys = ("roc_auc", "pr_auc", "brier", "ece", "lift_top10") if spec.kind == "classification" else (
        "spearman", "gini_normalised", "mae")

    results = {}
    for name, overrides in GRID.items():
        lgbm = LightGBMConfig(**{**config.lightgbm_for(args.task).model_dump(), **overrides})
        model = ScoringModel(task=spec.kind, entity=spec.entity, feature_config=config.features, lgbm=lgbm,
                             calibration=config.calibration).fit(frames["train"], targets["train"],
                                                                  eval_set=(frames["valid"], targets["valid"]))
        metrics = evaluate(targets["test"], model.predict(frames["test"])).as_dict()
        results[name] = {**{k: float(metrics[k]) for k in keys}, "trees": int(model.best_iteration_)}
        print(name, json.dumps(results[name]), flush=True)
    if spec.kind == "classification":
        base = baseline.fit_logistic_baseline(model.inputs_, frames["train"], targets["train"],
                                              max_rows=config.baseline_max_rows, seed=0)
        metrics = evaluate(targets["test"], baseline.predict_logistic_baseline(base, model.inputs_, frames["test"])).as_dict()
        results["logistic_baseline"] = {k: float(metrics[k]) for k in keys}
        print("logistic_baseline", json.dumps(results["logistic_baseline"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
