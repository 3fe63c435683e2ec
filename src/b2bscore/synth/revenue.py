"""Customers: a hidden monthly health chain (healthy / at_risk / churned), invoices and their oracle.

States: 0 healthy, 1 at_risk, 2 churned (absorbing). Month ``m``'s invoice is sent on its
first day while the account is alive; a healthy (rarely an at-risk) customer may expand
its plan, which raises every later invoice. The truth is computed from the same transition
matrices by matrix products, so it is the exact probability given the state at ``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from b2bscore.synth import drift as drift_mod
from b2bscore.synth.drift import Drift
from b2bscore.synth.firmographics import Population
from b2bscore.synth.params import COEFFICIENTS, SEGMENTS
from b2bscore.synth.timeline import DAY, Timeline

HEALTHY, AT_RISK, CHURNED = 0, 1, 2
NOT_CUSTOMER = -1
_AT_RISK_EXPANSION = 0.2  # at-risk customers expand at this share of the healthy rate


@dataclass(frozen=True)
class Customers:
    """Monthly state and invoice per (account, month); ``invoice`` is 0 when nothing is billed."""

    state: np.ndarray  # int8 (n, months_total), NOT_CUSTOMER before the customer starts
    invoice: np.ndarray  # float64 (n, months_total)
    base: np.ndarray  # plan value before price changes, at each month's start
    truth_p_churn: np.ndarray  # float64 (n_segments, months_total, 2)
    truth_revenue_factor: np.ndarray  # expected 365-day revenue / base, same shape


def transition_matrices(tl: Timeline, drift: Drift | None) -> np.ndarray:
    """P[seg, t] is the 3x3 transition from month t to t + 1 (price_change acts from the drift month)."""
    n_months = len(tl.month_starts)
    out = np.zeros((len(SEGMENTS), n_months, 3, 3))
    for g, s in enumerate(SEGMENTS):
        for t in range(n_months):
            h_r, r_c = s.h_to_r, s.r_to_c
            if (drift is not None and drift.active("price_change") and s.name == drift_mod.PRICE_CHANGE_SEGMENT
                    and t + 1 >= drift.month):
                h_r, r_c = h_r * drift_mod.PRICE_CHANGE_H_TO_R, r_c * drift_mod.PRICE_CHANGE_R_TO_C
            out[g, t] = [[1 - h_r - s.h_to_c, h_r, s.h_to_c], [s.r_to_h, 1 - s.r_to_h - r_c, r_c], [0, 0, 1]]
    return out


def price_multipliers(tl: Timeline, drift: Drift | None) -> np.ndarray:
    """Price multiplier per (segment, month)."""
    mult = np.ones((len(SEGMENTS), len(tl.month_starts)))
    if drift is not None and drift.active("price_change"):
        g = [s.name for s in SEGMENTS].index(drift_mod.PRICE_CHANGE_SEGMENT)
        mult[g, drift.month:] = drift_mod.PRICE_CHANGE_FACTOR
    return mult


def growth(segment: int) -> np.ndarray:
    """Expected plan growth factor over one month, by state (churned plans are worth 0)."""
    p = SEGMENTS[segment].p_expand
    e = COEFFICIENTS.expansion_step
    return np.array([1 + p * e, 1 + _AT_RISK_EXPANSION * p * e, 0.0])


def oracle(tl: Timeline, drift: Drift | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact P(churn within 180 days) and E[revenue in 365 days]/base by (segment, month, state)."""
    P = transition_matrices(tl, drift)
    price = price_multipliers(tl, drift)
    ms = tl.month_starts
    n_seg, n_months = P.shape[0], len(ms)
    p_churn = np.full((n_seg, n_months, 2), np.nan)
    factor = np.full((n_seg, n_months, 2), np.nan)
    alive = np.array([1.0, 1.0, 0.0])
    for m in range(n_months):
        k = int(np.sum((ms > ms[m]) & (ms <= ms[m] + 180 * DAY)))
        horizon = int(np.sum((ms >= ms[m]) & (ms < ms[m] + 365 * DAY)))
        if m + max(k, horizon) >= n_months:
            continue
        for g in range(n_seg):
            q = np.eye(3)
            for j in range(k):
                q = q @ P[g, m + j]
            p_churn[g, m] = q[:2, CHURNED]
            v = np.eye(3)[:2]  # expected plan value x state indicator, per start state
            total = np.zeros(2)
            for j in range(horizon):
                total += price[g, m + j] * (v @ alive)
                v = (v * growth(g)) @ P[g, m + j]
            factor[g, m] = total
    return p_churn, factor


def simulate_customers(rng: np.random.Generator, pop: Population, tl: Timeline, start_month: np.ndarray,
                       initial: np.ndarray, drift: Drift | None, mrr: np.ndarray) -> Customers:
    """Run the chain for every account from its start month (``-1``: never a customer)."""
    n, n_months = pop.size, len(tl.month_starts)
    P = transition_matrices(tl, drift)
    price = price_multipliers(tl, drift)
    cum = np.cumsum(P, axis=3)
    u_move, u_expand = rng.random((n_months, n)), rng.random((n_months, n))
    at_risk0 = initial & (rng.random(n) < COEFFICIENTS.initial_at_risk)
    seg = pop.segment.astype(np.int64)
    p_exp = np.array([s.p_expand for s in SEGMENTS])[seg]
    state = np.full(n, NOT_CUSTOMER, dtype=np.int8)
    base = mrr.astype(np.float64).copy()
    states = np.empty((n, n_months), dtype=np.int8)
    invoice = np.zeros((n, n_months))
    bases = np.zeros((n, n_months))
    for m in range(n_months):
        begins = start_month == m
        state = np.where(begins, np.where(at_risk0, AT_RISK, HEALTHY), state).astype(np.int8)
        states[:, m] = state
        live = (state == HEALTHY) | (state == AT_RISK)
        bases[:, m] = base
        invoice[:, m] = np.where(live, np.round(base * price[seg, m], 2), 0.0)
        rate = np.where(state == HEALTHY, p_exp, _AT_RISK_EXPANSION * p_exp)
        base = np.where(live & (u_expand[m] < rate), base * (1 + COEFFICIENTS.expansion_step), base)
        if m + 1 < n_months:
            row = cum[seg, min(m, n_months - 1), np.clip(state, 0, 2)]
            moved = (u_move[m][:, None] >= row).sum(axis=1).clip(0, 2).astype(np.int8)
            state = np.where(live, moved, state).astype(np.int8)
    p_churn, factor = oracle(tl, drift)
    return Customers(state=states, invoice=invoice, base=bases, truth_p_churn=p_churn, truth_revenue_factor=factor)


def initial_customers(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """Accounts already paying at the start: more likely the better they fit."""
    c = COEFFICIENTS
    return rng.random(pop.size) < c.initial_customer_base + c.initial_customer_fit * pop.fit
