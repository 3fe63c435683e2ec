"""Funnel: buying-committee leads created mostly during episodes, their conversion and opportunities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from b2bscore.data.contract import BUYING_ROLES
from b2bscore.synth import drift as drift_mod
from b2bscore.synth._draw import categorical, poisson_from_uniform, sigmoid, weights, within_week_seconds
from b2bscore.synth.drift import Drift, after
from b2bscore.synth.firmographics import Population
from b2bscore.synth.params import (
    COEFFICIENTS,
    INDUSTRIES,
    JOB_TITLES,
    ROLE_LOGIT,
    ROLE_WEIGHTS,
    SEGMENTS,
    SOURCE_LOGIT,
    SOURCES,
)
from b2bscore.synth.timeline import DAY, Timeline

HORIZON_DAYS = 90
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Funnel:
    """Leads (sorted by created time), their opportunities and each account's first won close."""

    lead_account: np.ndarray
    lead_created: np.ndarray
    lead_source: np.ndarray  # index into SOURCES
    lead_role: np.ndarray  # index into BUYING_ROLES
    lead_title: np.ndarray
    p_convert: np.ndarray
    converted: np.ndarray
    opp_lead: np.ndarray  # index into the leads arrays
    opp_created: np.ndarray
    opp_closed: np.ndarray  # realised close (may lie past the end; then the opportunity is open)
    opp_won: np.ndarray
    opp_amount: np.ndarray
    first_win: np.ndarray  # per account, close time of the first won deal, NEVER if none


def conversion_logit(fit: np.ndarray, intensity: np.ndarray, role: np.ndarray, source: np.ndarray,
                     healthcare_boost: np.ndarray) -> np.ndarray:
    """The lead's conversion logit: fit and timing both matter, then role and channel."""
    c = COEFFICIENTS
    return (c.conv_intercept + c.conv_fit * (fit - 0.5) + c.conv_intensity * intensity
            + weights(ROLE_LOGIT, BUYING_ROLES)[role] + weights(SOURCE_LOGIT, SOURCES)[source]
            + drift_mod.INDUSTRY_MIX_LOGIT * healthcare_boost)


def base_mrr(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """List monthly recurring revenue of each account's plan: scales with size and segment price."""
    c = COEFFICIENTS
    price = np.array([s.price for s in SEGMENTS])[pop.segment]
    return np.round(price * c.mrr_scale * pop.employees ** c.mrr_exponent * np.exp(rng.normal(0, .25, pop.size)), 2)


def simulate_funnel(rng: np.random.Generator, pop: Population, tl: Timeline, intensity: np.ndarray,
                    prospect: np.ndarray, mrr: np.ndarray, drift: Drift | None) -> Funnel:
    """Draw leads from the in-market intensity and decide their fate at creation.

    Each lead converts with probability ``p_convert`` (exact: that coin is the process).
    After an account's first won deal closes it is a customer and creates no further leads;
    the first close only depends on earlier leads, so dropping later ones is causal.
    """
    c = COEFFICIENTS
    rate = (c.lead_rate_in_market * intensity + c.lead_rate_background) * pop.size_factor[:, None]
    rate *= prospect[:, None]
    counts = poisson_from_uniform(rng.random(rate.shape), rate)
    cells = np.flatnonzero(counts)
    reps = counts.flat[cells]
    account, week = np.divmod(np.repeat(cells, reps), tl.weeks)
    created = tl.week_starts[week] + within_week_seconds(rng, len(account))
    at_creation = intensity[account, week].astype(np.float64)
    keep = (created >= tl.start_s) & (created < tl.end_s)
    account, created, at_creation = account[keep], created[keep], at_creation[keep]
    m = len(account)

    role = categorical(rng, weights(ROLE_WEIGHTS, BUYING_ROLES), m)
    src_w = np.stack([weights(s.lead_sources, SOURCES) for s in SEGMENTS])[pop.segment[account]]
    shifted = after(drift, "channel_shift", created)
    for name, factor in drift_mod.CHANNEL_SHIFT.items():
        src_w[:, SOURCES.index(name)] *= np.where(shifted, factor, 1.0)
    source = categorical(rng, src_w)
    title = _titles(rng, role)
    healthcare = pop.industry[account] == INDUSTRIES.index(drift_mod.INDUSTRY_MIX_INDUSTRY)
    boost = (healthcare & after(drift, "industry_mix", created)).astype(np.float64)
    p = sigmoid(conversion_logit(pop.fit[account], at_creation, role, source, boost))
    converted = rng.random(m) < p

    # opportunities: every converted lead wins within the horizon; some others get a lost one
    u_lost, d1, d2 = rng.random(m), rng.random(m), rng.random(m)
    lost = ~converted & (u_lost < np.minimum(0.6, c.lost_opportunity_ratio * p))
    offset = np.where(converted, 2 + d1 * 28, 3 + d1 * 37) * DAY
    cycle = np.where(converted, 7 + d2 * (HORIZON_DAYS - 1 - 7 - offset / DAY), 14 + d2 * 106) * DAY
    opp_created = created + offset.astype(np.int64)
    opp_closed = opp_created + cycle.astype(np.int64)

    first_win = np.full(pop.size, NEVER, dtype=np.int64)
    np.minimum.at(first_win, account[converted], opp_closed[converted])
    alive = created < first_win[account]
    order = np.lexsort((account, created))
    order = order[alive[order]]
    account, created, role, source, title = account[order], created[order], role[order], source[order], title[order]
    p, converted, lost = p[order], converted[order], lost[order]
    opp_created, opp_closed = opp_created[order], opp_closed[order]

    has_opp = (converted | lost) & (opp_created < tl.end_s)
    opp_lead = np.flatnonzero(has_opp)
    opp_lead = opp_lead[np.argsort(opp_created[opp_lead], kind="stable")]
    price_up = after(drift, "price_change", opp_created[opp_lead]) & (
        pop.segment[account[opp_lead]] == _segment_index(drift_mod.PRICE_CHANGE_SEGMENT))
    quote = np.exp(rng.normal(0, .2, len(opp_lead)))
    amount = 12 * mrr[account[opp_lead]] * np.where(converted[opp_lead], 1.0, quote)
    amount = np.round(amount * np.where(price_up, drift_mod.PRICE_CHANGE_FACTOR, 1.0), 2)
    return Funnel(lead_account=account, lead_created=created, lead_source=source, lead_role=role, lead_title=title,
                  p_convert=p, converted=converted, opp_lead=opp_lead, opp_created=opp_created[opp_lead],
                  opp_closed=opp_closed[opp_lead], opp_won=converted[opp_lead], opp_amount=amount,
                  first_win=first_win)


def _segment_index(name: str) -> int:
    return [s.name for s in SEGMENTS].index(name)


def _titles(rng: np.random.Generator, role: np.ndarray) -> np.ndarray:
    pick = rng.integers(0, 3, len(role))
    out = np.empty(len(role), dtype=object)
    for r, name in enumerate(BUYING_ROLES):
        mask = role == r
        out[mask] = np.array(JOB_TITLES[name], dtype=object)[pick[mask]]
    return out
