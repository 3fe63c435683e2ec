"""Plain-language reasons for a score, from the model's exact per-feature contributions.

``ScoringModel.contributions`` (LightGBM's ``pred_contrib``) gives each feature's additive share of a row's raw
score (TreeSHAP, exact for trees). The largest positive shares are the reasons *for* a score, the largest negative
ones the reasons *against*; each is rendered with the feature's declared description and its value,
e.g. "Pricing-page views in the last 7 days: 4".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.features import feature_specs
from b2bscore.model.estimator import ScoringModel


@dataclass(frozen=True)
class Reason:
    feature: str
    text: str
    effect: float  # the feature's contribution to the raw score (log-odds for classifiers)

    def as_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "text": self.text, "effect": round(self.effect, 4)}


def format_value(value: object, *, verbatim: bool = False) -> str:
    """A value as a salesperson reads it: whole numbers without decimals, yes/no, 'none' for missing; our own
    categories with spaces for '_' ("paid search"), a customer's own values (``verbatim``) as they are ("lp_7f3a")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if abs(value - round(value)) < 1e-9:
            return f"{int(round(value)):,}"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value) if verbatim else str(value).replace("_", " ")


class ReasonWriter:
    """Turns contributions into reasons for one model (descriptions looked up once)."""

    def __init__(self, model: ScoringModel, top: int = 3) -> None:
        specs = {s.name: s for s in feature_specs(model.feature_config, model.entity)}
        self.names = list(model.feature_names_in_)
        self.descriptions = [specs[n].description if n in specs else n for n in self.names]
        self.verbatim = [n in specs and specs[n].family == "custom" for n in self.names]
        self.top = top

    def _reason(self, row: pd.Series, j: int, effect: float) -> Reason:
        name = self.names[j]
        value = format_value(row[name], verbatim=self.verbatim[j])
        return Reason(feature=name, text=f"{self.descriptions[j]}: {value}", effect=float(effect))

    def explain(self, features: pd.DataFrame, contributions: pd.DataFrame) -> list[tuple[list[Reason], list[Reason]]]:
        """For each row, (reasons for, reasons against), strongest first, ``top`` of each at most; ``contributions``
        are the model's for ``features`` (``ScoringModel.contributions``)."""
        values = contributions[self.names].to_numpy()
        k = min(self.top, values.shape[1])
        out = []
        for i in range(len(features)):
            row = features.iloc[i]
            effects = values[i]
            up = np.argpartition(-effects, k - 1)[:k]
            down = np.argpartition(effects, k - 1)[:k]
            up = [j for j in up[np.argsort(-effects[up])] if effects[j] > 0]
            down = [j for j in down[np.argsort(effects[down])] if effects[j] < 0]
            out.append(([self._reason(row, j, effects[j]) for j in up], [self._reason(row, j, effects[j]) for j in down]))
        return out
