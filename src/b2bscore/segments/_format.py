"""How the segment page writes numbers for people: percentages and dollars."""

from __future__ import annotations

import numpy as np


def pct(value: float, decimals: int = 1) -> str:
    """A share as a percentage ("8.8%"); an empty cell when unknown."""
    return "" if value is None or not np.isfinite(value) else f"{value:.{decimals}%}"


def money(value: float) -> str:
    """Dollars, with K and M ("$12.3K", "$1.2M"); an empty cell when unknown."""
    if value is None or not np.isfinite(value):
        return ""
    for size, suffix in ((1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"${value / size:,.1f}{suffix}"
    return f"${value:,.0f}"
