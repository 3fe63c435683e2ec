"""``train``: labels -> out-of-time split -> features -> LightGBM + baseline -> metrics -> MLflow -> registry."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from b2bscore import __version__
from b2bscore.data.dataset import Dataset, frame_digest
from b2bscore.errors import DataError
from b2bscore.features import build_features
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.model.estimator import ScoringModel
from b2bscore.model.pyfunc import REFERENCE_ARTIFACT, log_scoring_model
from b2bscore.model.registry import PromotionDecision, PromotionPolicy, register_and_decide
from b2bscore.model.tasks import TASKS, Task, TaskName
from b2bscore.model.tracking import activate, ensure_experiment, owner_tags, resolve_tracking, settle_abandoned_runs
from b2bscore.training import baseline, plots
from b2bscore.training.config import TrainConfig
from b2bscore.training.evaluate import (
    classification_metrics,
    lift_table,
    metrics_by_segment,
    regression_metrics,
    reliability_curve,
)
from b2bscore.training.labels import LabelSet
from b2bscore.training.splits import OutOfTimeSplit, split_out_of_time
from b2bscore.training.tasks import horizon_days, label_rows, primary_metric, truth_frame


@dataclass(frozen=True)
class TrainResult:
    task: TaskName
    run_id: str
    metrics: dict[str, float]
    split: dict[str, object]
    decision: PromotionDecision


def _check_labels(spec: Task, rows: pd.DataFrame, split: OutOfTimeSplit, config: TrainConfig) -> None:
    if spec.kind == "classification":
        needed = getattr(config, spec.name).min_positives
        for part in ("train", "valid", "test"):
            labels = rows["label"].to_numpy()[getattr(split, part)]
            positives = int(labels.sum())
            if positives < needed or positives == len(labels):
                raise DataError(
                    f"{spec.name}: the {part} period has {positives:,} positive and {len(labels) - positives:,} negative "
                    f"labels; at least {needed} of each are needed (lower {spec.name}.min_positives in the config, "
                    "or provide more history)"
                )
    elif len(rows) < config.cltv.min_rows:
        raise DataError(f"cltv: only {len(rows):,} customer snapshots can be labelled; at least {config.cltv.min_rows} are needed")


def check_trainable(task: TaskName, data: Dataset, config: TrainConfig) -> tuple[LabelSet, OutOfTimeSplit]:
    """Labels and out-of-time split of ``task``, or a DataError saying what is missing and how much is needed."""
    spec = TASKS[task]
    data.require(*spec.tables, purpose=f"the {task} model")
    labels = label_rows(spec, data, config)
    if labels.rows.empty:
        raise DataError(f"{task}: no row can be labelled: every {spec.entity}'s {horizon_days(task, config)}-day outcome window "
                        f"ends after the data's last event ({labels.data_end.date()}); {labels.censored:,} were censored. "
                        "Provide a longer history or shorten the horizon in the config.")
    split = split_out_of_time(labels.rows, config.split)
    _check_labels(spec, labels.rows, split, config)
    return labels, split


def _evaluate(spec: Task, y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    metrics = classification_metrics(y, prediction) if spec.kind == "classification" else regression_metrics(y, prediction)
    return {k: float(v) for k, v in metrics.as_dict().items()}


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items() if np.isfinite(v)}


def train(task: TaskName, data: Dataset, *, config: TrainConfig = TrainConfig(), home: ProjectHome,
          truth_dir: Path | None = None, progress: Progress = no_progress) -> TrainResult:
    """Train, evaluate, log and register one model; the registry changes only if every step succeeded."""
    spec = TASKS[task]
    progress("labels", 0.05)
    labels, split = check_trainable(task, data, config)
    rows = labels.rows

    progress("features", 0.15)
    features = build_features(data, rows[[spec.key, "as_of"]], entity=spec.entity, config=config.features)
    return fit_and_register(task, data, labels, split, features, config=config, home=home, truth_dir=truth_dir,
                            progress=progress)


def _check_point_in_time(features: pd.DataFrame, rows: pd.DataFrame, key: str) -> None:
    """Each feature row must describe its labelled row as of that row's own as-of time: a feature built at any
    other moment (e.g. the end of the label window) would let the model learn from the outcome it predicts."""
    if len(features) != len(rows):
        raise DataError(f"{len(features):,} feature rows for {len(rows):,} labelled rows")
    same_key = features[key].to_numpy(dtype=object) == rows[key].to_numpy(dtype=object)
    same_time = features["as_of"].to_numpy(dtype="datetime64[ns]") == rows["as_of"].to_numpy(dtype="datetime64[ns]")
    wrong = ~(same_key & same_time)
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise DataError(f"{int(wrong.sum()):,} feature row(s) are not built as of their labelled row's as-of time "
                         f"(first: row {first}, {key} {rows[key].iloc[first]} labelled as of {rows['as_of'].iloc[first]}, "
                         f"features of {features[key].iloc[first]} as of {features['as_of'].iloc[first]})")


def fit_and_register(task: TaskName, data: Dataset, labels: LabelSet, split: OutOfTimeSplit, features: pd.DataFrame, *,
                     config: TrainConfig, home: ProjectHome, truth_dir: Path | None = None,
                     progress: Progress = no_progress) -> TrainResult:
    """Fit, evaluate, log and register on already built features (one row per labelled row, same order)."""
    spec = TASKS[task]
    rows = labels.rows
    _check_point_in_time(features, rows, spec.key)
    y = rows["label"].to_numpy(dtype=np.float64)
    parts = {name: getattr(split, name) for name in ("train", "valid", "test")}
    frames = {name: features.iloc[idx].reset_index(drop=True) for name, idx in parts.items()}
    targets = {name: y[idx] for name, idx in parts.items()}

    progress("fit", 0.4)
    model = ScoringModel(task=spec.kind, entity=spec.entity, feature_config=config.features, lgbm=config.lightgbm_for(task),
                         calibration=config.calibration).fit(frames["train"], targets["train"],
                                                              eval_set=(frames["valid"], targets["valid"]))
    test_pred = model.predict(frames["test"])
    progress("baseline", 0.6)
    if spec.kind == "classification":
        base = baseline.fit_logistic_baseline(model.inputs_, frames["train"], targets["train"],
                                              max_rows=config.baseline_max_rows, seed=config.lightgbm.seed)
        base_pred = baseline.predict_logistic_baseline(base, model.inputs_, frames["test"])
    else:
        base_pred = baseline.run_rate_baseline(frames["test"], horizon_days(task, config))

    progress("evaluate", 0.7)
    metrics = {
        **_prefixed("test", _evaluate(spec, targets["test"], test_pred)),
        **_prefixed("valid", _evaluate(spec, targets["valid"], model.predict(frames["valid"]))),
        **_prefixed("baseline_test", _evaluate(spec, targets["test"], base_pred)),
    }
    test_rows = rows.iloc[split.test].reset_index(drop=True)
    oracle = _oracle_metrics(spec, config, truth_dir, test_rows, test_pred)
    metrics.update(oracle)
    primary = primary_metric(task, config)
    metrics[f"lift_over_baseline_{primary}"] = metrics.get(f"test_{primary}", np.nan) - metrics.get(f"baseline_test_{primary}", np.nan)

    progress("log", 0.8)
    tracking = resolve_tracking(home)
    client = activate(tracking)
    experiment_id = ensure_experiment(spec.experiment, tracking)
    test_digest = frame_digest(test_rows[[spec.key, "as_of", "label"]])
    settle_abandoned_runs(client)  # runs of killed jobs left RUNNING are marked FAILED
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{task}-lightgbm", tags=owner_tags()) as run:
        _log_run(spec, config, data, labels, split, model, frames, targets, test_pred, features, rows, metrics, test_digest)
        model_info = log_scoring_model(model, data, rows.iloc[split.test[:3]])
    progress("register", 0.95)
    override, note = _champion_on_test(client, task, test_digest, frames["test"], targets["test"], spec, primary,
                                       split.test_start)
    fit_label_end = rows["label_end"].iloc[np.concatenate([split.train, split.valid])].max()
    decision = register_and_decide(
        client, name=spec.model_name, model_uri=model_info.model_uri, run_id=run.info.run_id,
        test_metrics={k: v for k, v in metrics.items() if k.startswith("test_")}, test_set_digest=test_digest,
        policy=PromotionPolicy(metric=f"test_{primary}", margin=config.promotion.margin,
                               auto_promote=config.promotion.auto_promote),
        champion_metric_override=override, champion_note=note, audit_log=home.audit_log,
        extra_tags={"fit_label_end": pd.Timestamp(fit_label_end).isoformat(), "test_start": split.test_start.isoformat()},
    )
    progress("done", 1.0)
    return TrainResult(task=task, run_id=run.info.run_id, metrics=metrics, split=split.describe(), decision=decision)


def _oracle_metrics(spec: Task, config: TrainConfig, truth_dir: Path | None, test_rows: pd.DataFrame,
                    test_pred: np.ndarray) -> dict[str, float]:
    """The generator's true probabilities (or expected values) scored like the model, on the test rows they cover,
    and the gap oracle - model on exactly those rows."""
    truth = truth_frame(spec.name, truth_dir)
    if truth is None or horizon_days(spec.name, config) != spec.oracle_horizon_days:
        return {}
    keys = ["lead_id"] if spec.name == "conversion" else ["account_id", "as_of"]
    joined = test_rows.merge(truth, on=keys, how="left")
    known = joined["oracle"].notna().to_numpy()
    if known.sum() < 0.9 * len(joined):
        return {}
    y = joined["label"].to_numpy()[known]
    oracle = _evaluate(spec, y, joined["oracle"].to_numpy()[known])
    model = _evaluate(spec, y, test_pred[known])
    gaps = {f"oracle_gap_{k}": oracle[k] - model[k] for k in oracle if k not in ("n", "positives", "base_rate")}
    return {**_prefixed("oracle_test", oracle), **{k: v for k, v in gaps.items() if np.isfinite(v)}}


def _log_run(spec, config, data, labels, split, model, frames, targets, test_pred, features, rows, metrics, test_digest) -> None:
    mlflow.log_params({
        "task": spec.name, "entity": spec.entity, "horizon_days": horizon_days(spec.name, config),
        "calibration": config.calibration, "best_iteration": model.best_iteration_,
        **{f"lgbm_{k}": v for k, v in config.lightgbm_for(spec.name).model_dump().items()},
        **{f"split_{k}": v for k, v in config.split.model_dump().items()},
    })
    mlflow.log_metrics(metrics)
    label_rate = {name: float(np.mean(targets[name])) for name in targets}
    mlflow.set_tags({
        "b2bscore.version": __version__, "data.digest": data.digest(), "test_set.digest": test_digest,
        "data.end": str(labels.data_end), "as_of.min": str(rows["as_of"].min()), "as_of.max": str(rows["as_of"].max()),
        "labels.censored": labels.censored, "features.count": len(model.inputs_.names),
        **{f"split.{k}": v for k, v in split.describe().items()},
        **{f"label_mean.{k}": round(v, 6) for k, v in label_rate.items()},
    })
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        (out / "features.json").write_text(json.dumps({"numeric": model.inputs_.numeric, "categorical": model.inputs_.categorical}, indent=1))
        (out / "config.json").write_text(config.model_dump_json(indent=1))
        plots.plot_feature_importance(model.feature_importance(), out / "feature_importance.png")
        test_frame = frames["test"].assign(y=targets["test"], p=test_pred)
        kind = spec.kind
        segments = metrics_by_segment(test_frame, [c for c in config.segment_columns if c in test_frame], "y", "p", kind)
        segments.to_csv(out / "metrics_by_segment.csv", index=False)
        if kind == "classification":
            curve = reliability_curve(targets["test"], test_pred)
            curve.to_csv(out / "reliability_curve.csv", index=False)
            plots.plot_reliability(curve, out / "reliability_curve.png")
            lift = lift_table(targets["test"], test_pred)
        else:
            plots.plot_regression_deciles(targets["test"], test_pred, out / "value_deciles.png")
            lift = lift_table(targets["test"], test_pred)
        lift.to_csv(out / "lift_table.csv", index=False)
        plots.plot_lift(lift, out / "lift_chart.png")
        mlflow.log_artifacts(str(out), artifact_path="evaluation")
    _log_reference(model, frames, targets, test_pred)


_REFERENCE_MAX_ROWS = 50_000


def _log_reference(model: ScoringModel, frames: dict[str, pd.DataFrame], targets: dict[str, np.ndarray],
                   test_pred: np.ndarray) -> None:
    """The monitoring reference, recorded with the model: the out-of-time validation and test rows (features the
    model saw at scoring time, its prediction and the realised label), at most ``_REFERENCE_MAX_ROWS`` (seeded)."""
    parts = []
    for name, pred in (("valid", model.predict(frames["valid"])), ("test", test_pred)):
        part = frames[name].copy()
        part["prediction"] = pred
        part["label"] = targets[name]
        part["split"] = name
        parts.append(part)
    reference = pd.concat(parts, ignore_index=True)
    if len(reference) > _REFERENCE_MAX_ROWS:
        reference = reference.sample(_REFERENCE_MAX_ROWS, random_state=0).sort_index()
    reference = reference.drop(columns=[c for c in reference.columns if reference[c].dtype == object
                                        and c not in ("lead_id", "account_id", "split", *model.inputs_.categorical)])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(REFERENCE_ARTIFACT).name
        reference.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(REFERENCE_ARTIFACT).parent))


def _champion_on_test(client, task: TaskName, digest: str, test: pd.DataFrame, y: np.ndarray, spec: Task,
                      primary: str, test_start: pd.Timestamp) -> tuple[float | None, str | None]:
    """The current champion's primary metric on this run's test set, when it was judged on another one.

    Only a champion that saw no outcome from this test period can be re-scored on it: one whose
    training or validation labels reach past ``test_start`` would be judged on data it learnt from.
    """
    from mlflow.exceptions import MlflowException

    try:
        champion = client.get_model_version_by_alias(spec.model_name, "champion")
    except MlflowException:
        return None, None
    if champion.tags.get("test_set_digest") == digest:
        return None, None
    fitted_until = champion.tags.get("fit_label_end")
    if fitted_until is None:
        return None, "not recorded with the period of the outcomes it was fitted on, so it cannot be re-scored fairly"
    if pd.Timestamp(fitted_until) > test_start:
        return None, (f"fitted on outcomes up to {str(fitted_until)[:10]}, which overlap this test period "
                      f"(from {test_start.date()}), so it cannot be judged fairly on it")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{spec.model_name}/{champion.version}")
    previous = pyfunc.unwrap_python_model().model
    try:
        prediction = previous.predict(test)
    except KeyError as exc:
        return None, f"needs feature {exc} that this run does not build"
    return _evaluate(spec, y, prediction).get(primary), None
