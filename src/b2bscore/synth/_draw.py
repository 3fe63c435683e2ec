"""Small vectorised sampling helpers shared by the generator steps."""

from __future__ import annotations

import numpy as np


def categorical(rng: np.random.Generator, probs: np.ndarray, n: int | None = None) -> np.ndarray:
    """Indices drawn from ``probs`` (one row of weights per draw, or one shared vector for ``n`` draws)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        cum = np.cumsum(probs / probs.sum())
        return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(cum) - 1)
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(probs))
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def weights(mapping: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    """A weight vector over ``names`` from a partial mapping (missing names weigh 0)."""
    return np.array([mapping.get(n, 0.0) for n in names], dtype=np.float64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def poisson_from_uniform(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inverting the CDF at ``u``.

    Unlike ``Generator.poisson`` this consumes exactly one uniform per cell, so changing
    the rate of some cells (drift) leaves every other cell's draw unchanged.
    """
    lam = np.asarray(lam, dtype=np.float64)
    counts = np.zeros(lam.shape, dtype=np.int32)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    active = np.flatnonzero(u > cdf)
    k = 0
    while active.size and k < 200:
        k += 1
        counts.flat[active] = k
        pmf.flat[active] *= lam.flat[active] / k
        cdf.flat[active] += pmf.flat[active]
        active = active[u.flat[active] > cdf.flat[active]]
    return counts


def within_week_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Offsets into a week with a business-hours, weekday-heavy pattern."""
    day = categorical(rng, np.array([.19, .2, .2, .19, .14, .04, .04]), n)
    hour = np.clip(rng.normal(13.0, 3.0, n), 0.0, 23.99)
    return (day * 86_400 + hour * 3_600).astype(np.int64)
