"""Evaluation charts written as PNG files (matplotlib's object API: no global state, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` (creating its folder); the figure is never registered with pyplot, so
    nothing stays open once it goes out of scope."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def plot_reliability(curve: pd.DataFrame, path: Path) -> Path:
    """Observed conversion rate against the predicted probability, with 95% intervals and the diagonal."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    top = float(max(curve["upper"].max(), curve["mean_predicted"].max(), 0.05)) * 1.05
    axes.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    errors = np.vstack([curve["observed_rate"] - curve["lower"], curve["upper"] - curve["observed_rate"]])
    axes.errorbar(curve["mean_predicted"], curve["observed_rate"], yerr=errors, marker="o", capsize=3, label="model")
    for row in curve.itertuples():
        axes.annotate(f"{row.count:,}", (row.mean_predicted, row.observed_rate), textcoords="offset points",
                      xytext=(4, -10), fontsize=7, color="dimgrey")
    axes.set(xlim=(0, top), ylim=(0, top), xlabel="mean predicted probability", ylabel="observed rate",
             title="Reliability (out-of-time test, equal-count bins)")
    axes.legend(loc="upper left")
    return _save(figure, path)


def plot_lift(lift: pd.DataFrame, path: Path) -> Path:
    """Lift per score decile (bars) and cumulative capture (line) against random targeting."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    axes.bar(lift["group"], lift["lift"], color="tab:blue", alpha=0.8, label="lift")
    axes.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    axes.set(xlabel="score group (1 = highest scores)", ylabel="lift over average", xticks=lift["group"],
             title="Lift and cumulative capture (out-of-time test)")
    twin = axes.twinx()
    twin.plot(lift["group"], lift["cumulative_capture"], color="tab:orange", marker="o", label="cumulative capture")
    twin.plot(lift["group"], lift["cumulative_share_of_rows"], color="grey", linestyle=":", label="random")
    twin.set(ylabel="share of outcomes captured", ylim=(0, 1.02))
    handles = axes.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    twin.legend(handles, [h.get_label() for h in handles], loc="center right")
    return _save(figure, path)


def plot_feature_importance(importance: pd.Series, path: Path, top: int = 20) -> Path:
    """The ``top`` features by total gain, largest at the top."""
    shown = importance.sort_values(ascending=False).head(top)[::-1]
    figure = Figure(figsize=(7, 0.3 * len(shown) + 1.2))
    axes = figure.add_subplot()
    axes.barh(shown.index.astype(str), shown.to_numpy(), color="tab:green")
    axes.set(xlabel="total gain", title=f"Feature importance (top {len(shown)})")
    axes.tick_params(axis="y", labelsize=8)
    return _save(figure, path)


def plot_regression_deciles(y: npt.ArrayLike, pred: npt.ArrayLike, path: Path) -> Path:
    """Mean actual vs mean predicted value per decile of the prediction."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    chunks = [c for c in np.array_split(np.argsort(pred, kind="stable"), min(10, len(pred))) if len(c)]
    groups = np.arange(1, len(chunks) + 1)
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    axes.bar(groups - 0.2, [y[c].mean() for c in chunks], width=0.4, label="actual")
    axes.bar(groups + 0.2, [pred[c].mean() for c in chunks], width=0.4, label="predicted")
    axes.set(xlabel="decile of predicted value (10 = highest)", ylabel="mean value", xticks=groups,
             title="Predicted vs actual value by decile (out-of-time test)")
    axes.legend()
    return _save(figure, path)
