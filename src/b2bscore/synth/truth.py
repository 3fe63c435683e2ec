"""The oracle tables written to ``truth/``: what a perfect model would predict, and what happened."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from b2bscore.synth.firmographics import Population
from b2bscore.synth.funnel import Funnel
from b2bscore.synth.params import SEGMENT_NAMES
from b2bscore.synth.revenue import AT_RISK, CHURNED, HEALTHY, Customers
from b2bscore.synth.timeline import DAY, Timeline
from b2bscore.synth.write import floats, take, timestamps


def truth_leads(pop: Population, funnel: Funnel, ids: np.ndarray) -> pa.Table:
    return pa.table({
        "lead_id": pa.array(ids.astype(object), pa.string()),
        "account_id": take(pop.account_id, funnel.lead_account),
        "created_at": timestamps(funnel.lead_created),
        "p_convert": pa.array(funnel.p_convert, pa.float64()),
        "converted": pa.array(funnel.converted, pa.bool_()),
    })


def truth_segments(pop: Population) -> pa.Table:
    return pa.table({
        "account_id": pa.array(pop.account_id.astype(object), pa.string()),
        "planted_segment": take(SEGMENT_NAMES, pop.segment),
        "fit": pa.array(pop.fit, pa.float64()),
    })


def truth_customers(pop: Population, tl: Timeline, customers: Customers, subscribers: np.ndarray | None = None) -> pa.Table:
    """Every (paying account, month start in the window) with the oracle and the realised outcome; only
    ``subscribers`` (accounts on a plan; buyers without a contract have their own truth, ``orders.truth_buyers``)."""
    ms = tl.month_starts
    steps = np.array([np.sum((ms > t) & (ms <= t + 180 * DAY)) for t in ms])
    horizon = np.array([np.sum((ms >= t) & (ms < t + 365 * DAY)) for t in ms])
    in_window = (ms >= tl.start_s) & (ms < tl.end_s)
    live = (customers.state == HEALTHY) | (customers.state == AT_RISK)
    if subscribers is not None:
        live &= subscribers[:, None]
    month, account = np.nonzero(live.T & in_window[:, None])
    state = customers.state[account, month].astype(np.int64)
    seg = pop.segment[account].astype(np.int64)
    p_churn = customers.truth_p_churn[seg, month, state]
    expected = customers.base[account, month] * customers.truth_revenue_factor[seg, month, state]
    churned = customers.state[account, month + steps[month]] == CHURNED
    cum = np.concatenate([np.zeros((len(pop.account_id), 1)), np.cumsum(customers.invoice, axis=1)], axis=1)
    realised = cum[account, month + horizon[month]] - cum[account, month]
    return pa.table({
        "account_id": take(pop.account_id, account),
        "as_of": timestamps(ms[month]),
        "p_churn_180d": pa.array(p_churn, pa.float64()),
        "expected_revenue_365d": floats(expected, 2),
        "churned_180d": pa.array(churned, pa.bool_()),
        "revenue_365d": floats(realised, 2),
    })
