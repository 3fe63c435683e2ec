"""Third-party intent: weekly surge scores per topic that track in-market state (until drift)."""

from __future__ import annotations

import numpy as np

from b2bscore.synth import drift as drift_mod
from b2bscore.synth.drift import Drift
from b2bscore.synth.params import TOPICS
from b2bscore.synth.timeline import WEEK, Timeline

MIN_SCORE = 10.0
"""The provider only reports account-weeks scoring at least this much."""


def simulate_intent(rng: np.random.Generator, tl: Timeline, intensity: np.ndarray, topics: np.ndarray,
                    drift: Drift | None) -> dict[str, np.ndarray]:
    """Rows (account, week, topic, score) sorted by week, account, topic.

    score = noise + surge: noise is a lognormal baseline (so quiet accounts still appear now
    and then); the surge is ~75 x intensity on the account's focal topics and little on others.
    Under ``intent_decay`` the surge fades after the drift date and all scores flatten.
    """
    n, w = intensity.shape
    ok_week = (tl.week_starts >= tl.start_s) & (tl.week_starts < tl.end_s)
    decay = np.ones(w)
    if drift is not None and drift.active("intent_decay"):
        weeks_after = (tl.week_starts - drift.start_s) / WEEK
        decay = np.where(weeks_after >= 0, np.exp(-np.maximum(weeks_after, 0) / drift_mod.INTENT_DECAY_WEEKS), 1.0)
    flatten = 0.6 + 0.4 * decay
    parts = []
    for k in range(len(TOPICS)):
        weight = np.select([topics[:, 0] == k, topics[:, 1] == k], [1.0, 0.6], 0.08)
        noise = 12.0 * np.exp(rng.normal(-1.6, 0.8, (n, w)))
        surge = 75.0 * intensity * weight[:, None] * rng.uniform(0.7, 1.1, (n, w))
        score = np.clip((noise + surge * decay) * flatten, 0.0, 100.0)
        score = np.round(score, 1)
        account, week = np.nonzero((score >= MIN_SCORE) & ok_week)
        parts.append((account, week, np.full(len(account), k, dtype=np.int8), score[account, week]))
    account, week, topic, score = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((topic, account, week))
    return {"account": account[order], "week": week[order], "topic": topic[order], "score": score[order]}
