"""One inline chart per segment kind: size, conversion and value side by side (matplotlib, Agg backend).

The figure is 960 px wide (12 in at 80 dpi), so it fits the 1,200 px page; each axis has at most four ticks in
whole units (accounts, percent, $K / $M), so tick labels never run into each other.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from b2bscore.segments._format import money

WIDTH_IN, DPI = 12.0, 80
_NATURAL_ORDER = ("tier",)  # kinds whose labels sort naturally; the others are shown largest first
_MAX_BARS = 25
_TITLES = {"tier": "Tiers", "value_segment": "Value segments", "firmographic_segment": "Firmographic segments",
           "technographic_segment": "Technographic segments", "buying_stage": "Buying stages",
           "cluster_name": "Data-driven segments"}


def _panels(window: str) -> tuple[tuple[str, str, str], ...]:
    return (("accounts", "Accounts", "count"), ("conversion_rate", f"Conversion ({window})", "percent"),
            ("avg_value", "Avg. value (predicted)", "money"))


def segment_chart(rows: pd.DataFrame, kind: str, window: str = "KPI window") -> str:
    """An ``<img>`` tag holding a PNG of ``rows`` (the KPI rows of one kind); the largest segments if many."""
    key, descending = ("segment", False) if kind in _NATURAL_ORDER else ("accounts", True)
    shown = rows.sort_values(key, ascending=not descending, kind="stable").head(_MAX_BARS).iloc[::-1]
    height = 1.3 + 0.28 * len(shown)
    # A bare Figure (not pyplot) renders with the Agg canvas and keeps no global state.
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    axes = figure.subplots(1, 3, sharey=True)
    labels = [_short(str(s)) for s in shown["segment"]]
    flagged = shown["flagged"].to_numpy(dtype=bool) if "flagged" in shown.columns else np.zeros(len(shown), dtype=bool)
    colors = np.where(flagged, "#d9822b", "#3b6ea8")
    for ax, (column, title, unit) in zip(axes, _panels(window)):
        values = np.nan_to_num(shown[column].to_numpy(dtype=np.float64))
        ax.barh(labels, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values):
            ax.text(v, y, " " + _label(v, unit), va="center", fontsize=7)
        ax.margins(x=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, min_n_ticks=2))
        ax.xaxis.set_major_formatter(_formatter(unit))
        ax.set_xlim(left=0)
    more = f", the {_MAX_BARS} largest of {len(rows)}" if len(rows) > _MAX_BARS else ""
    figure.suptitle(f"{_TITLES.get(kind, kind)}{more} (orange: stands out)", fontsize=10)
    # fixed margins: tight_layout would cost a second full draw
    figure.subplots_adjust(left=0.27, right=0.97, wspace=0.3, top=1 - 0.55 / height, bottom=0.45 / height)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    width, pixels = int(WIDTH_IN * DPI), int(round(height * DPI))
    return (f"<img alt='{_TITLES.get(kind, kind)}: accounts, conversion and predicted value per segment' "
            f"width='{width}' height='{pixels}' src='data:image/png;base64,{encoded}'>")


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _label(value: float, unit: str) -> str:
    if unit == "percent":
        return f"{value:.1%}"
    if unit == "money":
        return money(value)
    return f"{value:,.0f}"


def _formatter(unit: str):
    if unit == "percent":
        return PercentFormatter(1.0, decimals=None)
    if unit == "money":
        return FuncFormatter(lambda v, _: money(v) if v else "0")
    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def cac_chart(rows: pd.DataFrame, kind: str) -> str:
    """An ``<img>`` of the cost to acquire a customer (CAC) beside the predicted value of one, per segment of one
    kind; segments without a new customer have no CAC and show only their value."""
    key, descending = ("segment", False) if kind in _NATURAL_ORDER else ("accounts", True)
    shown = rows.sort_values(key, ascending=not descending, kind="stable").head(_MAX_BARS).iloc[::-1]
    height = 1.6 + 0.36 * len(shown)
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    ax = figure.subplots()
    y = np.arange(len(shown))
    cac = shown["cac"].to_numpy(dtype=np.float64)
    value = shown["avg_value"].to_numpy(dtype=np.float64)
    ax.barh(y + 0.2, np.nan_to_num(value), height=0.4, color="#3b6ea8", label="Predicted value of a customer")
    ax.barh(y - 0.2, np.nan_to_num(cac), height=0.4, color=np.where(cac > value, "#c0392b", "#d9822b"),
            label="Cost to acquire one (CAC)")
    for i, (c, v) in enumerate(zip(cac, value)):
        ax.text(np.nan_to_num(v), i + 0.2, " " + money(v), va="center", fontsize=7)
        ax.text(np.nan_to_num(c), i - 0.2, " " + (money(c) if np.isfinite(c) else "no new customer"), va="center",
                fontsize=7)
    ax.set_yticks(y, [_short(str(s)) for s in shown["segment"]])
    ax.tick_params(labelsize=8)
    ax.margins(x=0.2)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
    ax.xaxis.set_major_formatter(_formatter("money"))
    ax.set_xlim(left=0)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)  # clear of the bars
    figure.suptitle(f"{_TITLES.get(kind, kind)}: cost to acquire a customer against its predicted value "
                    "(red: costs more than it brings)", fontsize=10)
    figure.subplots_adjust(left=0.27, right=0.97, top=1 - 0.85 / height, bottom=0.45 / height)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    width, pixels = int(WIDTH_IN * DPI), int(round(height * DPI))
    return (f"<img alt='{_TITLES.get(kind, kind)}: cost to acquire a customer against its predicted value' "
            f"width='{width}' height='{pixels}' src='data:image/png;base64,{encoded}'>")
