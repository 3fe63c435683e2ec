"""Technographics: correlated stacks realised from each account's latent legacy/modern/competitor flags."""

from __future__ import annotations

import numpy as np

from b2bscore.synth.firmographics import Population
from b2bscore.synth.params import COMPETITOR_TECH, LEGACY_TECH, MODERN_TECH, TECH_ORDER, TECH_PROB
from b2bscore.synth.timeline import DAY, Timeline

NULL_TIME = -1
_DROP_PROB = {"legacy": 0.15, "competitor": 0.12, "other": 0.04}


def draw_technographics(rng: np.random.Generator, pop: Population, tl: Timeline) -> dict[str, np.ndarray]:
    """Rows (account, tech, first_seen_s, last_seen_s) -- last_seen_s is NULL_TIME while in use.

    Most tools were detected before the window; modern tools are also adopted during it.
    Legacy tools are dropped more often by accounts with a modern stack (migration).
    """
    n, k = pop.size, len(TECH_ORDER)
    base = np.array([TECH_PROB[t] for t in TECH_ORDER])
    is_legacy = np.isin(TECH_ORDER, LEGACY_TECH)
    is_comp = np.isin(TECH_ORDER, COMPETITOR_TECH)
    is_modern = np.isin(TECH_ORDER, MODERN_TECH)
    flag = np.ones((n, k), dtype=bool)
    flag[:, is_legacy] = pop.legacy[:, None]
    flag[:, is_comp] = pop.competitor[:, None]
    p = np.where(flag, base, 0.0)
    p[:, is_modern] = np.where(pop.modern[:, None], base[is_modern], 0.15 * base[is_modern])
    has = rng.random((n, k)) < p
    # a competitor user runs at least one competitor product
    has[:, TECH_ORDER.index(COMPETITOR_TECH[0])] |= pop.competitor & ~has[:, is_comp].any(axis=1)
    account, tech = np.nonzero(has)
    m = len(account)
    window = tl.end_s - tl.start_s
    during = rng.random(m) < np.where(is_modern[tech], 0.25, np.where(is_legacy[tech], 0.0, 0.1))
    before = tl.start_s - (rng.integers(30, 6 * 365, m) * DAY)
    inside = tl.start_s + (rng.random(m) * window * 0.95).astype(np.int64) // DAY * DAY
    first = np.where(during, inside, before)
    group = np.where(is_legacy[tech], "legacy", np.where(is_comp[tech], "competitor", "other"))
    p_drop = np.select([group == "legacy", group == "competitor"],
                       [np.where(pop.modern[account], _DROP_PROB["legacy"], 0.05), _DROP_PROB["competitor"]],
                       default=_DROP_PROB["other"])
    dropped = rng.random(m) < p_drop
    lo = np.maximum(first, tl.start_s) + DAY
    last = lo + (rng.random(m) * np.maximum(tl.end_s - DAY - lo, 0)).astype(np.int64) // DAY * DAY
    last = np.where(dropped & (lo < tl.end_s - DAY), last, NULL_TIME)
    return {"account": account, "tech": tech, "first_seen": first, "last_seen": last}
