"""The main reason an account moved between two segmentations, from its largest feature changes."""

from __future__ import annotations

import numpy as np
import pandas as pd

_FLIP_STRENGTH = 3.0
_MIN_STRENGTH = 0.5
# yes/no feature -> (text when it turned on, text when it turned off, effect of turning on on fit: +1 / -1 / 0)
FLIPS: dict[str, tuple[str, str, int]] = {
    "uses_competitor": ("switched to a competitor", "dropped the competitor's product", -1),
    "legacy_stack": ("adopted legacy on-premise tech", "retired its legacy stack", -1),
    "modern_stack": ("moved to a modern cloud stack", "no longer runs a modern cloud stack", 1),
}
# numeric feature -> (text when it rose, text when it fell); {a} / {b} are the before / after values
NUMERIC: dict[str, tuple[str, str]] = {
    "fit": ("fit rose {a:.0f} -> {b:.0f}", "fit dropped {a:.0f} -> {b:.0f}"),
    "intent_surging_topics": ("intent surge on {b:.0f} topics", "intent cooled ({b:.0f} surging topics, was {a:.0f})"),
    "activity_total_30d": ("engagement up ({a:.0f} -> {b:.0f} events in 30 days)",
                           "engagement down ({a:.0f} -> {b:.0f} events in 30 days)"),
    "demo_request_30d": ("requested a demo ({b:.0f} in 30 days)", "no recent demo request"),
    "pricing_page_view_30d": ("viewed pricing {b:.0f} times in 30 days", "stopped viewing pricing"),
    "open_opportunities": ("opened an opportunity", "no open opportunity any more"),
    "won_deals": ("won a deal", "won deals fell"),
    "product_usage_minutes_30d": ("product usage up ({a:,.0f} -> {b:,.0f} minutes in 30 days)",
                                  "product usage down ({a:,.0f} -> {b:,.0f} minutes in 30 days)"),
    "propensity": ("propensity rose {a:.0%} -> {b:.0%}", "propensity fell {a:.0%} -> {b:.0%}"),
    "value": ("value rose {a:,.0f} -> {b:,.0f}", "value fell {a:,.0f} -> {b:,.0f}"),
}
NO_CHANGE = "no large change of its own: the thresholds moved with the population"
# A change of customer status: good news when it became a customer. Tiers are drawn within prospects and customers
# separately, so a status change can move an account either way; a move against the news is explained by the
# new peer group, never by the news itself ("stopped paying" never explains a move up).
STATUS = "is_customer"
STATUS_TEXTS = {
    (True, "agrees"): "became a customer → now in the customer list",
    (False, "agrees"): "stopped paying → now a former customer",
    (True, "against"): "now ranked among customers, against whom it scores lower",
    (False, "against"): "now ranked among prospects, against whom it scores higher",
}
_AGAINST_STRENGTH = 1.0  # below the status change itself: a change that agrees with the move explains it better


# numeric features whose meaning depends on the customer status: propensity is the chance to convert for a
# prospect and to stay for a customer, so it is not compared across a change of status
_STATUS_DEPENDENT = {"propensity"}


def main_reasons(before: pd.DataFrame, after: pd.DataFrame, direction: np.ndarray | None = None) -> np.ndarray:
    """One reason per row; ``before`` and ``after`` are aligned row by row (same accounts, same order).

    ``direction`` (+1: moved to a better tier, -1: to a worse one, 0: neither) keeps only the changes that
    point the same way, so an upgrade is never explained by "fit dropped".
    """
    texts: list[np.ndarray] = []
    strengths: list[np.ndarray] = []
    way = np.zeros(len(before)) if direction is None else np.asarray(direction, dtype=np.float64)
    fit_delta = _delta(before, after, "fit")
    status_changed = np.zeros(len(before), dtype=bool)
    if STATUS in before.columns and STATUS in after.columns:
        status_changed = (before[STATUS].fillna(False).to_numpy(dtype=bool)
                          != after[STATUS].fillna(False).to_numpy(dtype=bool))
        text, strength = _status_change(before[STATUS], after[STATUS], way)
        texts.append(text)
        strengths.append(strength)
    for name, (on, off, effect) in FLIPS.items():
        if name not in before.columns or name not in after.columns:
            continue
        a = before[name].fillna(False).to_numpy(dtype=bool)
        b = after[name].fillna(False).to_numpy(dtype=bool)
        text = np.where(b & ~a, on, np.where(a & ~b, off, "")).astype(object)
        sign = np.where(b & ~a, effect, -effect) * np.sign(fit_delta)
        prefix = np.where(sign > 0, np.where(fit_delta > 0, "fit rose: ", "fit dropped: "), "")
        texts.append(np.where(a != b, prefix, "") + text)
        good = np.where(b & ~a, effect, -effect)  # +1: good news for the account's fit
        strengths.append((a != b) * _FLIP_STRENGTH * _agrees(good, way))
    for name, (up, down) in NUMERIC.items():
        if name not in before.columns or name not in after.columns:
            continue
        a = before[name].to_numpy(dtype=np.float64)
        b = after[name].to_numpy(dtype=np.float64)
        delta = np.nan_to_num(b - a)
        spread = np.nanstd(np.concatenate([a, b]))
        strength = np.abs(delta) / spread if spread > 0 else np.zeros(len(a))
        strength = strength * _agrees(np.sign(delta), way)  # every rise here is good news for the account
        if name in _STATUS_DEPENDENT:
            strength = np.where(status_changed, 0.0, strength)
        texts.append(np.array([_fill(up if d > 0 else down, x, y) if d != 0 else "" for d, x, y in zip(delta, a, b)],
                              dtype=object))
        strengths.append(strength)
    if not texts:
        return np.full(len(before), NO_CHANGE, dtype=object)
    strength = np.column_stack(strengths)
    best = np.argmax(strength, axis=1)
    chosen = np.column_stack(texts)[np.arange(len(best)), best]
    return np.where(strength.max(axis=1) >= _MIN_STRENGTH, chosen, NO_CHANGE).astype(object)


def _status_change(before: pd.Series, after: pd.Series, way: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = before.fillna(False).to_numpy(dtype=bool)
    b = after.fillna(False).to_numpy(dtype=bool)
    won, churned = b & ~a, a & ~b
    good = np.where(won, 1, np.where(churned, -1, 0))
    agrees = _agrees(good, way).astype(bool)
    text = np.array([STATUS_TEXTS[(bool(w), "agrees" if ok else "against")] if (w or c) else ""
                     for w, c, ok in zip(won, churned, agrees)], dtype=object)
    strength = np.where(won | churned, np.where(agrees, _FLIP_STRENGTH, _AGAINST_STRENGTH), 0.0)
    return text, strength


def _agrees(good: np.ndarray, way: np.ndarray) -> np.ndarray:
    """1 where a change is compatible with the move (or either is neutral), else 0."""
    return ((way == 0) | (good == 0) | (np.sign(good) == np.sign(way))).astype(np.float64)


def _delta(before: pd.DataFrame, after: pd.DataFrame, name: str) -> np.ndarray:
    if name not in before.columns or name not in after.columns:
        return np.zeros(len(before))
    return np.nan_to_num(after[name].to_numpy(dtype=np.float64) - before[name].to_numpy(dtype=np.float64))


def _fill(template: str, a: float, b: float) -> str:
    text = template.format(a=0.0 if np.isnan(a) else a, b=0.0 if np.isnan(b) else b)
    return text.replace(" 1 topics", " 1 topic").replace(" 1 times", " once")
