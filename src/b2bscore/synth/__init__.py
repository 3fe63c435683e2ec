"""A synthetic B2B world with a known generating process, plus the oracle truth to grade models.

The story, step by step: planted segments draw firmographics and a latent technology stack,
which set a latent fit; accounts go through weekly in-market episodes that drive intent,
behaviour and buying-committee leads; each lead converts with an exact probability; won
deals start customers, whose hidden health chain drives usage, support, expansion and churn.
"""

from __future__ import annotations

from b2bscore.synth.config import DRIFT_KINDS, WorldConfig
from b2bscore.synth.minimal import generate_minimal
from b2bscore.synth.params import COMPETITOR_TECH, LEGACY_TECH, MODERN_TECH, SEGMENT_NAMES, TECH_GROUPS
from b2bscore.synth.world import WorldSummary, generate_world

__all__ = [
    "COMPETITOR_TECH", "DRIFT_KINDS", "LEGACY_TECH", "MODERN_TECH", "SEGMENT_NAMES", "TECH_GROUPS",
    "WorldConfig", "WorldSummary", "generate_minimal", "generate_world",
]
