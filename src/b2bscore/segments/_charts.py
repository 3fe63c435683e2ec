"""One inline chart per segment kind: size, conversion and value side by side (matplotlib, Agg backend)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

_PANELS = (("accounts", "Accounts", "{:,.0f}"), ("conversion_rate", "Past conversion (KPI window)", "{:.1%}"),
           ("avg_value", "Average value (predicted)", "{:,.0f}"))
_NATURAL_ORDER = ("tier",)  # kinds whose labels sort naturally; the others are shown largest first
_MAX_BARS = 25


def segment_chart(rows: pd.DataFrame, kind: str) -> str:
    """An ``<img>`` tag holding a PNG of ``rows`` (the KPI rows of one kind); the largest segments if many."""
    key, descending = ("segment", False) if kind in _NATURAL_ORDER else ("accounts", True)
    rows = rows.sort_values(key, ascending=not descending, kind="stable").head(_MAX_BARS).iloc[::-1]
    height = 1.2 + 0.28 * len(rows)
    # A bare Figure (not pyplot) renders with the Agg canvas and keeps no global state.
    figure = Figure(figsize=(12, height), dpi=80)
    axes = figure.subplots(1, len(_PANELS), sharey=True)
    labels = [str(s)[:48] for s in rows["segment"]]
    flagged = rows["flagged"].to_numpy(dtype=bool) if "flagged" in rows.columns else np.zeros(len(rows), dtype=bool)
    colors = np.where(flagged, "#d9822b", "#3b6ea8")
    for ax, (column, title, fmt) in zip(axes, _PANELS):
        values = np.nan_to_num(rows[column].to_numpy(dtype=np.float64))
        ax.barh(labels, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values):
            ax.text(v, y, " " + fmt.format(v), va="center", fontsize=7)
        ax.margins(x=0.25)
        if "%" in fmt:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    figure.suptitle(f"{kind.replace('_', ' ')} (orange: flagged)", fontsize=10)
    # fixed margins: tight_layout would cost a second full draw
    figure.subplots_adjust(left=0.28, right=0.97, wspace=0.35, top=1 - 0.5 / height, bottom=0.4 / height)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{kind} chart' src='data:image/png;base64,{encoded}'>"
