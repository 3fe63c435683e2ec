"""The current side of a check, and the rows whose outcome has arrived since.

Current rows come from the prediction log (what was scored in the window) or are built from the data: leads
created in the window, scored as of their creation like the reference's; customers scored as of the check.
Rows with a known outcome are always built from the data, with the champion's own label definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError
from b2bscore.features import build_features
from b2bscore.model.champions import Champion
from b2bscore.model.scoring import prospect_mask
from b2bscore.model.tasks import TASKS
from b2bscore.serving.predlog import PredictionLog
from b2bscore.training.config import TrainConfig
from b2bscore.training.tasks import horizon_days, label_rows

LOG_COLUMNS: dict[str, tuple[str, str, str]] = {
    "conversion": ("leads", "probability", "model_version"),
    "propensity": ("accounts", "propensity_probability", "propensity_model_version"),
    "churn": ("accounts", "churn_probability", "churn_model_version"),
    "cltv": ("accounts", "cltv_pred", "cltv_model_version"),
}
"""task -> (prediction log kind, score column, model version column)."""


@dataclass(frozen=True)
class CurrentRows:
    """Current rows (features and ``prediction``), where they came from, and the window they cover."""

    frame: pd.DataFrame
    source: str
    start: pd.Timestamp | None
    end: pd.Timestamp
    note: str | None = None


def _scored(champion: Champion, features: pd.DataFrame) -> pd.DataFrame:
    features = features.copy()
    features["prediction"] = champion.model.predict(features) if len(features) else pd.Series(dtype=float)
    return features


def current_from_data(data: Dataset, champion: Champion, *, as_of: pd.Timestamp, window_days: float) -> CurrentRows:
    """Leads created in ``[as_of - window, as_of)`` as of their creation, or the paying customers as of ``as_of``."""
    model = champion.model
    start = as_of - pd.Timedelta(days=window_days)
    if model.entity == "lead":
        leads = data.leads if data.leads is not None else pd.DataFrame(columns=["lead_id", "created_at"])
        recent = leads[(leads["created_at"] < as_of) & (leads["created_at"] >= start)]
        if recent.empty:
            return CurrentRows(pd.DataFrame(), "data", start, as_of,
                               f"no lead was created between {start:%Y-%m-%d} and {as_of:%Y-%m-%d}")
        entities = pd.DataFrame({"lead_id": recent["lead_id"].to_numpy(), "as_of": recent["created_at"].to_numpy()})
        features = build_features(data, entities, entity="lead", config=model.feature_config)
        return CurrentRows(_scored(champion, features), "data", start, as_of)
    features = build_features(data, as_of=as_of, entity="account", config=model.feature_config)
    if champion.task == "propensity":  # the prospects: accounts that never won a deal
        prospects = features[prospect_mask(features)].reset_index(drop=True)
        if prospects.empty:
            return CurrentRows(pd.DataFrame(), "data", None, as_of, f"no prospect account as of {as_of:%Y-%m-%d}")
        return CurrentRows(_scored(champion, prospects), "data", None, as_of)
    customers = features[features["is_customer"].astype(bool)].reset_index(drop=True)
    if customers.empty:
        return CurrentRows(pd.DataFrame(), "data", None, as_of, f"no paying customer as of {as_of:%Y-%m-%d}")
    return CurrentRows(_scored(champion, customers), "data", None, as_of)


def current_from_log(log: PredictionLog, champion: Champion, *, since: pd.Timestamp, until: pd.Timestamp) -> CurrentRows:
    """The champion's logged predictions scored in ``[since, until)``, the latest per lead or account."""
    kind, score, version = LOG_COLUMNS[champion.task]
    frame = log.read(kind, since.to_pydatetime())
    if frame.empty:
        return CurrentRows(frame, "log", since, until, f"the prediction log holds no {kind} scored since {since:%Y-%m-%d %H:%M}")
    frame = frame[(frame["scored_at"] < until) & frame[score].notna()] if score in frame.columns else frame.iloc[0:0]
    mine = frame[frame[version].astype(str) == champion.version] if version in frame.columns else frame
    if mine.empty:
        other = sorted(frame[version].astype(str).unique()) if version in frame.columns and len(frame) else []
        return CurrentRows(mine, "log", since, until, f"no {kind} in the prediction log were scored by {champion.name} "
                           f"v{champion.version} since {since:%Y-%m-%d %H:%M}"
                           + (f" (only by version {', '.join(other)})" if other else ""))
    key = "lead_id" if champion.task == "conversion" else "account_id"
    latest = mine.sort_values("scored_at", kind="stable").drop_duplicates(key, keep="last").reset_index(drop=True)
    return CurrentRows(latest.assign(prediction=latest[score].astype(float)), "log", since, until)


def matured_rows(known: Dataset, champion: Champion, train_config: TrainConfig, *, window_days: float) -> pd.DataFrame | None:
    """Rows whose outcome is known in ``known`` (the data as of the check), scored by the champion, with ``label``;
    None when none can be labelled.

    Leads: every lead of the last ``window_days`` of them (one row each). Accounts: whole snapshots -- the latest
    labelled one and earlier ones at least a horizon apart (so outcome windows do not overlap) within
    ``window_days`` of it. Never "each account's latest row": a prospect that wins (a customer that churns) has no
    row at the next snapshot, so that choice kept older rows exactly for the positive outcomes.
    """
    spec = TASKS[champion.task]
    if any(known.table(name) is None for name in spec.tables):
        return None
    try:
        rows = label_rows(spec, known, train_config).rows
    except DataError:
        return None
    if rows.empty:
        return None
    latest = rows["as_of"].max()
    if spec.entity == "lead":
        rows = rows[rows["as_of"] > latest - pd.Timedelta(days=window_days)]
    else:
        rows = rows[rows["as_of"].isin(_spaced_snapshots(rows["as_of"], horizon_days(champion.task, train_config),
                                                         window_days))]
    rows = rows.sort_values([spec.key, "as_of"], kind="stable").reset_index(drop=True)
    features = build_features(known, rows[[spec.key, "as_of"]], entity=spec.entity, config=champion.model.feature_config)
    scored = _scored(champion, features)
    scored["label"] = rows["label"].to_numpy()
    return scored


def _spaced_snapshots(as_of: pd.Series, horizon: float, window_days: float) -> list[pd.Timestamp]:
    """The latest snapshot date, then each earlier one at least ``horizon`` days before the last chosen, while
    within ``window_days`` of the latest."""
    dates = sorted(pd.unique(as_of), reverse=True)
    chosen = [pd.Timestamp(dates[0])]
    for date in map(pd.Timestamp, dates[1:]):
        if date <= chosen[0] - pd.Timedelta(days=window_days):
            break
        if date <= chosen[-1] - pd.Timedelta(days=horizon):
            chosen.append(date)
    return chosen
