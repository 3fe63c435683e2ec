"""The registry's champions, loaded as the registered pyfunc models, and account-level scores from them.

Used by segmentation, batch scoring and the service: a champion is loaded from
``models:/<name>@champion`` (the self-sufficient MLflow model) and scored through
``b2bscore.model.scoring`` — the one code path from raw data to score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from b2bscore.data.dataset import Dataset
from b2bscore.features import build_features
from b2bscore.features.firmographic import SIZE_BANDS, band
from b2bscore.model.estimator import ScoringModel
from b2bscore.model.registry import ABANDONED, PENDING, REGISTRATION, abandoned_alias_target, settle_abandoned
from b2bscore.model.scoring import FeatureCache, prospect_mask, score_features
from b2bscore.model.tasks import MODEL_NAMES, TASK_NAMES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Champion:
    """One loaded champion: the scoring model inside the registered pyfunc, and where it came from."""

    task: str
    name: str
    version: str
    run_id: str | None
    model: ScoringModel
    metrics: dict[str, float]


def load_champion(client: MlflowClient, task: str, alias: str = "champion") -> Champion | None:
    """The model under ``alias`` of ``task``'s registered model, or None when there is none."""
    name = MODEL_NAMES[task]
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    if version.tags.get(REGISTRATION) in (PENDING, ABANDONED):
        version = _settled(client, name, alias, version)
        if version is None:
            return None
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    model = pyfunc.unwrap_python_model().model
    metrics = {k.removeprefix("test_"): value for k, v in version.tags.items()
               if k.startswith("test_") and (value := _as_float(v)) is not None}
    return Champion(task=task, name=name, version=str(version.version), run_id=version.run_id, model=model, metrics=metrics)


def _settled(client: MlflowClient, name: str, alias: str, version):
    """The version under ``alias`` once an interrupted registration that moved it is settled (the alias back where
    it was); when the registry refuses the settlement (read-only), the version the alias held before, unchanged."""
    try:
        if not settle_abandoned(client, name):
            return version  # a registration still running: its version is about to be the champion anyway
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        previous = abandoned_alias_target(version, alias)
        log.warning("%s v%s under %r was left by an interrupted registration and could not be settled (%s); using %s",
                    name, version.version, alias, exc, f"v{previous}" if previous else "no version")
        if previous is None:
            return None
        try:
            return client.get_model_version(name, previous)
        except MlflowException:
            return None


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # other test_* tags, e.g. test_start (a date)
        return None


def load_champions(client: MlflowClient) -> dict[str, Champion]:
    """Every task's champion that exists."""
    loaded = {task: load_champion(client, task) for task in TASK_NAMES}
    return {task: champion for task, champion in loaded.items() if champion is not None}


@dataclass(frozen=True)
class AccountScores:
    """One row per account: ``p_convert`` (best open lead), ``p_win`` (prospects: the propensity model's chance to
    win a first deal), ``p_churn`` and ``cltv_pred`` (customers), ``expected_value`` (customers: predicted CLTV;
    prospects: p_win -- or, without a propensity champion, p_convert -- x look-alike first-year value)."""

    frame: pd.DataFrame
    versions: dict[str, str]
    missing: tuple[str, ...] = field(default=())


def account_scores(data: Dataset, as_of: pd.Timestamp, champions: dict[str, Champion]) -> AccountScores:
    """Score every account of ``data`` as of ``as_of`` with whichever champions exist."""
    as_of = pd.Timestamp(as_of)
    frame = pd.DataFrame({"account_id": data.accounts["account_id"].to_numpy()})
    for column in ("p_convert", "p_win", "p_churn", "cltv_pred"):
        frame[column] = np.nan
    account_models = [c for t, c in champions.items() if t in ("churn", "cltv")]
    built = FeatureCache(data, as_of=as_of, entity="account")
    features = None
    if "propensity" in champions:
        model = champions["propensity"].model
        features = built.features(model.feature_config)
        prospect = prospect_mask(features)
        frame["p_win"] = np.where(prospect, score_features(model, features)["probability"].to_numpy(), np.nan)
    if account_models:
        features = built.features(account_models[0].model.feature_config)
        customers = features["is_customer"].to_numpy(dtype=bool)
        for champion in account_models:
            column = "p_churn" if champion.task == "churn" else "cltv_pred"
            scores = score_features(champion.model, built.features(champion.model.feature_config))
            values = scores["probability" if champion.task == "churn" else "value"].to_numpy()
            frame[column] = np.where(customers, values, np.nan)
    if "conversion" in champions and data.leads is not None and len(data.leads):
        frame = frame.merge(_best_open_lead(data, as_of, champions["conversion"].model), on="account_id", how="left",
                            suffixes=("_drop", ""))
        frame = frame.drop(columns=[c for c in frame.columns if c.endswith("_drop")])
    frame["expected_value"] = _expected_value(data, as_of, frame, features)
    return AccountScores(frame=frame, versions={t: c.version for t, c in champions.items()},
                         missing=tuple(t for t in TASK_NAMES if t not in champions))


def _best_open_lead(data: Dataset, as_of: pd.Timestamp, model: ScoringModel) -> pd.DataFrame:
    """Per account, the highest conversion probability of its open leads (:meth:`Dataset.open_leads`: the leads
    batch scoring writes, so an account's p_convert is the best of its rows in the batch leads file) and that
    lead's id (``best_lead_id``: the lead to call)."""
    entities = data.open_leads(as_of)
    if entities.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype=object), "p_convert": pd.Series(dtype=float),
                             "best_lead_id": pd.Series(dtype=object)})
    features = build_features(data, entities, entity="lead", config=model.feature_config)
    scored = score_features(model, features)
    best = scored.sort_values(["probability", "lead_id"], ascending=[False, True], kind="stable")
    best = best.drop_duplicates("account_id")
    return best.rename(columns={"probability": "p_convert", "lead_id": "best_lead_id"})[
        ["account_id", "p_convert", "best_lead_id"]].reset_index(drop=True)


def _expected_value(data: Dataset, as_of: pd.Timestamp, frame: pd.DataFrame, features: pd.DataFrame | None) -> np.ndarray:
    """Customers: their predicted CLTV; prospects: p_win (else p_convert) x the first-year revenue of look-alike
    customers."""
    value = frame["cltv_pred"].to_numpy(dtype=float).copy()
    lookalike = first_year_value_by_size(data, as_of)
    if lookalike is None or features is None:
        return value
    size = features.set_index("account_id")["size_band"].reindex(frame["account_id"]).astype(object).to_numpy()
    typical = pd.Series(size).map(lookalike).fillna(np.nanmedian(lookalike.to_numpy())).to_numpy(dtype=float)
    chance = frame["p_win"].fillna(frame["p_convert"]).to_numpy(dtype=float)
    prospect = np.isnan(value) & ~np.isnan(chance)
    value[prospect] = chance[prospect] * typical[prospect]
    return value


def first_year_value_by_size(data: Dataset, as_of: pd.Timestamp) -> pd.Series | None:
    """Mean revenue of a customer's first 365 days, by size band, over customers whose first year ended before ``as_of``."""
    revenue = data.revenue
    if revenue is None or revenue.empty:
        return None
    revenue = revenue[revenue["invoice_at"] < as_of]
    first = revenue.groupby("account_id")["invoice_at"].transform("min")
    in_first_year = revenue[(revenue["invoice_at"] < first + pd.Timedelta(days=365))]
    complete = first.groupby(revenue["account_id"]).min()
    complete = complete[complete + pd.Timedelta(days=365) <= as_of].index
    totals = in_first_year[in_first_year["account_id"].isin(complete)].groupby("account_id")["amount"].sum()
    if totals.empty:
        return None
    accounts = data.accounts.set_index("account_id").reindex(totals.index)
    bands = pd.Series(band(accounts["employees"].to_numpy(dtype=float), SIZE_BANDS), index=totals.index).astype(object)
    return totals.groupby(bands).mean()
