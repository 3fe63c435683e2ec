"""Behaviour: web, email, webinar and demo events burst during episodes; product usage and
support tickets follow each customer's hidden health (usage decays while at risk)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from b2bscore.data.contract import ACTIVITY_TYPES
from b2bscore.synth._draw import within_week_seconds
from b2bscore.synth.firmographics import Population
from b2bscore.synth.funnel import Funnel
from b2bscore.synth.params import COEFFICIENTS, TOPICS, UNKNOWN_ACTIVITY_TYPE
from b2bscore.synth.revenue import AT_RISK, HEALTHY
from b2bscore.synth.timeline import Timeline

ACTIVITY_NAMES: tuple[str, ...] = ACTIVITY_TYPES + (UNKNOWN_ACTIVITY_TYPE,)
NO_LEAD = -1
NO_TOPIC = -1


@dataclass(frozen=True)
class _Kind:
    """Weekly rate = (base + burst * intensity) * size factor [* emails] [* health]."""

    name: str
    base: float
    burst: float
    lead_share: float  # chance the event is tied to a known lead (when one exists)
    topic_share: float
    per_lead: bool = False  # email: rate is per lead created so far, needs a lead
    customer: bool = False  # product usage / support: only while a paying customer


_KINDS: tuple[_Kind, ...] = (
    _Kind("web_visit", 0.8, 3.0, 0.3, 0.4),
    _Kind("pricing_page_view", 0.015, 1.2, 0.6, 0.0),
    _Kind("content_download", 0.03, 0.6, 0.85, 1.0),
    _Kind("email_open", 0.35, 0.35, 1.0, 0.0, per_lead=True),
    _Kind("email_click", 0.03, 0.25, 1.0, 0.3, per_lead=True),
    _Kind("webinar_attended", 0.008, 0.25, 0.9, 1.0),
    _Kind("demo_request", 0.001, 0.15, 0.9, 0.0),
    _Kind("product_login", 2.2, 0.0, 0.5, 0.0, customer=True),
    _Kind("support_ticket", 0.06, 0.0, 0.5, 0.3, customer=True),
    _Kind(UNKNOWN_ACTIVITY_TYPE, 0.005, 0.08, 0.5, 0.0),
)


def simulate_activities(rng: np.random.Generator, pop: Population, tl: Timeline, intensity: np.ndarray,
                        monthly_state: np.ndarray, funnel: Funnel, topics: np.ndarray) -> dict[str, np.ndarray]:
    """Activity rows (account, lead, time, type, topic, value), sorted by time.

    Rates use the health state of the week's month; customer events are then kept only
    where the account is paying in the event's own month (weeks straddle month starts).
    """
    weekly_state = monthly_state[:, tl.week_month()]
    sf = pop.size_factor[:, None]
    leads_so_far = np.zeros(intensity.shape, dtype=np.int32)
    week_of_lead = np.searchsorted(tl.week_starts, funnel.lead_created, side="right") - 1
    np.add.at(leads_so_far, (funnel.lead_account, week_of_lead), 1)
    leads_so_far = np.minimum(np.cumsum(leads_so_far, axis=1), 6)
    health = np.select([weekly_state == HEALTHY, weekly_state == AT_RISK], [1.0, COEFFICIENTS.at_risk_usage], 0.0)
    tickets = np.select([weekly_state == HEALTHY, weekly_state == AT_RISK], [1.0, 2.5], 0.0)
    lookup = _LeadLookup(funnel, tl)
    parts = []
    for code, kind in enumerate(_KINDS):
        rate = (kind.base + kind.burst * intensity) * sf
        if kind.per_lead:
            rate = (kind.base + kind.burst * intensity) * leads_so_far
        if kind.customer:
            rate = rate * (health if kind.name == "product_login" else tickets)
        counts = rng.poisson(rate)
        cells = np.flatnonzero(counts)
        account, week = np.divmod(np.repeat(cells, counts.flat[cells]), tl.weeks)
        when = tl.week_starts[week] + within_week_seconds(rng, len(account))
        keep = (when >= tl.start_s) & (when < tl.end_s)
        account, week, when = account[keep], week[keep], when[keep]
        state = monthly_state[account, tl.month_of(when)]
        if kind.customer:
            paying = (state == HEALTHY) | (state == AT_RISK)
            account, week, when, state = account[paying], week[paying], when[paying], state[paying]
        lead = lookup.pick(rng, account, when, kind.lead_share)
        if kind.per_lead:
            account, week, when, lead = account[lead >= 0], week[lead >= 0], when[lead >= 0], lead[lead >= 0]
        topic = _topics(rng, topics[account], kind.topic_share)
        value = _values(rng, kind.name, state)
        parts.append((account.astype(np.int32), lead.astype(np.int32), when, np.full(len(account), code, np.int8),
                      topic, value))
    cols = [np.concatenate(c) for c in zip(*parts)]
    order = np.argsort(cols[2], kind="stable")
    return dict(zip(("account", "lead", "time", "type", "topic", "value"), (c[order] for c in cols)))


class _LeadLookup:
    """Finds, for an event at (account, t), a random lead of that account created by t."""

    def __init__(self, funnel: Funnel, tl: Timeline) -> None:
        self._base = int(tl.week_starts[0])
        order = np.lexsort((funnel.lead_created, funnel.lead_account))
        self._order = order
        self._keys = funnel.lead_account[order].astype(np.int64) << 40 | (funnel.lead_created[order] - self._base)
        self._first = np.searchsorted(funnel.lead_account[order], np.arange(len(funnel.first_win) + 1))

    def pick(self, rng: np.random.Generator, account: np.ndarray, when: np.ndarray, share: float) -> np.ndarray:
        keys = account.astype(np.int64) << 40 | (when - self._base)
        available = np.searchsorted(self._keys, keys, side="right") - self._first[account]
        u, v = rng.random(len(account)), rng.random(len(account))
        chosen = self._first[account] + np.floor(v * available).astype(np.int64)
        ok = (available > 0) & (u < share)
        return np.where(ok, self._order[np.minimum(chosen, len(self._order) - 1)] if len(self._order) else NO_LEAD,
                        NO_LEAD)


def _topics(rng: np.random.Generator, focal: np.ndarray, share: float) -> np.ndarray:
    n = len(focal)
    known = rng.random(n) < share
    pick = focal[np.arange(n), rng.integers(0, 2, n)] if n else np.zeros(0, dtype=np.int64)
    topic = np.where(rng.random(n) < 0.7, pick, rng.integers(0, len(TOPICS), n))
    return np.where(known, topic, NO_TOPIC).astype(np.int8)


def _values(rng: np.random.Generator, name: str, state: np.ndarray) -> np.ndarray:
    """Event magnitude: pages viewed, minutes in product or webinar; NaN where it has none."""
    n = len(state)
    if name in ("web_visit", "pricing_page_view"):
        return (1 + rng.poisson(2.0 if name == "web_visit" else 1.0, n)).astype(np.float32)
    if name == "product_login":
        scale = np.where(state == AT_RISK, 0.6, 1.0)
        return np.round(rng.gamma(2.0, 12.0, n) * scale, 1).astype(np.float32)
    if name == "webinar_attended":
        return np.round(20 + 40 * rng.random(n)).astype(np.float32)
    return np.full(n, np.nan, dtype=np.float32)
