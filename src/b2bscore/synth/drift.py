"""Drift scenarios: what changes from the drift date on, and the record written to world.json.

Each kind changes parameters only for the accounts/rows named in ``affected``; everything
else in the world is generated exactly as without drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from b2bscore.synth.params import SEGMENT_NAMES

INDUSTRY_MIX_INDUSTRY = "healthcare"
INDUSTRY_MIX_IN_MARKET = 4.0  # multiplier of the weekly in-market hazard
INDUSTRY_MIX_LOGIT = 1.2  # added to the conversion logit
CHANNEL_SHIFT: dict[str, float] = {"paid_search": 0.15, "events": 3.0}  # source weight multipliers
INTENT_DECAY_WEEKS = 4.0  # e-folding time of the surge signal after the drift date
PRICE_CHANGE_SEGMENT = "smb_services"
PRICE_CHANGE_FACTOR = 1.15
PRICE_CHANGE_H_TO_R = 2.5  # multiplier of healthy -> at_risk
PRICE_CHANGE_R_TO_C = 1.5  # multiplier of at_risk -> churned


@dataclass(frozen=True)
class Drift:
    """An active drift: its kind and the first moment (epoch seconds, month index) it applies."""

    kind: str
    start_s: int
    month: int

    def active(self, kind: str) -> bool:
        return self.kind == kind


def drift_record(kind: str | None, start_date: str) -> dict[str, object] | None:
    """The JSON drift record: kind, start_date, affected (column -> values) and a description."""
    if kind is None:
        return None
    affected: dict[str, list[str]]
    if kind == "industry_mix":
        affected = {"industry": [INDUSTRY_MIX_INDUSTRY]}
        text = (f"{INDUSTRY_MIX_INDUSTRY} accounts start buying: in-market hazard x{INDUSTRY_MIX_IN_MARKET}, "
                f"conversion logit +{INDUSTRY_MIX_LOGIT}")
    elif kind == "channel_shift":
        affected = {"source": sorted(CHANNEL_SHIFT)}
        text = "lead source mix shifts: " + ", ".join(f"{k} weight x{v}" for k, v in CHANNEL_SHIFT.items())
    elif kind == "intent_decay":
        affected = {"planted_segment": list(SEGMENT_NAMES)}
        text = (f"the intent provider's surge signal decays (e-folding {INTENT_DECAY_WEEKS} weeks) and "
                "flattens, so scores stop tracking in-market state; all accounts, intent table only")
    elif kind == "price_change":
        affected = {"planted_segment": [PRICE_CHANGE_SEGMENT]}
        text = (f"price rise x{PRICE_CHANGE_FACTOR} for {PRICE_CHANGE_SEGMENT}: healthy->at_risk "
                f"x{PRICE_CHANGE_H_TO_R}, at_risk->churned x{PRICE_CHANGE_R_TO_C}")
    else:
        raise ValueError(f"unknown drift kind {kind!r}")
    return {"kind": kind, "start_date": start_date, "affected": affected, "description": text}


def after(drift: Drift | None, kind: str, seconds: np.ndarray) -> np.ndarray:
    """Boolean mask: drift ``kind`` is active at each time."""
    if drift is None or not drift.active(kind):
        return np.zeros(np.shape(seconds), dtype=bool)
    return np.asarray(seconds) >= drift.start_s
