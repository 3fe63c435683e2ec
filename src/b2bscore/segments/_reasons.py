"""Top reasons per account in plain language, from the feature descriptions.

A signal is notable when it stands out against all accounts (value minus median, over the standard
deviation, at least ``_NOTABLE``); yes/no flags count with a fixed strength. The strongest ones are listed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_NOTABLE = 1.0
_FLAG_STRENGTH = 1.5
# feature -> which values are notable: 1 high ones, 0 high or low ones
SIGNALS: dict[str, int] = {
    "icp_fit_score": 0, "open_opportunities": 1, "demo_request_30d": 1, "pricing_page_view_30d": 1,
    "intent_surging_topics": 1, "intent_max": 1, "activity_total_30d": 1, "engaged_roles_90d": 1,
    "leads_90d": 1, "product_usage_minutes_30d": 1, "revenue_365d": 1, "won_deals": 1,
}
FLAGS: tuple[str, ...] = ("uses_competitor", "legacy_stack", "modern_stack")


def top_reasons(features: pd.DataFrame, descriptions: dict[str, str], count: int) -> np.ndarray:
    """One string per row: up to ``count`` reasons joined by '; '."""
    signals = [s for s in SIGNALS if s in features.columns]
    flags = [f for f in FLAGS if f in features.columns]
    n = len(features)
    strength = np.zeros((n, len(signals) + len(flags)))
    values = np.zeros_like(strength)
    for j, name in enumerate(signals):
        x = np.nan_to_num(features[name].to_numpy(dtype=np.float64))
        spread = x.std()
        z = (x - np.median(x)) / spread if spread > 0 else np.zeros(n)
        direction = SIGNALS[name]
        z = np.abs(z) if direction == 0 else direction * z
        strength[:, j] = np.where((z >= _NOTABLE) & ((x > 0) | (direction == 0)), z, 0.0)
        values[:, j] = x
    for j, name in enumerate(flags, start=len(signals)):
        strength[:, j] = features[name].fillna(False).to_numpy(dtype=bool) * _FLAG_STRENGTH
    names = signals + flags
    medians = {name: float(np.median(values[:, j])) for j, name in enumerate(signals)}
    fit = signals.index("icp_fit_score") if "icp_fit_score" in signals else None
    order = np.argsort(-strength, axis=1, kind="stable")[:, :count]
    out = np.empty(n, dtype=object)
    for i in range(n):
        picked = [j for j in order[i] if strength[i, j] > 0]
        if not picked and fit is not None:
            out[i] = f"no strong signal yet; {_render('icp_fit_score', values[i, fit], None, descriptions)}"
            continue
        out[i] = "; ".join(_render(names[j], values[i, j], medians.get(names[j]), descriptions) for j in picked)
    return out


def _render(name: str, value: float, median: float | None, descriptions: dict[str, str]) -> str:
    text = descriptions.get(name, name.replace("_", " "))
    if name in FLAGS:
        return text
    shown = f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.1f}"
    note = " (low)" if median is not None and value < median else ""
    return f"{text}: {shown}{note}"
