"""Evaluating ordered rule lists on a frame of columns (pure, vectorised)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.errors import ConfigError
from b2bscore.segments.config import Condition, RuleList


def apply_rules(frame: pd.DataFrame, rules: RuleList, groups: np.ndarray | None = None,
                *, kind: str = "rule") -> tuple[np.ndarray, np.ndarray]:
    """Label and rule name of each row: the first rule of ``rules`` whose conditions hold.

    Quantile thresholds are computed separately within each value of ``groups`` (None: one group).
    Rows no rule places get ``rules.default`` and the rule name ``"default"``.
    """
    n = len(frame)
    labels = np.full(n, rules.default, dtype=object)
    names = np.full(n, "default", dtype=object)
    placed = np.zeros(n, dtype=bool)
    for rule in rules.rules:
        where = f"{kind} rule {rule.name!r}"
        holds = np.ones(n, dtype=bool)
        for condition in rule.all_of:
            holds &= condition_mask(frame, condition, groups, where=where)
        if rule.any_of:
            any_hold = np.zeros(n, dtype=bool)
            for condition in rule.any_of:
                any_hold |= condition_mask(frame, condition, groups, where=where)
            holds &= any_hold
        new = holds & ~placed
        labels[new], names[new] = rule.label, rule.name
        placed |= new
    return labels, names


def condition_mask(frame: pd.DataFrame, condition: Condition, groups: np.ndarray | None = None,
                   *, where: str = "rule") -> np.ndarray:
    """Rows on which ``condition`` holds; missing values never do."""
    if condition.column not in frame.columns:
        raise ConfigError(f"{where} reads unknown column {condition.column!r}")
    series = frame[condition.column]
    if condition.op == "in":
        return series.isin(condition.values).to_numpy()
    if condition.op in ("is_true", "is_false"):
        truth = series.fillna(False).astype(bool).to_numpy()
        return truth if condition.op == "is_true" else ~truth & series.notna().to_numpy()
    if not pd.api.types.is_numeric_dtype(series):
        raise ConfigError(f"{where}: op {condition.op!r} needs a numeric column, {condition.column!r} is {series.dtype}")
    x = series.to_numpy(dtype=np.float64)
    threshold = np.full(len(x), condition.value if condition.value is not None else np.nan)
    if condition.quantile is not None:
        threshold = group_quantile(x, condition.quantile, groups)
    with np.errstate(invalid="ignore"):
        return (x >= threshold) if condition.op == ">=" else (x < threshold)


def group_quantile(x: np.ndarray, q: float, groups: np.ndarray | None) -> np.ndarray:
    """The ``q`` quantile of ``x`` within each row's group (NaN-ignoring; NaN for an all-missing group)."""
    keys = np.zeros(len(x), dtype=np.int64) if groups is None else pd.factorize(groups)[0]
    out = np.full(len(x), np.nan)
    for key in np.unique(keys):
        member = keys == key
        values = x[member]
        if np.isfinite(values).any():
            out[member] = np.nanquantile(values, q)
    return out
