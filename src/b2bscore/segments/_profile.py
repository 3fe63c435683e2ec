"""Plain-language cluster profiles: majority firmographics plus the most distinctive features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.segments._design import Design

_MIN_SMD = 0.2
_SMD_CAP = 10.0
_MAJORITY = 0.5
_TOPIC_SHARE = 0.3
_MAJORITY_STATUS = 0.8
# (phrase when the cluster is above the rest, phrase when below)
PHRASES: dict[str, tuple[str, str]] = {
    "icp_fit_score": ("strong ICP fit", "weak ICP fit"),
    "log_employees": ("larger companies", "smaller companies"),
    "log_annual_revenue": ("higher company revenue", "lower company revenue"),
    "product_usage_minutes_30d": ("heavy product usage", "little product usage"),
    "activity_total_30d": ("highly engaged", "little engagement"),
    "pricing_page_view_30d": ("viewing pricing", "no pricing interest"),
    "engaged_leads_90d": ("many engaged contacts", "few engaged contacts"),
    "intent_max": ("surging intent", "little intent"),
    "intent_surging_topics": ("surging on several topics", "no surging topics"),
    "legacy_stack": ("legacy stacks", "few legacy stacks"),
    "modern_stack": ("modern cloud stacks", "few modern stacks"),
    "uses_competitor": ("competitor users", "few competitor users"),
    "value": ("high value", "low value"),
    "revenue_365d": ("high revenue", "little revenue"),
    "is_customer": ("mostly customers", "mostly prospects"),
}
_REGIONS = {"north_america": "North America", "latin_america": "Latin America", "emea": "EMEA", "apac": "APAC"}


@dataclass(frozen=True)
class ClusterProfile:
    """One cluster: its number and short name, size, share, the distinctive features and the text."""

    cluster: int
    name: str
    size: int
    share: float
    text: str
    distinctive: tuple[tuple[str, float], ...]  # (feature, standardised mean difference), strongest first

    def to_dict(self) -> dict[str, object]:
        return {"cluster": self.cluster, "name": self.name, "size": self.size, "share": round(self.share, 4),
                "text": self.text, "distinctive": [{"feature": f, "smd": round(s, 3)} for f, s in self.distinctive]}


def describe_clusters(frame: pd.DataFrame, labels: np.ndarray, design: Design, descriptions: dict[str, str],
                      *, top: int) -> list[ClusterProfile]:
    profiles = []
    for cluster in np.unique(labels):
        member = labels == cluster
        smd = _smd(design, member)
        distinctive = _distinctive(design, smd, top)
        who = _firmographic_phrase(frame, member)
        traits = [_phrase(f, s, descriptions) for f, s in distinctive]
        topic = _topic_phrase(frame, member)
        traits += [topic] if topic else []
        name = f"C{cluster + 1}: " + ", ".join(([who] if who else []) + traits[:1])
        text = f"{who or 'mixed firmographics'}" + (": " + ", ".join(traits) if traits else "")
        profiles.append(ClusterProfile(cluster=int(cluster), name=name, size=int(member.sum()),
                                       share=float(member.mean()), text=text, distinctive=tuple(distinctive)))
    return profiles


def _smd(design: Design, member: np.ndarray) -> np.ndarray:
    """(mean in cluster - mean elsewhere) / pooled standard deviation, per design column, capped at
    +-``_SMD_CAP`` (which a perfect separation with no spread inside either group gets)."""
    x = design.matrix
    inside, outside = x[member], x[~member]
    if len(outside) == 0:
        return np.zeros(x.shape[1])
    pooled = np.sqrt((inside.var(axis=0) + outside.var(axis=0)) / 2.0)
    diff = inside.mean(axis=0) - outside.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(pooled > 0, diff / pooled, np.sign(diff) * _SMD_CAP), -_SMD_CAP, _SMD_CAP)


def _distinctive(design: Design, smd: np.ndarray, top: int) -> list[tuple[str, float]]:
    candidates = [(design.columns[i], float(smd[i])) for i in range(len(smd))
                  if design.kind[i] != "category" and abs(smd[i]) >= _MIN_SMD]
    return sorted(candidates, key=lambda pair: (-abs(pair[1]), pair[0]))[:top]


def _phrase(feature: str, smd: float, descriptions: dict[str, str]) -> str:
    if feature in PHRASES:
        return PHRASES[feature][0 if smd > 0 else 1]
    text = descriptions.get(feature, feature.replace("_", " "))
    return f"{'high' if smd > 0 else 'low'} {text[:1].lower()}{text[1:]}"


def _majority(frame: pd.DataFrame, member: np.ndarray, column: str, share: float = _MAJORITY) -> str | None:
    if column not in frame.columns:
        return None
    counts = frame.loc[member, column].astype(str).value_counts()
    if counts.empty or counts.iloc[0] < share * member.sum() or counts.index[0] in ("unknown", "other", "none"):
        return None
    return str(counts.index[0])


def _firmographic_phrase(frame: pd.DataFrame, member: np.ndarray) -> str:
    """E.g. 'mid-market software prospects in North America'; '' when no majority stands out."""
    size = _majority(frame, member, "size_group")
    industry = _majority(frame, member, "industry_group") or _majority(frame, member, "industry")
    region = _majority(frame, member, "region")
    noun = _status_noun(frame, member)
    if not (size or industry or region) and noun in (None, "accounts"):
        return ""
    head = " ".join(p for p in (size, industry.replace("_", " ") if industry else None, noun or "accounts") if p)
    return f"{head} in {_REGIONS.get(region, region)}" if region else head


def _status_noun(frame: pd.DataFrame, member: np.ndarray) -> str | None:
    """'customers' or 'prospects' when at least ``_MAJORITY_STATUS`` of the cluster is one of them."""
    if "is_customer" not in frame.columns:
        return None
    share = frame.loc[member, "is_customer"].astype(bool).mean()
    return "customers" if share >= _MAJORITY_STATUS else "prospects" if share <= 1 - _MAJORITY_STATUS else "accounts"


def _topic_phrase(frame: pd.DataFrame, member: np.ndarray) -> str | None:
    topic = _majority(frame, member, "intent_top_topic", share=_TOPIC_SHARE)
    return f"surging on '{topic.replace('_', ' ')}'" if topic else None
