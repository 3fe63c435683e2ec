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
from b2bscore.features import build_features, resolve_custom_features
from b2bscore.home import Progress, ProjectHome, no_progress
from b2bscore.io import write_table
from b2bscore.model.baseline import LogisticBaseline, RunRateBaseline
from b2bscore.model.estimator import GRADES, RISK_LEVELS, ModelInputs, ScoringModel, baseline_score
from b2bscore.model.pyfunc import REFERENCE_ARTIFACT, log_scoring_model
from b2bscore.model.registry import PromotionDecision, PromotionPolicy, register_and_decide
from b2bscore.model.tasks import TASKS, Task, TaskName
from b2bscore.model.tracking import activate, ensure_experiment, owner_tags, resolve_tracking, settle_abandoned_runs
from b2bscore.training import plots
from b2bscore.training.btyd import resolve_order_features
from b2bscore.training.candidates import choose_candidate
from b2bscore.training.config import TrainConfig
from b2bscore.training.evaluate import (
    classification_metrics,
    lift_table,
    metrics_by_segment,
    regression_metrics,
    reliability_curve,
)
from b2bscore.training.history import fit_to_history
from b2bscore.training.labels import LabelSet
from b2bscore.training.leakage import LeakyFeature, screen_leaky_features
from b2bscore.training.splits import OutOfTimeSplit, split_out_of_time
from b2bscore.training.tasks import horizon_days, label_rows, primary_metric, truth_frame


@dataclass(frozen=True)
class TrainResult:
    task: TaskName
    run_id: str
    metrics: dict[str, float]
    split: dict[str, object]
    decision: PromotionDecision
    candidate: str = "lightgbm"  # which candidate was registered: lightgbm, baseline or blend
    candidate_reason: str = ""
    notes: tuple[str, ...] = ()  # what the user should know about this run (rows left out)
    warnings: tuple[str, ...] = ()  # what may be wrong with the data (features excluded as leaks)


def _label_context(task: TaskName, labels: LabelSet, config: TrainConfig) -> str:
    """What else shaped the labelled rows: rows still censored, rows before outcomes were recorded."""
    spec = TASKS[task]
    parts = []
    if labels.uncovered:
        parts.append(f"{labels.uncovered:,} {spec.entity}s whose outcome window closed before the first recorded win "
                     f"({labels.covered_from:%Y-%m-%d}) were left out: outcomes seem to be recorded only from about then")
    if labels.censored:
        parts.append(f"{labels.censored:,} more recent ones are censored: their {horizon_days(task, config)}-day "
                     f"outcome window ends after the data's last event ({labels.data_end:%Y-%m-%d})")
    return (" (" + "; ".join(parts) + ")") if parts else ""


def check_trainable(task: TaskName, data: Dataset, config: TrainConfig) -> tuple[LabelSet, OutOfTimeSplit]:
    """Labels and out-of-time split of ``task``, or a DataError saying what is missing, why, and what helps."""
    spec = TASKS[task]
    data.require(*spec.tables, purpose=f"the {task} model")
    labels = label_rows(spec, data, config)
    if labels.rows.empty:
        raise DataError(f"{task}: no row can be labelled: every {spec.entity}'s {horizon_days(task, config)}-day outcome "
                        f"window ends after the data's last event ({labels.data_end.date()}) or starts before outcomes "
                        f"are recorded{_label_context(task, labels, config)}. Provide a longer history or shorten the "
                        "horizon in the config.")
    if spec.kind == "regression" and len(labels.rows) < config.cltv.min_rows:
        raise DataError(f"cltv: only {len(labels.rows):,} customer snapshots can be labelled; at least "
                        f"{config.cltv.min_rows} are needed{_label_context(task, labels, config)}")
    need = getattr(config, task).min_positives if spec.kind == "classification" else None
    try:
        split = split_out_of_time(labels.rows, config.split, min_positives=need, what=f"labelled {spec.entity} rows")
    except DataError as error:
        raise DataError(f"{task}: {error}{_label_context(task, labels, config)}") from None
    return labels, split


def _evaluate(spec: Task, y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    metrics = classification_metrics(y, prediction) if spec.kind == "classification" else regression_metrics(y, prediction)
    return {k: float(v) for k, v in metrics.as_dict().items()}


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items() if np.isfinite(v)}


def train(task: TaskName, data: Dataset, *, config: TrainConfig = TrainConfig(), home: ProjectHome,
          truth_dir: Path | None = None, progress: Progress = no_progress, features_from: Path | None = None,
          features_to: Path | None = None) -> TrainResult:
    """Train, evaluate, log and register one model; the registry changes only if every step succeeded.

    ``features_from``: a folder holding ``<task>.parquet``, the feature table of this run's labelled rows built
    elsewhere (by Spark at scale, or written by an earlier run's ``features_to``); its rows are matched to the
    labelled rows by key and as-of time, so labels, split, candidates and the registry decision are the same as
    when the features are built here. ``features_to``: a folder to write this run's feature table to (same format).
    """
    spec = TASKS[task]
    progress("labels", 0.05)
    fitted = fit_to_history(task, data, config, check_trainable)  # a shorter default horizon if the history is short
    labels, split, config = fitted.labels, fitted.split, fitted.config
    rows = labels.rows

    progress("features", 0.15)
    # the customer's own columns and activity topics, as found in the training period (before validation starts)
    config = config.model_copy(update={"features": resolve_custom_features(data, config.features, split.valid_start)})
    if task in ("churn", "cltv"):  # buyers who order at will: the buy-till-you-die view of each as-of time
        config = config.model_copy(update={"features": resolve_order_features(
            data, config.features, rows["as_of"], horizon_days=horizon_days(task, config), settings=config.btyd,
            progress=lambda label, fraction: progress(label, 0.15 + 0.1 * fraction))})
    if features_from is not None:
        source = Path(features_from) / f"{task}.parquet"
        features = read_feature_table(source, rows[[spec.key, "as_of"]], spec, config)
    else:
        source = None
        features = build_features(data, rows[[spec.key, "as_of"]], entity=spec.entity, config=config.features)
    if features_to is not None:
        write_table(features, Path(features_to) / f"{task}.parquet")
    lineage = {"features.source": str(source.resolve()) if source is not None else "built from the data",
               "features.digest": frame_digest(features)}
    return fit_and_register(task, data, labels, split, features, config=config, home=home, truth_dir=truth_dir,
                            progress=progress, notes=(fitted.note,) if fitted.note else (), lineage=lineage)


def read_feature_table(path: Path, rows: pd.DataFrame, spec: Task, config: TrainConfig) -> pd.DataFrame:
    """The feature rows of the labelled ``rows`` (key and as-of time, in their order) from a feature table built
    elsewhere; a DataError names the file and what is wrong: absent, unreadable, a missing key, as-of or model
    input column, a duplicated row, or labelled rows it has no features for."""
    if not path.is_file():
        raise DataError(f"{path}: no feature table for {spec.name} (expected <folder>/{spec.name}.parquet, as "
                        "written by `b2bscore train ... --write-features <folder>`)")
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{path}: cannot be read as a Parquet feature table ({exc})") from None
    key = spec.key
    needed = [key, "as_of", *ModelInputs.declared(config.features, spec.entity, spec.name).names]
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise DataError(f"{path}: the feature table has no column {', '.join(missing[:10])}"
                        f"{f' (and {len(missing) - 10} more)' if len(missing) > 10 else ''}; it must hold {key}, "
                        f"as_of and every input of the {spec.name} model as this training configuration resolves "
                        "them (build it with the same configuration)")
    try:
        table["as_of"] = pd.to_datetime(table["as_of"]).astype("datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column as_of is not a date and time ({exc})") from None
    table[key] = table[key].astype(str)
    duplicated = table.duplicated([key, "as_of"])
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise DataError(f"{path}: {int(duplicated.sum()):,} duplicated feature row(s) (first: {key} {first[key]} "
                        f"as of {first['as_of']})")
    wanted = rows[[key, "as_of"]].astype({key: str, "as_of": "datetime64[ns]"}).reset_index(drop=True)
    joined = wanted.merge(table, on=[key, "as_of"], how="left", indicator=True, validate="one_to_one")
    absent = (joined.pop("_merge") != "both").to_numpy()
    if absent.any():
        first = wanted[absent].iloc[0]
        raise DataError(f"{path}: no features for {int(absent.sum()):,} of the {len(wanted):,} labelled {spec.entity} "
                        f"rows (first: {key} {first[key]} as of {first['as_of']}); build the table for the rows "
                        "this training configuration labels")
    joined[key] = rows[key].to_numpy()
    return joined


def _exclude_leaky_features(spec: Task, config: TrainConfig, train: pd.DataFrame,
                            y: np.ndarray) -> tuple[TrainConfig, list[LeakyFeature]]:
    """The configuration with the features that alone give the training labels away excluded from the model's
    inputs (still built, so reasons and monitoring see them), and those features. Classifiers only: the screen
    judges 0/1 labels."""
    settings = config.leakage
    if spec.kind != "classification" or not settings.enabled:
        return config, []
    inputs = ModelInputs.declared(config.features, spec.entity)
    screened = [n for n in inputs.names if n not in settings.allow]
    leaky = screen_leaky_features(train, y, [n for n in inputs.numeric if n in screened],
                                  [n for n in inputs.categorical if n in screened],
                                  max_auc=settings.max_auc, max_agreement=settings.max_agreement)
    if not leaky:
        return config, []
    features = config.features.model_copy(update={"excluded": (*config.features.excluded, *(f.name for f in leaky))})
    return config.model_copy(update={"features": features}), leaky


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
                     progress: Progress = no_progress, notes: tuple[str, ...] = (),
                     lineage: dict[str, str] | None = None) -> TrainResult:
    """Fit, evaluate, log and register on already built features (one row per labelled row, same order); ``notes``
    are what the caller already has to tell the user (e.g. the horizon chosen for a short history)."""
    spec = TASKS[task]
    rows = labels.rows
    _check_point_in_time(features, rows, spec.key)
    y = rows["label"].to_numpy(dtype=np.float64)
    parts = {name: getattr(split, name) for name in ("train", "valid", "test")}
    frames = {name: features.iloc[idx].reset_index(drop=True) for name, idx in parts.items()}
    targets = {name: y[idx] for name, idx in parts.items()}

    notes, warnings = list(notes), []
    config, excluded = _exclude_leaky_features(spec, config, frames["train"], targets["train"])
    if excluded:
        warnings.append(f"{len(excluded)} feature(s) were left out of the model because each alone predicts the label "
                        "almost perfectly on the training period, as fields filled in after the outcome do (a status, "
                        "a stage, a close reason): " + " ".join(f.sentence for f in excluded) + " If one is known "
                        "before the outcome, list it under leakage.allow in the training configuration.")
    if labels.uncovered:
        notes.append(f"{labels.uncovered:,} {spec.entity}s whose outcome window closed before the first recorded win "
                     f"({labels.covered_from:%Y-%m-%d}) were left out rather than labelled negative: outcomes seem "
                     "to be recorded only from about then")
    progress("fit", 0.4)
    trees = ScoringModel(task=spec.kind, entity=spec.entity, feature_config=config.features, lgbm=config.lightgbm_for(task),
                         calibration=config.calibration, business_task=task,
                         form=config.cltv.form if task == "cltv" else "auto").fit(frames["train"], targets["train"],
                                                              eval_set=(frames["valid"], targets["valid"]))
    progress("baseline", 0.55)
    if spec.kind == "classification":
        base = LogisticBaseline(trees.inputs_).fit(frames["train"], targets["train"], max_rows=config.baseline_max_rows,
                                                   seed=config.lightgbm.seed)
    elif "btyd_expected_revenue" in trees.inputs_.names:
        h = horizon_days(task, config)
        base = RunRateBaseline(h, column="btyd_expected_revenue", per_days=h)
    else:
        base = RunRateBaseline(horizon_days(task, config))
    primary = primary_metric(task, config)
    choice = choose_candidate(task, trees, base, frames["valid"], targets["valid"], metric=primary,
                              config=config.candidates)
    model = trees.with_candidate(choice.chosen.name, base, choice.chosen.weight,
                                 eval_set=(frames["valid"], targets["valid"]))
    test_pred = model.predict(frames["test"])
    base_pred = baseline_score(base, frames["test"])

    progress("evaluate", 0.7)
    metrics = {
        **_prefixed("test", _evaluate(spec, targets["test"], test_pred)),
        **_prefixed("valid", _evaluate(spec, targets["valid"], model.predict(frames["valid"]))),
        **_prefixed("baseline_test", _evaluate(spec, targets["test"], base_pred)),
        **_prefixed("baseline_valid", _evaluate(spec, targets["valid"], baseline_score(base, frames["valid"]))),
        **choice.metrics(),
    }
    metrics.update(_rating_outcomes(task, model, targets["test"], test_pred))
    for part in ("valid", "test"):
        metrics.update(_btyd_metrics(spec, part, frames[part], targets[part]))
    test_rows = rows.iloc[split.test].reset_index(drop=True)
    oracle = _oracle_metrics(spec, config, truth_dir, test_rows, test_pred)
    metrics.update(oracle)
    metrics[f"lift_over_baseline_{primary}"] = metrics.get(f"test_{primary}", np.nan) - metrics.get(f"baseline_test_{primary}", np.nan)

    progress("log", 0.8)
    tracking = resolve_tracking(home)
    client = activate(tracking)
    experiment_id = ensure_experiment(spec.experiment, tracking)
    test_digest = frame_digest(test_rows[[spec.key, "as_of", "label"]])
    settle_abandoned_runs(client)  # runs of killed jobs left RUNNING are marked FAILED
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{task}-lightgbm", tags=owner_tags()) as run:
        _log_run(spec, config, data, labels, split, model, frames, targets, test_pred, features, rows, metrics, test_digest)
        mlflow.set_tags({**(lineage or {}), "candidate": model.candidate, "candidate.reason": choice.reason(),
                         "leakage.excluded": ", ".join(f.name for f in excluded) or "none",
                         **{f"leakage.{f.name}": f.sentence[:5000] for f in excluded}})
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
        extra_tags={"fit_label_end": pd.Timestamp(fit_label_end).isoformat(), "test_start": split.test_start.isoformat(),
                    "candidate": model.candidate, "candidate.reason": choice.reason(),
                    **{k: f"{metrics[k]:.6g}" for k in (f"baseline_test_{primary}", f"baseline_valid_{primary}",
                                                        f"chosen_valid_{primary}") if k in metrics}},
    )
    progress("done", 1.0)
    return TrainResult(task=task, run_id=run.info.run_id, metrics=metrics, split=split.describe(), decision=decision,
                       candidate=model.candidate, candidate_reason=choice.reason(), notes=tuple(notes),
                       warnings=tuple(warnings))


def _btyd_score(spec: Task, frame: pd.DataFrame) -> np.ndarray | None:
    """The buy-till-you-die reference's score of each row: expected revenue (CLTV), 1 - P(alive) (churn)."""
    if spec.name == "cltv" and "btyd_expected_revenue" in frame:
        return np.nan_to_num(frame["btyd_expected_revenue"].to_numpy(dtype=np.float64))
    if spec.name == "churn" and "btyd_p_alive" in frame:
        return 1.0 - np.nan_to_num(frame["btyd_p_alive"].to_numpy(dtype=np.float64), nan=1.0)
    return None


def _btyd_metrics(spec: Task, part: str, frame: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """The buy-till-you-die reference on the same rows as the model (``btyd_<part>_*``): its expected revenue for
    CLTV; for churn 1 - P(alive) and, as ``btyd_orders_<part>_roc_auc`` / ``_pr_auc``, the expected number of orders
    (fewer: more likely to stop). Nothing when the run has no buy-till-you-die features."""
    score = _btyd_score(spec, frame)
    if score is None:
        return {}
    metrics = _prefixed(f"btyd_{part}", _evaluate(spec, y, score))
    if spec.name == "churn":
        fewer = np.exp(-np.nan_to_num(frame["btyd_expected_orders"].to_numpy()))  # ranks as -expected orders
        orders = _evaluate(spec, y, fewer)
        metrics |= {f"btyd_orders_{part}_{k}": orders[k] for k in ("roc_auc", "pr_auc") if np.isfinite(orders[k])}
    return metrics


def _rating_outcomes(task: TaskName, model: ScoringModel, y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """What each grade (churn: risk level) turned out to be on the test period: ``test_grade_<G>_rate`` (the share
    that converted or churned) and ``test_grade_<G>_n``. A grade that means what it says orders these rates."""
    if TASKS[task].kind != "classification":
        return {}
    labels, names = (model.risk_level(prediction), RISK_LEVELS) if task == "churn" else (model.grade(prediction), GRADES)
    prefix = "test_risk" if task == "churn" else "test_grade"
    out: dict[str, float] = {}
    for name in names:
        chosen = labels == name
        out[f"{prefix}_{name}_n"] = float(chosen.sum())
        if chosen.any():
            out[f"{prefix}_{name}_rate"] = float(np.mean(y[chosen]))
    return out


def _oracle_metrics(spec: Task, config: TrainConfig, truth_dir: Path | None, test_rows: pd.DataFrame,
                    test_pred: np.ndarray) -> dict[str, float]:
    """The generator's true probabilities (or expected values) scored like the model, on the test rows they cover,
    and the gap oracle - model on exactly those rows."""
    truth = truth_frame(spec.name, truth_dir, horizon_days(spec.name, config),  # None without truth at this horizon
                        churn_definition=config.churn.definition)
    if truth is None:
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
        "calibration": config.calibration, "best_iteration": model.best_iteration_, "candidate": model.candidate,
        "blend_weight_lightgbm": getattr(model, "blend_weight_", 1.0),
        **({"form": "two_part", "level": round(model.level_, 6),
            "occurrence_iteration": getattr(model, "occurrence_iteration_", 0)}
           if getattr(model, "two_part_", False) else {"form": "tweedie"} if spec.kind == "regression" else {}),
        **{f"lgbm_{k}": v for k, v in config.lightgbm_for(spec.name).model_dump().items()},
        **{f"split_{k}": v for k, v in config.split.model_dump().items()},
    })
    mlflow.log_metrics(metrics)
    label_rate = {name: float(np.mean(targets[name])) for name in targets}
    mlflow.set_tags({
        "b2bscore.version": __version__, "data.digest": data.digest(), "test_set.digest": test_digest,
        "data.end": str(labels.data_end), "as_of.min": str(rows["as_of"].min()), "as_of.max": str(rows["as_of"].max()),
        "labels.censored": labels.censored, "labels.uncovered": labels.uncovered,
        "labels.covered_from": str(labels.covered_from), "features.count": len(model.inputs_.names),
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
        segment_columns = [c for c in config.segment_columns if c in test_frame]
        segments = metrics_by_segment(test_frame, segment_columns, "y", "p", kind)
        reference = _btyd_score(spec, test_frame)
        if reference is not None:  # the buy-till-you-die reference on the same rows, segment by segment
            btyd = metrics_by_segment(test_frame.assign(p=reference), segment_columns, "y", "p", kind)
            segments = segments.merge(btyd.drop(columns=["n", "note"]).add_prefix("btyd_").rename(
                columns={"btyd_segment_column": "segment_column", "btyd_segment": "segment"}),
                on=["segment_column", "segment"], how="left")
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
