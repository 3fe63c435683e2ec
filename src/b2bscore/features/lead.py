"""Lead-level features: who the person is and what they did themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.features._window import EventIndex, days_between, to_seconds
from b2bscore.features.firmographic import UNKNOWN
from b2bscore.features.specs import FeatureSpec, check_schema

SPECS = [
    FeatureSpec("lead_source", "lead", "category", "Channel the lead came from"),
    FeatureSpec("lead_buying_role", "lead", "category", "Role of the lead in the buying committee"),
    FeatureSpec("lead_seniority", "lead", "category", "Seniority of the lead's job title"),
    FeatureSpec("lead_age_days", "lead", "float", "Days since the lead was created"),
    FeatureSpec("lead_activities_30d", "lead", "float", "The lead's own engagement events in the last 30 days"),
    FeatureSpec("lead_activities_total", "lead", "float", "The lead's own engagement events so far"),
]

# Checked in order: the first pattern that matches a title wins.
SENIORITY_PATTERNS = (
    ("executive", r"\b(?:ceo|cfo|cto|coo|cmo|cro|cio|chief|founder|owner|president|managing director)\b"),
    ("vp", r"\b(?:vp|svp|evp|vice president|head of)\b"),
    ("director", r"\bdirector\b"),
    ("manager", r"\b(?:manager|lead|principal)\b"),
)


def seniority(job_title: pd.Series) -> np.ndarray:
    """Seniority level of each job title; 'individual' when nothing matches, 'unknown' when missing."""
    titles = job_title.astype("string").str.lower()
    out = np.where(titles.isna(), UNKNOWN, "individual").astype(object)
    decided = titles.isna().to_numpy()
    for level, pattern in SENIORITY_PATTERNS:
        hit = titles.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool) & ~decided
        out[hit] = level
        decided |= hit
    return out


def lead_features(leads: pd.DataFrame, lead_rows: np.ndarray, as_of: np.ndarray, activities: pd.DataFrame) -> pd.DataFrame:
    """Features of ``leads.iloc[lead_rows]`` as of ``as_of`` (one time per row)."""
    chosen = leads.iloc[lead_rows]
    q_seconds = to_seconds(as_of)
    lead_codes = pd.Index(leads["lead_id"]).get_indexer(activities["lead_id"])
    index = EventIndex(lead_codes, activities["occurred_at"])
    recent = index.window(lead_rows, q_seconds, 30)
    everything = index.window(lead_rows, q_seconds, None)
    frame = pd.DataFrame({
        "lead_source": chosen["source"].fillna(UNKNOWN).to_numpy(dtype=object),
        "lead_buying_role": chosen["buying_role"].fillna(UNKNOWN).to_numpy(dtype=object),
        "lead_seniority": seniority(chosen["job_title"]),
        "lead_age_days": days_between(q_seconds, to_seconds(chosen["created_at"])),
        "lead_activities_30d": recent.counts,
        "lead_activities_total": everything.counts,
    })
    return check_schema(frame, SPECS, builder="lead_features")
