"""The clustering design matrix: robust-scaled numeric columns, 0/1 flags and one-hot categories."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import skew

_CLIP = 5.0
_IQR_PER_SD = 1.349  # IQR of a normal distribution in standard deviations: puts both scales on one footing


@dataclass(frozen=True)
class Design:
    """``matrix`` rows align with the input; ``columns`` name its columns and ``source`` the feature behind each."""

    matrix: np.ndarray
    columns: tuple[str, ...]
    source: tuple[str, ...]
    kind: tuple[str, ...]  # "numeric", "flag" or "category"


def design_matrix(frame: pd.DataFrame, features: tuple[str, ...]) -> Design:
    """Numeric: log1p when non-negative and right-skewed, then (x - median) / (IQR / 1.349), a robust
    standard deviation (the std, or 1, when the IQR is 0), clipped to +-5; yes/no: 0/1; text: one column
    per value. Missing numbers become the median."""
    blocks, columns, source, kind = [], [], [], []
    for name in features:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series):
            blocks.append(series.fillna(False).to_numpy(dtype=np.float64)[:, None])
            columns.append(name), source.append(name), kind.append("flag")
        elif pd.api.types.is_numeric_dtype(series):
            blocks.append(_robust(series.to_numpy(dtype=np.float64))[:, None])
            columns.append(name), source.append(name), kind.append("numeric")
        else:
            values = series.fillna("unknown").astype(str).to_numpy()
            for value in sorted(set(values)):
                blocks.append((values == value).astype(np.float64)[:, None])
                columns.append(f"{name}={value}"), source.append(name), kind.append("category")
    matrix = np.hstack(blocks) if blocks else np.zeros((len(frame), 0))
    return Design(matrix=matrix, columns=tuple(columns), source=tuple(source), kind=tuple(kind))


def _robust(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros(len(x))
    x = np.where(finite, x, np.median(x[finite]))
    if x.min() >= 0 and len(x) > 2 and np.ptp(x) > 0 and skew(x) > 1.0:
        x = np.log1p(x)
    median = np.median(x)
    q1, q3 = np.quantile(x, [0.25, 0.75])
    scale = (q3 - q1) / _IQR_PER_SD if q3 > q1 else (x.std() if x.std() > 0 else 1.0)
    return np.clip((x - median) / scale, -_CLIP, _CLIP)
