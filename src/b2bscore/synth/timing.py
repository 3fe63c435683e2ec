"""Timing: weekly in-market episodes, the hidden driver of intent, behaviour and leads."""

from __future__ import annotations

import numpy as np

from b2bscore.synth import drift as drift_mod
from b2bscore.synth.drift import Drift
from b2bscore.synth.firmographics import Population
from b2bscore.synth.params import COEFFICIENTS, INDUSTRIES, SEGMENTS, TOPICS
from b2bscore.synth.timeline import Timeline

_TOPIC_WEIGHTS = np.array([.2, .18, .16, .12, .14, .1, .06, .04])


def in_market_hazard(pop: Population, week_start: int, drift: Drift | None) -> np.ndarray:
    """Weekly probability that an account not in market starts a buying episode."""
    hazard = np.array([s.in_market_rate for s in SEGMENTS])[pop.segment] * (0.5 + pop.fit)
    if drift is not None and drift.active("industry_mix") and week_start >= drift.start_s:
        healthcare = pop.industry == INDUSTRIES.index(drift_mod.INDUSTRY_MIX_INDUSTRY)
        hazard = np.where(healthcare, hazard * drift_mod.INDUSTRY_MIX_IN_MARKET, hazard)
    return hazard


def simulate_episodes(rng: np.random.Generator, pop: Population, tl: Timeline,
                      drift: Drift | None) -> np.ndarray:
    """In-market intensity per (account, week), float32 in [0, 1]; 0 outside episodes.

    An episode starts with the weekly hazard, lasts a geometric number of weeks, and has a
    strength in [0.3, 1]; intensity ramps up over its first two weeks. Uniforms are drawn
    for every account every week so a drift in one segment leaves the others' draws intact.
    """
    n, w = pop.size, tl.weeks
    intensity = np.zeros((n, w), dtype=np.float32)
    in_market = np.zeros(n, dtype=bool)
    weeks_in = np.zeros(n, dtype=np.int32)
    strength = np.zeros(n)
    p_end = 1.0 / COEFFICIENTS.episode_mean_weeks
    # burn in, so the world does not start with nobody in market
    burn = 12
    for t in range(-burn, w):
        u_start, u_end, u_strength = rng.random(n), rng.random(n), rng.random(n)
        ws = int(tl.week_starts[max(t, 0)])
        ends = in_market & (u_end < p_end)
        starts = ~in_market & (u_start < in_market_hazard(pop, ws, drift))
        in_market = (in_market & ~ends) | starts
        weeks_in = np.where(starts, 0, weeks_in + 1)
        strength = np.where(starts, 0.3 + 0.7 * u_strength, strength)
        if t >= 0:
            intensity[:, t] = np.where(in_market, strength * np.minimum(1.0, (weeks_in + 1) / 2.0), 0.0)
    return intensity


def focal_topics(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two distinct research topics per account, shape (n, 2), indices into TOPICS."""
    first = np.searchsorted(np.cumsum(_TOPIC_WEIGHTS / _TOPIC_WEIGHTS.sum()), rng.random(n), side="right")
    first = np.minimum(first, len(TOPICS) - 1)
    second = (first + rng.integers(1, len(TOPICS), n)) % len(TOPICS)
    return np.stack([first, second], axis=1)
