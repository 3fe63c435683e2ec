"""The propensity oracle: each prospect's true chance, at each month start, that its first deal is won within 90 days.

The chance follows from the process state at the snapshot ``t`` -- the account's buying episode (in market or not,
its strength, whether it has just started), its fit and size, the drift in force -- and from the leads it already
has, whose fate is not yet visible:

* A lead created before ``t`` converted with its own ``p_convert``. What can be seen of it at ``t`` (no opportunity
  yet, an open one, a lost one) updates that chance by Bayes' rule; a converted lead always closes won within
  89 days of its creation, so a converted lead that has not closed by ``t`` closes inside the window.
* Leads created in ``[t, t + 90d)`` arrive as a Poisson process whose weekly rate follows the episode chain; the
  ones that convert *and* close before ``t + 90d`` are a thinned Poisson process, so the chance of none is
  ``E[exp(-Lambda)]`` over the chain's paths. That expectation is computed exactly by a backward recursion over the
  weeks, with a new episode's strength (uniform on [0.3, 1]) on a 16-point midpoint grid.

The only approximations: drift flags and the in-market hazard are taken at each week's start, and integrals over the
opportunity timings use fine midpoint grids. ``tests/unit/test_synth_prospects.py`` checks the oracle against the
realised outcomes (calibration) on a generated world.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from b2bscore.data.contract import BUYING_ROLES
from b2bscore.synth import drift as drift_mod
from b2bscore.synth._draw import sigmoid, weights
from b2bscore.synth.drift import Drift, after
from b2bscore.synth.firmographics import Population
from b2bscore.synth.funnel import HORIZON_DAYS, NEVER, Funnel
from b2bscore.synth.params import COEFFICIENTS, INDUSTRIES, ROLE_LOGIT, ROLE_WEIGHTS, SEGMENTS, SOURCE_LOGIT, SOURCES
from b2bscore.synth.timeline import DAY, Timeline
from b2bscore.synth.timing import in_market_hazard
from b2bscore.synth.write import floats, take, timestamps

WINDOW_DAYS = 90
WEEK = 7 * DAY
_STRENGTHS = 0.3 + 0.7 * (np.arange(16) + 0.5) / 16  # a new episode's strength, U(0.3, 1) on a midpoint grid
_GRID = (np.arange(2000) + 0.5) / 2000  # midpoints of [0, 1] for the timing integrals
_Z = np.linspace(-16.0, 12.0, 2801)  # the conversion logit without role and source, for the mean-probability tables


def truth_prospects(pop: Population, tl: Timeline, intensity: np.ndarray, funnel: Funnel, initial: np.ndarray,
                    drift: Drift | None) -> pa.Table:
    """Every (prospect account, month start in the window): ``p_win_90d`` and ``won_90d`` (null where the 90 days
    run past the end of the data). ``intensity`` is the episode chain's intensity as the funnel saw it."""
    timing = _Timing()
    month_rows = []
    for t in tl.month_starts[(tl.month_starts >= tl.start_s) & (tl.month_starts < tl.end_s)]:
        accounts = np.flatnonzero(~initial & (funnel.first_win > t))
        if not len(accounts):
            continue
        p_none = _no_win_from_new_leads(pop, tl, intensity, accounts, int(t), drift, timing)
        p_none *= _no_win_from_old_leads(pop, funnel, accounts, int(t), timing)
        end = t + WINDOW_DAYS * DAY
        won = (funnel.first_win[accounts] > t) & (funnel.first_win[accounts] <= end)
        month_rows.append((accounts, np.full(len(accounts), t), 1.0 - p_none, won, np.full(len(accounts), end > tl.end_s)))
    if not month_rows:
        accounts = at = np.zeros(0, np.int64)
        p_win, won, open_ = np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
    else:
        accounts, at, p_win, won, open_ = (np.concatenate(parts) for parts in zip(*month_rows))
    return pa.table({
        "account_id": take(pop.account_id, accounts),
        "as_of": timestamps(at),
        "p_win_90d": floats(p_win, 6),
        "won_90d": pa.array(won, pa.bool_(), mask=open_),
    })


class _Timing:
    """Distributions of a lead's opportunity timings (days after the lead), from the funnel's formulas."""

    def __init__(self) -> None:
        d = _GRID
        # converted: opportunity after 2 + 28 u days, closed won 7 + v (82 - offset) days later (<= 89 days in all)
        offset = 2 + 28 * d
        self.won_close = np.sort((offset[:, None] + 7 + d[None, ::20] * (HORIZON_DAYS - 1 - 7 - offset[:, None])).ravel())
        # not converted, with a lost opportunity: after 3 + 37 u days, closed lost 14 + 106 v days later
        self.lost_close = np.sort((3 + 37 * d[:, None] + 14 + 106 * d[None, ::20]).ravel())
        # a lead's creation time within its week (the generator's weekday and business-hour pattern), in days
        days = np.array([.19, .2, .2, .19, .14, .04, .04])
        hours = np.arange(48) / 2 + 0.25
        hour_w = np.exp(-0.5 * ((hours - 13.0) / 3.0) ** 2)
        self.offset_days = (np.arange(7)[:, None] + hours[None, :] / 24).ravel()
        self.offset_w = (days[:, None] * (hour_w / hour_w.sum())[None, :]).ravel()

    def won_closed_by(self, age: np.ndarray) -> np.ndarray:
        """P(a converted lead's deal has closed won within ``age`` days of the lead)."""
        return np.searchsorted(self.won_close, age, side="right") / len(self.won_close)


def _no_win_from_old_leads(pop: Population, funnel: Funnel, accounts: np.ndarray, t: int, timing: _Timing) -> np.ndarray:
    """P(no lead created before ``t`` closes won in the window), per account, given what is visible of each lead."""
    out = np.ones(len(accounts))
    position = np.full(pop.size, -1, np.int64)
    position[accounts] = np.arange(len(accounts))
    recent = np.flatnonzero((funnel.lead_created < t) & (funnel.lead_created >= t - HORIZON_DAYS * DAY))
    recent = recent[position[funnel.lead_account[recent]] >= 0]
    if not len(recent):
        return out
    age = (t - funnel.lead_created[recent]) / DAY
    p = funnel.p_convert[recent]
    lost_share = np.minimum(0.6, COEFFICIENTS.lost_opportunity_ratio * p)
    opp_created = np.full(len(funnel.lead_account), NEVER, np.int64)
    opp_closed = np.full(len(funnel.lead_account), NEVER, np.int64)
    opp_created[funnel.opp_lead] = funnel.opp_created
    opp_closed[funnel.opp_lead] = funnel.opp_closed
    seen = opp_created[recent] <= t
    closed = seen & (opp_closed[recent] <= t)  # closed by t while the account is still a prospect: lost
    # converted: opportunity after 2..30 days; lost: after 3..40 days
    conv_unseen = np.clip((30 - age) / 28, 0, 1)
    lost_unseen = np.clip((40 - age) / 37, 0, 1)
    conv_open = np.clip(1 - conv_unseen - timing.won_closed_by(age), 0, 1)
    lost_open = np.clip(1 - lost_unseen - np.searchsorted(timing.lost_close, age, side="right") / len(timing.lost_close),
                        0, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_unseen = p * conv_unseen / (p * conv_unseen + (1 - p) * (lost_share * lost_unseen + 1 - lost_share))
        q_open = p * conv_open / (p * conv_open + (1 - p) * lost_share * lost_open)
    q = np.where(closed, 0.0, np.where(seen, q_open, q_unseen))
    q = np.nan_to_num(q, nan=0.0)
    np.multiply.at(out, position[funnel.lead_account[recent]], 1.0 - q)
    return out


def _no_win_from_new_leads(pop: Population, tl: Timeline, intensity: np.ndarray, accounts: np.ndarray, t: int,
                           drift: Drift | None, timing: _Timing) -> np.ndarray:
    """P(no lead created in ``[t, t + 90d)`` converts and closes won before ``t + 90d``), per account: a backward
    recursion over the weeks of the episode chain (states: out of market, in market at the account's own strength,
    in market at each grid strength)."""
    c = COEFFICIENTS
    end = t + WINDOW_DAYS * DAY
    w0 = int(np.searchsorted(tl.week_starts, t, side="right") - 1)
    weeks = np.arange(w0, w0 + WINDOW_DAYS // 7 + 2)
    starts = tl.week_starts[w0] + (weeks - w0) * WEEK  # the timeline may end before the window does
    # Q[k]: the share of week k's leads created inside the window, times their chance to close won before its end
    created = starts[:, None] + (timing.offset_days[None, :] * DAY).astype(np.int64)
    inside = (created >= t) & (created < end)
    closes = timing.won_closed_by(np.where(inside, (end - created) / DAY, 0.0))
    share = (timing.offset_w[None, :] * inside * closes).sum(axis=1)

    x0 = intensity[accounts, w0].astype(np.float64)
    before = intensity[accounts, w0 - 1].astype(np.float64) if w0 > 0 else np.zeros(len(accounts))
    just_started = (x0 > 0) & (before == 0)
    own = np.where(just_started, 2 * x0, x0)  # the episode's strength (its first week runs at half of it)

    seg = pop.segment[accounts].astype(np.int64)
    healthcare = pop.industry[accounts] == INDUSTRIES.index(drift_mod.INDUSTRY_MIX_INDUSTRY)
    base = c.conv_intercept + c.conv_fit * (pop.fit[accounts] - 0.5)
    rate_scale = pop.size_factor[accounts]
    tables = _mean_probability_tables()

    def hazard(k: int) -> np.ndarray:
        return in_market_hazard(pop, int(starts[k]), drift)[accounts]

    def lam(k: int, x: np.ndarray) -> np.ndarray:
        """Expected number of winning leads created in week k at intensity ``x`` (rows x states)."""
        boost = healthcare & bool(after(drift, "industry_mix", starts[k]))
        shifted = int(bool(after(drift, "channel_shift", starts[k])))
        z = base[:, None] + c.conv_intensity * x + drift_mod.INDUSTRY_MIX_LOGIT * boost[:, None]
        mean_p = np.empty_like(z)
        for s in range(len(SEGMENTS)):
            rows = seg == s
            if rows.any():
                mean_p[rows] = np.interp(z[rows], _Z, tables[shifted, s])
        rate = (c.lead_rate_in_market * x + c.lead_rate_background) * rate_scale[:, None]
        return rate * mean_p * share[k]

    p_end = 1.0 / c.episode_mean_weeks
    grid = np.broadcast_to(_STRENGTHS, (len(accounts), len(_STRENGTHS)))
    # U[:, 0]: out of market before week k's transition; U[:, 1]: in market at the own strength; U[:, 2:]: at the grid
    u = np.ones((len(accounts), 2 + len(_STRENGTHS)))
    zero = np.zeros((len(accounts), 1))
    for k in range(len(weeks) - 1, 0, -1):
        stay_out = np.exp(-lam(k, zero))[:, 0] * u[:, 0]
        start = (np.exp(-lam(k, grid / 2)) * u[:, 2:]).mean(axis=1)  # a new episode runs at half strength at first
        h = hazard(k)
        from_out = (1 - h) * stay_out + h * start
        on = np.exp(-lam(k, np.column_stack([own, grid]))) * u[:, 1:]
        from_in = p_end * stay_out[:, None] + (1 - p_end) * on
        u = np.column_stack([from_out, from_in])
    now = np.exp(-lam(0, x0[:, None]))[:, 0]
    return now * np.where(x0 > 0, u[:, 1], u[:, 0])


def _mean_probability_tables() -> np.ndarray:
    """Mean conversion probability over the lead's role and source, as a function of the rest of the logit ``z``:
    shape (channel shift off/on, segment, len(_Z))."""
    role_w = weights(ROLE_WEIGHTS, BUYING_ROLES)
    role_w = role_w / role_w.sum()
    role_l = weights(ROLE_LOGIT, BUYING_ROLES)
    source_l = weights(SOURCE_LOGIT, SOURCES)
    out = np.empty((2, len(SEGMENTS), len(_Z)))
    for shifted in (0, 1):
        for s, segment in enumerate(SEGMENTS):
            w = weights(segment.lead_sources, SOURCES)
            if shifted:
                for name, factor in drift_mod.CHANNEL_SHIFT.items():
                    w[SOURCES.index(name)] *= factor
            w = w / w.sum()
            joint = (role_w[:, None] * w[None, :]).ravel()
            logit = (role_l[:, None] + source_l[None, :]).ravel()
            out[shifted, s] = sigmoid(_Z[:, None] + logit[None, :]) @ joint
    return out
