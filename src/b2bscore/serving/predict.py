"""Scoring leads and accounts with the champions, with reasons: the code path shared by the batch job and the service."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError
from b2bscore.features import build_features
from b2bscore.model.champions import Champion
from b2bscore.model.scoring import FeatureCache, prospect_mask, score_features
from b2bscore.serving.reasons import ReasonWriter

LEAD_COLUMNS = ("lead_id", "account_id", "as_of", "probability", "score", "grade", "tier", "reasons_for",
                "reasons_against", "model_version")
ACCOUNT_COLUMNS = ("account_id", "as_of", "is_customer", "is_prospect", "propensity_probability", "propensity_score",
                   "propensity_grade", "churn_probability", "churn_score", "churn_risk_level", "cltv_pred",
                   "tier", "segment", "reasons_for", "reasons_against", "propensity_model_version",
                   "churn_model_version", "cltv_model_version")
"""The columns of the API responses (tier and segment come from the latest segmentation)."""
LEAD_FILE_COLUMNS = ("lead_id", "account_id", "company", "as_of", "probability", "score", "grade", "tier",
                     "reasons_for", "reasons_against", "model_version")
ACCOUNT_FILE_COLUMNS = ("account_id", "company", "as_of", "status", "is_customer", "is_prospect",
                        "propensity_probability", "propensity_score", "propensity_grade", "churn_probability",
                        "churn_score", "churn_risk_level", "cltv_pred", "tier", "segment", "reasons_for",
                        "reasons_against", "propensity_model_version", "churn_model_version", "cltv_model_version")
"""The columns of ``b2bscore score``'s files: the API's, with the company name beside each id and, per account,
its status (customer, former customer or prospect)."""


@dataclass
class Scorer:
    """One champion with its reason writer (built once per loaded model)."""

    champion: Champion

    def __post_init__(self) -> None:
        self.reasons = ReasonWriter(self.champion.model)

    def score(self, features: pd.DataFrame, *, with_reasons: bool = True) -> pd.DataFrame:
        scored = score_features(self.champion.model, features)
        if with_reasons:
            explained = self.reasons.explain(features, self.champion.model.contributions(features))
            scored["reasons_for"] = [json.dumps([r.text for r in up]) for up, _ in explained]
            scored["reasons_against"] = [json.dumps([r.text for r in down]) for _, down in explained]
        return scored


def score_lead_rows(scorer: Scorer, data: Dataset, entities: pd.DataFrame, *, with_reasons: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, features) of leads ``entities`` (lead_id, as_of)."""
    features = build_features(data, entities, entity="lead", config=scorer.champion.model.feature_config)
    scored = scorer.score(features, with_reasons=with_reasons)
    scored["model_version"] = scorer.champion.version
    return scored[[c for c in LEAD_COLUMNS if c in scored]], features


def score_account_rows(churn: Scorer | None, cltv: Scorer | None, data: Dataset, entities: pd.DataFrame, *,
                       with_reasons: bool = True, propensity: Scorer | None = None,
                       features_out: dict[str, pd.DataFrame] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, features) of accounts ``entities`` (account_id, as_of): for prospects (accounts that never bought)
    the chance to win a first deal, with its reasons; for customers churn risk, with its reasons, and value.
    ``features_out``, when given, receives each task's feature rows (the online store keeps them)."""
    models = [s for s in (propensity, churn, cltv) if s is not None]
    if not models:
        raise DataError("no propensity, churn or CLTV champion is registered yet: train them first "
                        "(b2bscore train all --data DIR)")
    built = FeatureCache(data, entities, entity="account")
    return score_account_features(churn, cltv, built.features, with_reasons=with_reasons, propensity=propensity,
                                  features_out=features_out)


def score_account_features(churn: Scorer | None, cltv: Scorer | None, features_of, *, with_reasons: bool = True,
                           propensity: Scorer | None = None, features_out: dict[str, pd.DataFrame] | None = None
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`score_account_rows` on feature rows already built: ``features_of(config)`` returns the rows of the
    accounts as built with a feature configuration (from the data, or from the online store)."""
    models = [s for s in (propensity, churn, cltv) if s is not None]
    if features_out is not None:
        for task, scorer in (("propensity", propensity), ("churn", churn), ("cltv", cltv)):
            if scorer is not None:
                features_out[task] = features_of(scorer.champion.model.feature_config)
    features = features_of(models[0].champion.model.feature_config)
    out = features[["account_id", "as_of"]].copy()
    customer = features["is_customer"].to_numpy(dtype=bool)
    prospect = prospect_mask(features)
    out["is_customer"] = customer
    out["is_prospect"] = prospect
    if with_reasons:
        out["reasons_for"], out["reasons_against"] = "[]", "[]"
    if propensity is not None:
        scored = propensity.score(features_of(propensity.champion.model.feature_config), with_reasons=with_reasons)
        out["propensity_probability"] = np.where(prospect, scored["probability"], np.nan)
        out["propensity_score"] = pd.Series(scored["score"].to_numpy(), index=out.index, dtype="Int64").where(prospect)
        out["propensity_grade"] = pd.Series(scored["grade"].to_numpy(), index=out.index, dtype=object).where(prospect)
        if with_reasons:
            out["reasons_for"] = pd.Series(scored["reasons_for"].to_numpy(), index=out.index).where(prospect, "[]")
            out["reasons_against"] = pd.Series(scored["reasons_against"].to_numpy(), index=out.index).where(prospect, "[]")
        out["propensity_model_version"] = propensity.champion.version
    if churn is not None:
        scored = churn.score(features_of(churn.champion.model.feature_config), with_reasons=with_reasons)
        out["churn_probability"] = np.where(customer, scored["probability"], np.nan)
        out["churn_score"] = pd.Series(scored["score"].to_numpy(), index=out.index, dtype="Int64").where(customer)
        risk = churn.champion.model.risk_level(scored["probability"].to_numpy())
        out["churn_risk_level"] = pd.Series(risk, index=out.index, dtype=object).where(customer)
        if with_reasons:
            out["reasons_for"] = pd.Series(scored["reasons_for"].to_numpy(), index=out.index).where(
                customer, out["reasons_for"])
            out["reasons_against"] = pd.Series(scored["reasons_against"].to_numpy(), index=out.index).where(
                customer, out["reasons_against"])
        out["churn_model_version"] = churn.champion.version
    if cltv is not None:
        scored = cltv.score(features_of(cltv.champion.model.feature_config), with_reasons=False)
        out["cltv_pred"] = np.where(customer, scored["value"], np.nan)
        out["cltv_model_version"] = cltv.champion.version
    return out[[c for c in ACCOUNT_COLUMNS if c in out]], features
