"""Plain-language reasons for a score, from the model's exact per-feature contributions.

``ScoringModel.contributions`` (LightGBM's ``pred_contrib``) gives each feature's additive share of a row's raw
score (TreeSHAP, exact for trees). The largest positive shares are the reasons *for* a score (they raise what the
task predicts: the chance to buy, the churn risk, the value; see :data:`HEADINGS`), the largest negative ones the
reasons *against*; each is rendered with the feature's declared description and its value in business units,
e.g. "Pricing-page views in the last 7 days: 4", "Annual revenue of the company: $1.2M".

A feature whose spec declares a direction for the task (more demo requests can only raise the chance to buy; the
model is monotone in it, see ``ScoringModel``) is a reason only where its value agrees with the side it is on: for
buying when the value is above the typical one (the training median, ``ScoringModel.medians_``), against when below
("Fit with the Ideal Customer Profile (0-100): 2" lowers the chance to buy; "Product logins in the last 30 days: 5"
raises churn risk when customers typically log in 13 times). A SHAP share compares a row with the average of
similar ones, so it can have the other sign -- one demo request among leads that typically made two -- but "Demo
requests in the last 7 days: 1" as a reason against buying reads as an error to a salesperson, and a typical value
explains nothing either way. A missing value is shown as any other (its effect is that it is missing). Models
fitted before ``medians_`` was kept show such a feature only on its declared side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from b2bscore.features import feature_specs
from b2bscore.model.estimator import ScoringModel


class Headings(NamedTuple):
    """What the reasons for and against mean for one task, as a heading over each list."""

    raises: str
    lowers: str


HEADINGS: dict[str, Headings] = {
    "conversion": Headings("raises the chance to buy", "lowers the chance to buy"),
    "propensity": Headings("raises the chance to buy", "lowers the chance to buy"),
    "churn": Headings("raises churn risk", "lowers churn risk"),
    "cltv": Headings("raises value", "lowers value"),
}
"""Per task: the reasons for (``reasons_for``) raise what it predicts, the reasons against lower it."""
_GENERIC = Headings("raises the score", "lowers the score")


@dataclass(frozen=True)
class Reason:
    feature: str
    text: str
    effect: float  # the feature's contribution to the raw score (log-odds for classifiers)

    def as_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "text": self.text, "effect": round(self.effect, 4)}


def format_value(value: object, *, verbatim: bool = False, unit: str | None = None, log: bool = False) -> str:
    """A value as a salesperson reads it, in the unit its spec declares (``log``: the value is ``log1p`` of the
    amount, shown as the amount): money as "$38K" or "$1.2M", days, years and counts as whole numbers, shares as
    percentages ("26%"), a trend (a log ratio) as a signed change ("+35%"), a score as a whole 0-100 number.
    Without a unit: whole numbers without decimals, others with two; yes/no; 'none' for missing; our own
    categories with spaces for '_' ("paid search"), a customer's own values (``verbatim``) as they are ("lp_7f3a")."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer, float, np.floating)):
        number = float(value)
        if log:
            number = math.expm1(number)
        if unit is not None:
            return _in_unit(number, unit)
        if isinstance(value, (int, np.integer)) or abs(number - round(number)) < 1e-9:
            return f"{int(round(number)):,}"
        return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"
    return str(value) if verbatim else str(value).replace("_", " ")


def _in_unit(number: float, unit: str) -> str:
    if unit == "money":
        return _money(number)
    if unit == "percent":
        return f"{100 * number:,.0f}%"
    if unit == "change":
        change = 100 * math.expm1(number)
        return "no change" if abs(change) < 0.5 else f"{change:+,.0f}%"
    if unit == "number":
        return f"{number:,.1f}".removesuffix(".0")
    return f"{int(round(number)):,}"  # count, days, years, score: whole ones


def _money(amount: float) -> str:
    """Dollars with K, M or B: "$950", "$38K", "$1.2M" (two significant figures below 10 of a unit)."""
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if amount >= 0.9995 * size:  # what would round to 1,000 of the unit below reads as 1 of this one
            scaled = amount / size
            text = f"{scaled:.1f}".removesuffix(".0") if scaled < 9.95 else f"{scaled:,.0f}"
            return f"{sign}${text}{suffix}"
    return f"{sign}${amount:,.0f}"


def _memo_key(j: int, raw: object) -> tuple | None:
    """The key of a feature's value in the memo of reason texts (None: not memoised, e.g. pd.NA)."""
    try:
        if raw != raw:  # NaN: every missing float shares one key
            return (j, "missing")
        return (j, type(raw), raw) if hash(raw) is not None else None
    except TypeError:
        return None


class ReasonWriter:
    """Turns contributions into reasons for one model (descriptions, units and directions looked up once)."""

    def __init__(self, model: ScoringModel, top: int = 3) -> None:
        specs = {s.name: s for s in feature_specs(model.feature_config, model.entity)}
        task = getattr(model, "task_name", None)
        self.names = list(model.feature_names_in_)
        found = [specs.get(n) for n in self.names]
        self.descriptions = [s.description if s else n for s, n in zip(found, self.names)]
        self.verbatim = [s is not None and s.family == "custom" for s in found]
        self.units = [s.unit if s else None for s in found]
        self.logs = [bool(s and s.log) for s in found]
        sign = {"up": 1, "down": -1, None: 0}
        self.directions = np.array([sign[s.direction(task)] if s else 0 for s in found], dtype=np.int64)
        medians = getattr(model, "medians_", None)
        self.directed = np.flatnonzero(self.directions)
        self.medians = None if medians is None else np.array(
            [medians.get(self.names[j], np.nan) for j in self.directed], dtype=np.float64)
        self.headings = HEADINGS.get(task, _GENERIC)
        """What 'for' and 'against' mean for the model's task (e.g. raises / lowers the chance to buy)."""
        self.top = top
        self._texts: dict = {}  # (feature, type, value) -> text: counts and categories repeat across rows

    def _reason(self, row, j: int, effect: float) -> Reason:
        name = self.names[j]
        raw = row[name]
        key = _memo_key(j, raw)
        text = self._texts.get(key) if key is not None else None
        if text is None:
            value = format_value(raw, verbatim=self.verbatim[j], unit=self.units[j], log=self.logs[j])
            text = f"{self.descriptions[j]}: {value}"
            if key is not None:
                if len(self._texts) > 100_000:
                    self._texts.clear()
                self._texts[key] = text
        return Reason(feature=name, text=text, effect=float(effect))

    def explain(self, features: pd.DataFrame, contributions: pd.DataFrame) -> list[tuple[list[Reason], list[Reason]]]:
        """For each row, (reasons for, reasons against), strongest first, ``top`` of each at most; ``contributions``
        are the model's for ``features`` (``ScoringModel.contributions``). A feature with a declared direction is
        a reason only where its value agrees with its side (see the module's docstring)."""
        directed = (features[[self.names[j] for j in self.directed]].to_numpy(dtype=np.float64)
                    if len(self.directed) else np.zeros((len(features), 0)))
        return self.explain_rows(lambda i: features.iloc[i], directed, contributions[self.names].to_numpy())

    def explain_rows(self, row, directed: np.ndarray, values: np.ndarray) -> list[tuple[list[Reason], list[Reason]]]:
        """:meth:`explain` without a feature frame: ``row(i)`` maps each feature name to row i's value,
        ``directed`` holds the values of the features with a declared direction (columns in ``self.directed``
        order, as float), ``values`` the contributions (columns in ``self.names`` order, no bias)."""
        may_raise, may_lower = self._sides(directed)
        # strongest first, ties in feature order (a stable sort); what may not be a reason sorts last, as +inf
        up_key = np.where((values > 0) & may_raise, -values, np.inf)
        down_key = np.where((values < 0) & may_lower, values, np.inf)
        up_order = np.argsort(up_key, axis=1, kind="stable")[:, :self.top]
        down_order = np.argsort(down_key, axis=1, kind="stable")[:, :self.top]
        up_ok = np.isfinite(np.take_along_axis(up_key, up_order, axis=1))
        down_ok = np.isfinite(np.take_along_axis(down_key, down_order, axis=1))
        out = []
        for i in range(len(values)):
            up, down = up_order[i][up_ok[i]], down_order[i][down_ok[i]]
            if len(up) or len(down):
                effects, found = values[i], row(i)
                out.append(([self._reason(found, j, effects[j]) for j in up],
                            [self._reason(found, j, effects[j]) for j in down]))
            else:
                out.append(([], []))
        return out

    def _sides(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row and feature, whether it may be a reason for and a reason against: any feature without a declared
        direction; one with a direction when its value (``values``: the directed features' values) lies on the
        matching side of its median (for 'up': above to raise, below to lower), or is missing."""
        shape = (len(values), len(self.names))
        may_raise, may_lower = np.ones(shape, dtype=bool), np.ones(shape, dtype=bool)
        if not len(self.directed):
            return may_raise, may_lower
        directions = self.directions[self.directed]
        if self.medians is None:  # a model fitted before medians were kept: each on its declared side only
            may_raise[:, self.directed], may_lower[:, self.directed] = directions > 0, directions < 0
            return may_raise, may_lower
        side = np.sign(values - self.medians) * directions  # +1: the value raises the prediction, -1: lowers it
        missing = np.isnan(values)
        may_raise[:, self.directed] = missing | (side > 0)
        may_lower[:, self.directed] = missing | (side < 0)
        return may_raise, may_lower
