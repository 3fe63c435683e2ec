"""Scoring by id: stored feature rows (``b2bscore.serving.online``) -> the champion's scores and exact reasons.

:class:`StoredScorer` turns packed rows straight into the model's matrix (numeric inputs by position, categories by
their code), so a single lead costs one LightGBM prediction on a one-row array and one ``pred_contrib`` call, without
building a DataFrame. The calibrated probability, the score, the grade and the reasons are computed as
``Scorer.score`` computes them (the same learned state: ``booster_``, ``calibrator_``, ``grade_cuts_``; the same
:class:`~b2bscore.serving.reasons.ReasonWriter`), so they equal the batch files' to the last digit (tested).

A champion the array path does not cover -- a blend with a baseline (it reads a frame), a target-encoded input, a
regressor -- scores the same rows through :func:`~b2bscore.serving.online.stored_frame` and ``Scorer.score``: exact as
well, at the DataFrame cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from scipy.special import expit

from b2bscore.data.dataset import empty_table
from b2bscore.features.lead import lead_features
from b2bscore.features.online import RowLayout, config_digest
from b2bscore.model.estimator import combine_scores
from b2bscore.model.scoring import shown_score
from b2bscore.serving.online import OnlineFeatures, StoredRows, StoreUnavailable, row_layout, stored_frame
from b2bscore.serving.predict import Scorer, score_account_features
from b2bscore.serving.predlog import log_rows


class StoredScorer:
    """One champion over one stored layout: the positions of its inputs in the packed rows, built once."""

    def __init__(self, scorer: Scorer, layout: RowLayout) -> None:
        self.scorer, self.layout = scorer, layout
        model = scorer.champion.model
        self.model = model
        baseline = getattr(model, "baseline_", None)
        self.baseline = _ArrayBaseline(baseline) if baseline is not None and hasattr(baseline, "pipeline") else None
        self.fast = (model.task == "classification" and (baseline is None or self.baseline is not None)
                     and not getattr(model, "target_encoders_", None) and not getattr(model, "two_part_", False))
        number_at = {name: j for j, name in enumerate(layout.numeric)}
        text_at = {name: j for j, name in enumerate(layout.text)}
        self.numeric = np.array([number_at[n] for n in model.inputs_.numeric], dtype=np.int64)
        self.categorical = [(text_at[n], {c: float(k) for k, c in enumerate(model.categories_[n])})
                            for n in model.inputs_.categorical]
        self.directed = np.array([number_at.get(scorer.reasons.names[j], -1) for j in scorer.reasons.directed],
                                 dtype=np.int64)
        self._number_at, self._text_at = number_at, text_at

    def matrix(self, rows: StoredRows, positions: list[int]) -> np.ndarray:
        """The model's input matrix of the rows at ``positions``, as ``ScoringModel`` encodes a feature frame."""
        numbers = rows.numbers[positions][:, self.numeric]
        if not self.categorical:
            return numbers
        codes = np.array([[codes.get(rows.texts[i][at], np.nan) for at, codes in self.categorical] for i in positions],
                         dtype=np.float64).reshape(len(positions), len(self.categorical))
        return np.hstack([numbers, codes])

    def score(self, rows: StoredRows, positions: list[int], *, entity: str) -> list[dict]:
        """Per row at ``positions``: probability, score, grade (or risk level), reasons_for, reasons_against (lists)
        and the stored keys, as ``Scorer.score`` gives them for the same rows."""
        if not self.fast:
            return self._score_frame(rows, positions, entity)
        model = self.model
        matrix = self.matrix(rows, positions)
        threads = {"num_threads": 1}  # measured: one thread is faster here, even for 1,000 rows (36 vs 47 ms)
        raw = model.booster_.predict(matrix, num_iteration=model.best_iteration_, **threads)
        contributions = model.booster_.predict(matrix, num_iteration=model.best_iteration_, pred_contrib=True,
                                               **threads)
        if self.baseline is not None:  # as ScoringModel.raw_score and .contributions blend a classifier
            encoded = self.baseline.encode(matrix, [[rows.texts[i][at] for at, _ in self.categorical]
                                                    for i in positions])
            weight = model.blend_weight_
            raw = combine_scores(model.task, raw, expit(self.baseline.margin(encoded)), weight)
            contributions = weight * contributions + (1 - weight) * self.baseline.contributions(encoded)
        probability = calibrated(model, raw)
        directed = (rows.numbers[positions][:, self.directed] if len(self.directed)
                    else np.zeros((len(positions), 0)))
        explained = self.scorer.reasons.explain_rows(lambda k: _Row(self, rows, positions[k]), directed,
                                                     contributions[:, :-1])
        shown = shown_score(probability)
        labels = model.risk_level(probability) if model.task_name == "churn" else model.grade(probability)
        label = "risk_level" if model.task_name == "churn" else "grade"
        return [{"probability": float(probability[k]), "score": int(shown[k]), label: labels[k],
                 "reasons_for": [r.text for r in up], "reasons_against": [r.text for r in down]}
                for k, (up, down) in enumerate(explained)]

    def _score_frame(self, rows: StoredRows, positions: list[int], entity: str) -> list[dict]:
        frame = stored_frame(rows, self.model.feature_config, entity, positions)
        scored = self.scorer.score(frame)
        out = []
        for record in scored.drop(columns=[c for c in ("lead_id", "account_id", "as_of") if c in scored]).to_dict("records"):
            record["reasons_for"] = json.loads(record["reasons_for"])
            record["reasons_against"] = json.loads(record["reasons_against"])
            out.append(record)
        return out


def calibrated(model, raw: np.ndarray) -> np.ndarray:
    """``model.calibrator_.predict_proba(raw)[:, 1]``. For the bounded isotonic calibrator of current models, the
    same arithmetic without scikit-learn's per-call checks: the mean of the folds' isotonic predictions (added in
    the folds' order, then divided, as ``CalibratedClassifierCV.predict_proba`` does), clipped to the bounds."""
    bounded = model.calibrator_
    folds = getattr(getattr(bounded, "calibrator", None), "calibrated_classifiers_", None)
    if (folds is None or not hasattr(bounded, "low") or type(bounded.calibrator).__name__ != "CalibratedClassifierCV"
            or any(f.method != "isotonic" or len(f.calibrators) != 1 for f in folds)):
        return bounded.predict_proba(raw.reshape(-1, 1))[:, 1]
    mean = np.zeros(len(raw))
    for fold in folds:
        mean += _isotonic(fold.calibrators[0], raw)
    mean /= len(folds)
    return np.clip(mean, bounded.low, bounded.high)


def _isotonic(regression, raw: np.ndarray) -> np.ndarray:
    """``IsotonicRegression.predict`` of float64 values, its steps without the input checks (clip, interpolate)."""
    if regression.out_of_bounds != "clip" or regression.X_thresholds_.dtype != np.float64:
        return regression.predict(raw)
    return regression.f_(np.clip(raw, regression.X_min_, regression.X_max_)).astype(np.float64)


class _ArrayBaseline:
    """A fitted ``LogisticBaseline`` on the model's input matrix instead of a frame: its pipeline's learned state
    (the imputer's medians and missing flags, the signed log, the scaler, each category's one-hot columns) applied
    with the same elementwise operations, then its coefficients."""

    def __init__(self, baseline) -> None:
        self.baseline = baseline
        inputs = baseline.inputs
        columns = baseline.pipeline.named_steps["columns"]
        self.n_numeric = len(inputs.numeric)
        self.model = baseline.pipeline.named_steps["model"]
        if self.n_numeric:
            numeric = columns.named_transformers_["numeric"]
            imputer, scaler = numeric[0], numeric[-1]
            self.statistics = imputer.statistics_
            self.flagged = (np.asarray(imputer.indicator_.features_, dtype=np.int64) if imputer.indicator_ is not None
                            else np.zeros(0, dtype=np.int64))
            self.mean, self.scale = scaler.mean_, scaler.scale_
        self.onehot = []  # per categorical input: value -> its one-hot columns (unknown values: the None row)
        if inputs.categorical:
            encoder = columns.named_transformers_["categorical"]
            for i, categories in enumerate(encoder.categories_):
                values = [c for c in categories if isinstance(c, str)]
                probe = np.empty((len(values) + 2, len(inputs.categorical)), dtype=object)
                for j, known in enumerate(encoder.categories_):
                    probe[:, j] = next((c for c in known if isinstance(c, str)), None)
                probe[:, i] = [*values, None, "\x00unknown"]
                out = encoder.transform(pd.DataFrame(probe, columns=list(inputs.categorical)))
                width = [len(c) if p is None else len(c) - len(p) + 1
                         for c, p in zip(encoder.categories_, encoder.infrequent_categories_)]
                start = sum(width[:i])
                block = out[:, start:start + width[i]]
                self.onehot.append(({v: k for k, v in enumerate(values)}, block))  # None: -2, unknown: -1

    def encode(self, matrix: np.ndarray, categories: list[list]) -> np.ndarray:
        """The pipeline's encoded columns of the rows whose model matrix is ``matrix`` (its numbers come first) and
        whose categorical inputs hold ``categories`` (per row, in the inputs' order)."""
        parts = []
        if self.n_numeric:
            numbers = matrix[:, :self.n_numeric]
            missing = np.isnan(numbers)
            imputed = np.where(missing, self.statistics, numbers)
            block = np.hstack([imputed, missing[:, self.flagged].astype(np.float64)])
            block = np.sign(block) * np.log1p(np.abs(block))
            parts.append((block - self.mean) / self.scale)
        for i, (known, block) in enumerate(self.onehot):
            parts.append(block[[-2 if row[i] is None else known.get(row[i], -1) for row in categories]])
        return np.hstack(parts)

    def margin(self, encoded: np.ndarray) -> np.ndarray:
        return encoded @ self.model.coef_[0] + self.model.intercept_[0]

    def contributions(self, encoded: np.ndarray) -> np.ndarray:
        """As ``LogisticBaseline.contributions``: per input, then the bias."""
        coef = self.model.coef_[0]
        per_column = (encoded - self.baseline.column_means) * coef
        out = np.zeros((len(encoded), len(self.baseline.inputs.names) + 1))
        np.add.at(out.T, self.baseline.owner, per_column.T)
        out[:, -1] = self.model.intercept_[0] + float(self.baseline.column_means @ coef)
        return out


class _Row:
    """One stored row read as ``row[name]`` (what a reason shows of a feature), as a feature frame's row holds it."""

    __slots__ = ("scorer", "rows", "i")

    def __init__(self, scorer: StoredScorer, rows: StoredRows, i: int) -> None:
        self.scorer, self.rows, self.i = scorer, rows, i

    def __getitem__(self, name: str) -> object:
        at = self.scorer._number_at.get(name)
        if at is None:
            return self.rows.texts[self.i][self.scorer._text_at[name]]
        value = self.rows.numbers[self.i, at]
        return bool(value) if name in self.scorer.layout.bools else value


def stored_features(rows: StoredRows, scorer: Scorer, entity: str, positions: list[int]) -> pd.DataFrame:
    """The feature frame of stored rows (what the prediction log keeps of a by-id score)."""
    return stored_frame(rows, scorer.champion.model.feature_config, entity, positions)


LEAD_FIELD_FEATURES = ("lead_source", "lead_buying_role", "lead_seniority", "lead_function", "lead_age_days")
"""The lead features computed from the lead's own fields alone (source, buying role, job title, creation time): what
fresh lead fields change in a stored row. The other lead features count events."""


def apply_lead_fields(rows: StoredRows, k: int, fields: Mapping) -> None:
    """Row ``k`` with :data:`LEAD_FIELD_FEATURES` recomputed from the lead's fields ``fields`` (a ``leads`` row of the
    contract: source, buying_role, job_title, created_at; a field left out is missing) by the feature code itself
    (:func:`b2bscore.features.lead.lead_features`), as of the stored as-of."""
    table = empty_table("leads")
    row = {c: fields.get(c) for c in table.columns}
    table = pd.DataFrame([row], columns=table.columns).astype({c: table[c].dtype for c in table.columns
                                                              if c != "created_at"}, errors="ignore")
    table["created_at"] = pd.to_datetime(table["created_at"]).astype("datetime64[ns]")
    built = lead_features(table, np.array([0]), np.array([rows.as_of.to_datetime64()], dtype="datetime64[ns]"),
                          empty_table("activities"))
    numbers, texts = {n: j for j, n in enumerate(rows.layout.numeric)}, {n: j for j, n in enumerate(rows.layout.text)}
    for name in LEAD_FIELD_FEATURES:
        value = built[name].iloc[0]
        if name in numbers:
            rows.numbers[k, numbers[name]] = value
        else:
            rows.texts[k][texts[name]] = None if pd.isna(value) else value


class ByIdScoring:
    """Scores ids from the online store's published generation (``online``) with the champions given per call; the
    :class:`StoredScorer` of each champion and layout is built once."""

    def __init__(self, online: OnlineFeatures) -> None:
        self.online = online
        self._scorers: dict[tuple[int, str], StoredScorer] = {}

    def _stored_scorer(self, scorer: Scorer, entity: str) -> StoredScorer:
        key = (id(scorer), entity)
        found = self._scorers.get(key)
        if found is None or found.scorer is not scorer:
            if len(self._scorers) > 32:
                self._scorers.clear()
            found = self._scorers[key] = StoredScorer(scorer, row_layout(scorer.champion.model.feature_config, entity))
        return found

    def leads(self, scorer: Scorer, ids: Sequence[str], fresh: Mapping[int, Mapping] | None = None
              ) -> tuple[list[dict | None], StoredRows | None, str | None]:
        """Per id: its score (lead_id, account_id, probability, score, grade, reasons, model_version,
        features_as_of, source) or None when the store does not hold it; the rows read; and why the store cannot be
        used (then nothing is scored). ``fresh``: position -> the lead's fields as the request gives them now (the
        contract's ``leads`` row), applied on top of the stored row by :func:`apply_lead_fields`."""
        config = scorer.champion.model.feature_config
        problem = self.online.unusable("conversion", config)
        if problem is not None:
            return [None] * len(ids), None, problem
        try:
            rows = self.online.rows("conversion", config, "lead", ids)
        except StoreUnavailable as exc:
            return [None] * len(ids), None, str(exc)
        for k, fields in (fresh or {}).items():
            if rows.found[k]:
                apply_lead_fields(rows, k, fields)
        found = [int(k) for k in np.flatnonzero(rows.found)]
        out: list[dict | None] = [None] * len(ids)
        if found:
            account_at = rows.layout.text.index("account_id")
            as_of = rows.as_of.to_pydatetime()
            for k, scored in zip(found, self._stored_scorer(scorer, "lead").score(rows, found, entity="lead")):
                scored.update(lead_id=rows.ids[k], account_id=rows.texts[k][account_at], features_as_of=as_of,
                              source="online_store+request" if k in (fresh or {}) else "online_store",
                              model_version=scorer.champion.version)
                out[k] = scored
        return out, rows, None

    def accounts(self, churn: Scorer | None, cltv: Scorer | None, propensity: Scorer | None, ids: Sequence[str]
                 ) -> tuple[pd.DataFrame | None, pd.DataFrame | None, np.ndarray, str | None]:
        """(scores, features) of the ids the store holds, as ``score_account_rows`` gives them, which ids those are
        (a mask), and why the store cannot be used (then nothing is scored)."""
        models = {t: s for t, s in (("propensity", propensity), ("churn", churn), ("cltv", cltv)) if s is not None}
        for task, scorer in models.items():
            problem = self.online.unusable(task, scorer.champion.model.feature_config)
            if problem is not None:
                return None, None, np.zeros(len(ids), dtype=bool), problem
        by_digest: dict[str, StoredRows] = {}
        for task, scorer in models.items():
            config = scorer.champion.model.feature_config
            if config_digest(config) not in by_digest:
                try:
                    by_digest[config_digest(config)] = self.online.rows(task, config, "account", ids)
                except StoreUnavailable as exc:
                    return None, None, np.zeros(len(ids), dtype=bool), str(exc)
        found = np.logical_and.reduce([rows.found for rows in by_digest.values()])
        positions = [int(k) for k in np.flatnonzero(found)]
        if not positions:
            return None, None, found, None
        scores, features = score_account_features(
            churn, cltv, lambda config: stored_frame(by_digest[config_digest(config)], config, "account", positions),
            propensity=propensity)
        return scores, features, found, None


def lead_log_rows(payloads: list[tuple[Scorer, StoredRows, list[dict], list[int]]]) -> pd.DataFrame:
    """The prediction-log rows of leads scored by id: each payload holds the champion, the rows read, the results
    and their positions in the rows (one frame for many requests; the rows of one generation and version at once)."""
    groups: dict[tuple, list] = {}
    for payload in payloads:
        scorer, rows = payload[0], payload[1]
        groups.setdefault((id(scorer), rows.as_of, rows.layout), []).append(payload)
    frames = []
    for group in groups.values():
        scorer, first = group[0][0], group[0][1]
        merged = StoredRows(ids=[rows.ids[k] for _, rows, _, at in group for k in at],
                            layout=first.layout, numbers=np.vstack([rows.numbers[at] for _, rows, _, at in group]),
                            texts=[rows.texts[k] for _, rows, _, at in group for k in at],
                            found=np.ones(sum(len(at) for *_, at in group), dtype=bool), as_of=first.as_of)
        scored = [r for _, _, results, _ in group for r in results]
        features = stored_frame(merged, scorer.champion.model.feature_config, "lead", list(range(len(scored))))
        scores = pd.DataFrame({"lead_id": [r["lead_id"] for r in scored],
                               "account_id": [r["account_id"] for r in scored], "as_of": features["as_of"].to_numpy(),
                               "probability": [r["probability"] for r in scored],
                               "score": [r["score"] for r in scored], "grade": [r["grade"] for r in scored],
                               "model_version": scorer.champion.version})
        frames.append(log_rows(scores, features, source="api", now=datetime.now(timezone.utc)))
    return pd.concat(frames, ignore_index=True)
