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
    FeatureSpec("lead_function", "lead", "category", "Job function of the lead (from the job title)"),
    FeatureSpec("lead_age_days", "lead", "float", "Days since the lead was created", unit="days"),
    FeatureSpec("lead_activities_30d", "lead", "float", "The lead's own engagement events in the last 30 days", unit="count"),
    FeatureSpec("lead_activities_total", "lead", "float", "The lead's own engagement events so far", unit="count"),
]

# Checked in order: the first pattern that matches a title wins.
SENIORITY_PATTERNS = (
    ("executive", r"\b(?:ceo|cfo|cto|coo|cmo|cro|cio|chief|founder|owner|president|managing director)\b"),
    ("vp", r"\b(?:vp|svp|evp|vice president|head of)\b"),
    ("director", r"\bdirector\b"),
    ("manager", r"\b(?:manager|lead|principal)\b"),
)


# Checked in order: a functional word beats a general one ("VP Sales Operations" is sales, "CFO" finance, and
# "Account Executive" sales); general management comes last.
FUNCTION_PATTERNS = (
    ("sales", r"\b(?:sales|account executive|account manager|business development|bdr|sdr|cro|chief revenue officer"
              r"|revenue|customer success|partnerships?)\b"),
    ("marketing", r"\b(?:marketing|cmo|brand|demand generation|demand gen|growth|communications|content|seo)\b"),
    ("finance", r"\b(?:cfo|finance|financial|accounting|accountant|controller|treasurer|treasury|fp&a)\b"),
    ("hr", r"\b(?:hr|human resources|people|talent|recruiter|recruiting|recruitment|chro)\b"),
    ("it_engineering", r"\b(?:cto|cio|ciso|it|information|technology|technical|engineer|engineering|developer"
                       r"|software|devops|data|architect|security|infrastructure|systems|r&d)\b"),
    ("operations", r"\b(?:coo|operations|operating|ops|supply chain|logistics|procurement|purchasing)\b"),
    ("executive", r"\b(?:ceo|chief executive|(?<!vice )president|founder|owner|managing director|general manager"
                  r"|partner)\b"),
)


def _first_match(job_title: pd.Series, patterns: tuple[tuple[str, str], ...], default: str) -> np.ndarray:
    """The label of the first pattern each lower-cased title matches; ``default`` when none, 'unknown' when missing."""
    titles = job_title.astype("string").str.lower()
    out = np.where(titles.isna(), UNKNOWN, default).astype(object)
    decided = titles.isna().to_numpy()
    for label, pattern in patterns:
        hit = titles.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool) & ~decided
        out[hit] = label
        decided |= hit
    return out


def seniority(job_title: pd.Series) -> np.ndarray:
    """Seniority level of each job title; 'individual' when nothing matches, 'unknown' when missing."""
    return _first_match(job_title, SENIORITY_PATTERNS, "individual")


def job_function(job_title: pd.Series) -> np.ndarray:
    """Job function of each title (``FUNCTION_PATTERNS``); 'other' when nothing matches, 'unknown' when empty."""
    return _first_match(job_title.astype("string").str.strip().replace("", pd.NA), FUNCTION_PATTERNS, "other")


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
        "lead_function": job_function(chosen["job_title"]),
        "lead_age_days": days_between(q_seconds, to_seconds(chosen["created_at"])),
        "lead_activities_30d": recent.counts,
        "lead_activities_total": everything.counts,
    })
    return check_schema(frame, SPECS, builder="lead_features")
