"""Third-party intent features. A weekly score is known only once its week has ended."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.features._queries import Queries
from b2bscore.features.config import FeatureConfig
from b2bscore.features.specs import BUYING_SIGNAL, FeatureSpec, check_schema

NO_TOPIC = "none"


def intent_specs(config: FeatureConfig) -> list[FeatureSpec]:
    weeks, threshold = config.intent_weeks, config.surge_threshold
    return [
        FeatureSpec("intent_max", "intent", "float", f"Highest intent surge score in the last {weeks} weeks",
                    unit="score", effect=BUYING_SIGNAL),
        FeatureSpec("intent_mean", "intent", "float", f"Average intent surge score in the last {weeks} weeks",
                    unit="score"),
        FeatureSpec("intent_surging_topics", "intent", "float", f"Topics surging (score >= {threshold:g}) in the last {weeks} weeks",
                    unit="count", effect=BUYING_SIGNAL),
        FeatureSpec("intent_key_topic_max", "intent", "float", f"Highest surge on our key topics in the last {weeks} weeks",
                    unit="score", effect=BUYING_SIGNAL),
        FeatureSpec("intent_trend", "intent", "float", f"Change of the average surge score vs the {weeks} weeks before",
                    unit="number"),
        FeatureSpec("intent_top_topic", "intent", "category", f"Topic with the highest surge in the last {weeks} weeks", model_input=False),
    ]


def intent_features(intent: pd.DataFrame, queries: Queries, config: FeatureConfig) -> pd.DataFrame:
    n, days = len(queries), config.intent_weeks * 7
    known_at = intent["week_start"] + pd.Timedelta(days=7)
    index, positions = queries.index_events(intent, known_at, lookback_days=2 * days)
    score = intent["score"].to_numpy(dtype=np.float64)[positions]
    current = queries.window(index, days)
    both = queries.window(index, 2 * days)
    current_sum = index.window_sum(score, current)
    previous_sum = index.window_sum(score, both) - current_sum
    previous_count = both.counts - current.counts
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(current.counts > 0, current_sum / current.counts, 0.0)
        previous_mean = np.where(previous_count > 0, previous_sum / previous_count, 0.0)

    query, position = index.pairs(current)
    rows = index.rows[position]
    pairs = pd.DataFrame({
        "query": query,
        "topic": intent["topic"].to_numpy(dtype=object)[positions][rows],
        "score": score[rows],
    })
    best = pairs.sort_values(["query", "score"], ascending=[True, False], kind="stable").drop_duplicates("query")
    top_topic = np.full(n, NO_TOPIC, dtype=object)
    top_topic[best["query"].to_numpy()] = best["topic"].to_numpy()
    surging = pairs[pairs["score"] >= config.surge_threshold][["query", "topic"]].drop_duplicates()
    key = pairs[pairs["topic"].isin(config.key_topics)]
    key_max = np.zeros(n)
    np.maximum.at(key_max, key["query"].to_numpy(), key["score"].to_numpy())
    intent_max = np.zeros(n)
    np.maximum.at(intent_max, query, pairs["score"].to_numpy())
    frame = pd.DataFrame({
        "intent_max": intent_max,
        "intent_mean": mean,
        "intent_surging_topics": np.bincount(surging["query"].to_numpy(dtype=np.int64), minlength=n).astype(np.float64),
        "intent_key_topic_max": key_max,
        "intent_trend": mean - previous_mean,
        "intent_top_topic": top_topic,
    })
    return check_schema(frame, intent_specs(config), builder="intent_features")
