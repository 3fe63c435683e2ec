"""ICP fit: how closely an account matches the Ideal Customer Profile, with the flags that fired."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.errors import ConfigError
from b2bscore.features.config import IcpConfig, IcpRule
from b2bscore.features.firmographic import UNKNOWN
from b2bscore.features.specs import BUYING_SIGNAL, FeatureSpec, check_schema

SPECS = [
    FeatureSpec("icp_fit_score", "fit", "float", "Fit with the Ideal Customer Profile (0-100)", unit="score",
                effect=BUYING_SIGNAL),
    FeatureSpec("icp_green_flags", "fit", "int", "Number of ICP green flags", unit="count"),
    FeatureSpec("icp_red_flags", "fit", "int", "Number of ICP red flags", unit="count"),
    FeatureSpec("icp_flags", "fit", "string", "ICP flags that fired (+green, -red)", model_input=False),
]


def rule_matches(rule: IcpRule, inputs: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows of ``inputs`` on which ``rule`` holds (missing values never match; firmographic
    features write them as 'unknown', which ``not_in`` skips too)."""
    if rule.feature not in inputs.columns:
        raise ConfigError(
            f"ICP rule {rule.name!r} reads unknown feature {rule.feature!r}; "
            f"rules can read: {', '.join(sorted(inputs.columns))}"
        )
    values = inputs[rule.feature]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if rule.op in ("in", "not_in"):
        if numeric:
            raise ConfigError(f"ICP rule {rule.name!r}: op {rule.op!r} needs a category feature, {rule.feature!r} is numeric; use 'between'")
        inside = values.isin(rule.values).to_numpy()
        known = (values.notna() & values.ne(UNKNOWN)).to_numpy(dtype=bool)
        return inside if rule.op == "in" else ~inside & known
    if rule.op == "between":
        if not numeric:
            raise ConfigError(f"ICP rule {rule.name!r}: op 'between' needs a numeric feature, {rule.feature!r} is not")
        x = values.to_numpy(dtype=np.float64)
        low = -np.inf if rule.min is None else rule.min
        high = np.inf if rule.max is None else rule.max
        return (x >= low) & (x <= high)
    if not pd.api.types.is_bool_dtype(values):
        raise ConfigError(f"ICP rule {rule.name!r}: op {rule.op!r} needs a yes/no feature, {rule.feature!r} is {values.dtype}")
    truth = values.to_numpy(dtype=bool)
    return truth if rule.op == "is_true" else ~truth


def fit_features(inputs: pd.DataFrame, icp: IcpConfig) -> pd.DataFrame:
    """Score every row of ``inputs`` (firmographic and technographic features) against ``icp``."""
    n = len(inputs)
    weights = np.array([r.weight for r in icp.criteria])
    met = np.column_stack([rule_matches(r, inputs) for r in icp.criteria]) if icp.criteria else np.zeros((n, 0))
    score = 100.0 * (met @ weights) / weights.sum() if icp.criteria else np.full(n, 50.0)
    flags = np.full(n, "", dtype=object)
    counts = {}
    for sign, rules in (("+", icp.green_flags), ("-", icp.red_flags)):
        count = np.zeros(n, dtype=np.int64)
        for rule in rules:
            fired = rule_matches(rule, inputs)
            score = score + (rule.weight if sign == "+" else -rule.weight) * fired
            count += fired
            flags = np.where(fired, flags + f";{sign}{rule.name}", flags)
        counts[sign] = count
    frame = pd.DataFrame({
        "icp_fit_score": np.clip(score, 0.0, 100.0),
        "icp_green_flags": counts["+"],
        "icp_red_flags": counts["-"],
        "icp_flags": np.array([f.lstrip(";") for f in flags], dtype=object),
    })
    return check_schema(frame, SPECS, builder="fit_features")
