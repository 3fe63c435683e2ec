"""Buyers without contracts: repeat orders, a silent drop-out, and the truth a buy-till-you-die model aims at.

A transactional customer (wholesale, distribution, parts) places its first order when it becomes a customer, then
reorders as a Poisson process with its own rate ``lam`` (orders per 30.44 days) times a yearly season, until it
silently stops: after each *repeat* order it drops out with its own probability ``p`` (the BG/NBD process). Each
order's value is gamma around the customer's own mean, which scales with its plan value (size and segment) and a
heavy-tailed per-customer factor (the Gamma-Gamma process): a few very large accounts, as wholesale looks.

The B2B signals carry part of what the purchase history cannot: better-fitting accounts reorder more often and drop
out less, and a customer that has dropped out stops using the product and visiting (its monthly state turns
``CHURNED``, which ``behaviour.py`` reads), while a buy-till-you-die model sees only the silence.

The truth per (customer, month start ``t`` after its first order) knows the customer's true ``lam``, ``p`` and mean
order value, and comes in two versions:

* the oracle (``expected_orders_<H>``, ``expected_revenue_<H>``, ``p_no_order_<H>``) also knows the hidden state
  ``alive`` -- as the subscription oracle knows the health state: the B2B signals reveal much of it;
* the ``btyd_`` columns know only the visible order history, through ``p_alive`` = 1 without repeat orders, else
  ``(1 - p) e^{-L} / ((1 - p) e^{-L} + p)`` with ``L`` the expected orders between the last order and ``t``: what a
  buy-till-you-die model estimates, with the true parameters instead of fitted ones.

With ``a`` the chance to be alive (0/1, or ``p_alive``) and ``L_H`` the expected orders in ``[t, t + H)`` at the
customer's rate: expected orders = ``a (1 - e^{-p L_H}) / p`` (each order is the last with chance ``p``); expected
revenue = expected orders x mean order value x the price in force; ``p_no_order_<H>`` = ``1 - a (1 - e^{-L_H})``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from b2bscore.synth._draw import poisson_from_uniform
from b2bscore.synth.firmographics import Population
from b2bscore.synth.revenue import CHURNED, HEALTHY, NOT_CUSTOMER
from b2bscore.synth.timeline import DAY, Timeline
from b2bscore.synth.write import floats, take, timestamps

MONTH_DAYS = 30.4375
HORIZONS = (90, 180, 365)
ORDER_RATE = 1.1  # mean orders per month of an average customer (before fit and season)
RATE_SHAPE = 1.6  # gamma shape of the per-customer rate: heterogeneous, some order weekly, some twice a year
DROPOUT_A, DROPOUT_B = 1.2, 16.0  # beta prior of the per-order drop-out chance (mean 0.07)
VALUE_SHAPE = 4.0  # gamma shape of one order's value around the customer's mean (CV 0.5)
VALUE_Q = 3.0  # gamma shape behind the heavy-tailed per-customer value factor (mean 1)
ORDER_SHARE = 0.35  # a mean order is this share of the account's monthly plan value x its size
SEASON = 0.3  # amplitude of the yearly season (peak in October, trough in April)


@dataclass(frozen=True)
class Orders:
    """Transactional customers' orders and hidden parameters; ``state`` is HEALTHY while alive, CHURNED after."""

    account: np.ndarray  # per order, sorted by time
    time: np.ndarray
    amount: np.ndarray
    buyer: np.ndarray  # bool per account: buys without a contract
    first: np.ndarray  # per account, time of the first order (-1 if never a customer)
    lam: np.ndarray  # per account, orders per month at season 1
    p: np.ndarray  # per account, drop-out chance after each repeat order
    mean_value: np.ndarray  # per account, mean order value before price changes
    death: np.ndarray  # per account, time of the last order (the customer is gone after it); NEVER if alive at the end
    state: np.ndarray  # int8 (n, months_total)


def season(seconds: np.ndarray) -> np.ndarray:
    """Multiplier of the order rate at each time: mean 1 over a year."""
    day_of_year = (np.asarray(seconds, dtype=np.float64) / DAY) % 365.25
    return 1.0 + SEASON * np.cos(2 * np.pi * (day_of_year - 288.0) / 365.25)


def season_integral(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integral of :func:`season` over ``[a, b]`` in months (of 30.4375 days)."""
    a = np.asarray(a, dtype=np.float64) / DAY
    b = np.asarray(b, dtype=np.float64) / DAY
    w = 2 * np.pi / 365.25
    periodic = SEASON / w * (np.sin(w * (b - 288.0)) - np.sin(w * (a - 288.0)))
    return ((b - a) + periodic) / MONTH_DAYS


def draw_buyers(rng: np.random.Generator, pop: Population, mode: str, share: float) -> np.ndarray:
    """Which accounts buy without a contract."""
    u = rng.random(pop.size)
    if mode == "subscription":
        return np.zeros(pop.size, bool)
    if mode == "transactional":
        return np.ones(pop.size, bool)
    return u < share


def simulate_orders(rng: np.random.Generator, pop: Population, tl: Timeline, start_month: np.ndarray,
                    buyer: np.ndarray, mrr: np.ndarray, price: np.ndarray) -> Orders:
    """Orders of every buyer from its start month to the end of the timeline (extra months included, for the truth).

    ``price`` is the price multiplier per (segment, month) (the ``price_change`` drift)."""
    n, n_months = pop.size, len(tl.month_starts)
    ms = tl.month_starts
    lam = rng.gamma(RATE_SHAPE, ORDER_RATE / RATE_SHAPE, n) * np.exp(1.2 * (pop.fit - 0.5))
    p = rng.beta(DROPOUT_A, DROPOUT_B, n) * np.exp(-1.5 * (pop.fit - 0.5))
    p = np.clip(p, 0.005, 0.9)
    factor = (VALUE_Q - 1) / rng.gamma(VALUE_Q, 1.0, n)  # inverse gamma, mean 1, heavy right tail
    mean_value = np.round(ORDER_SHARE * mrr * factor, 2)
    repeats_left = rng.geometric(p)  # repeat orders until (and including) the one after which it drops out
    first_offset = rng.random(n) * 20 * DAY
    u_count = rng.random((n_months, n))
    seg = pop.segment.astype(np.int64)

    customer = buyer & (start_month >= 0)
    first = np.where(customer, ms[np.clip(start_month, 0, n_months - 1)] + first_offset.astype(np.int64), -1)
    alive = np.zeros(n, bool)
    death = np.full(n, np.iinfo(np.int64).max, np.int64)
    state = np.full((n, n_months), NOT_CUSTOMER, np.int8)
    accounts, times = [customer.nonzero()[0]], [first[customer]]
    for m in range(n_months - 1):
        begins = customer & (start_month == m)
        alive |= begins
        lo = np.where(begins, first, ms[m])
        hi = np.full(n, ms[m + 1])
        rate = lam * season_integral(lo, hi)
        counts = np.where(alive, poisson_from_uniform(u_count[m], rate), 0)
        counts = np.minimum(counts, repeats_left)
        who = np.repeat(np.arange(n), counts)
        when = lo[who] + (rng.random(len(who)) * (hi[who] - lo[who])).astype(np.int64)
        order = np.lexsort((when, who))
        who, when = who[order], when[order]
        accounts.append(who)
        times.append(when)
        repeats_left = repeats_left - counts
        gone = alive & (repeats_left == 0)
        if gone.any():
            last = np.full(n, -1, np.int64)
            np.maximum.at(last, who, when)
            death = np.where(gone, last, death)
        state[:, m] = np.where(alive, HEALTHY, np.where(customer & (death < ms[m]), CHURNED, state[:, m]))
        alive &= ~gone
    state[:, n_months - 1] = np.where(alive, HEALTHY, np.where(customer & (death < ms[-1]), CHURNED, NOT_CUSTOMER))
    account = np.concatenate(accounts)
    time = np.concatenate(times)
    order = np.lexsort((account, time))
    account, time = account[order], time[order]
    value = mean_value[account] * rng.gamma(VALUE_SHAPE, 1.0 / VALUE_SHAPE, len(account))
    month = np.clip(tl.month_of(time), 0, n_months - 1)
    amount = np.round(value * price[seg[account], month], 2)
    return Orders(account=account, time=time, amount=amount, buyer=buyer, first=first, lam=lam, p=p,
                  mean_value=mean_value, death=death, state=state)


def truth_buyers(pop: Population, tl: Timeline, orders: Orders, price: np.ndarray) -> pa.Table:
    """Every (buyer that has ordered, month start in the window after its first order): the oracle and the outcome."""
    ms = tl.month_starts
    in_window = (ms >= tl.start_s) & (ms < tl.end_s)
    seg = pop.segment.astype(np.int64)
    parts = []
    for m in np.flatnonzero(in_window):
        t = ms[m]
        rows = np.flatnonzero(orders.buyer & (orders.first >= 0) & (orders.first < t))
        if not len(rows):
            continue
        before = orders.time < t
        repeat = before & (orders.time > orders.first[orders.account])
        x = np.bincount(orders.account[repeat], minlength=pop.size)[rows]
        last = np.full(pop.size, -1, np.int64)
        np.maximum.at(last, orders.account[before], orders.time[before])
        silence = orders.lam[rows] * season_integral(last[rows], np.full(len(rows), t))
        p = orders.p[rows]
        stay = (1 - p) * np.exp(-silence)
        p_alive = np.where(x == 0, 1.0, stay / (stay + p))
        alive = orders.death[rows] >= t  # the hidden state: its last order is still to come
        columns = {"account": rows, "as_of": np.full(len(rows), t), "alive": alive, "p_alive": p_alive,
                   "repeat_orders": x}
        for h in HORIZONS:
            end = t + h * DAY
            expected_orders = orders.lam[rows] * season_integral(np.full(len(rows), t), np.full(len(rows), end))
            if_alive = (1 - np.exp(-p * expected_orders)) / p
            months = np.clip(tl.month_of(np.array([t, end])), 0, len(ms) - 1)
            value = orders.mean_value[rows] * price[seg[rows], months[0]:months[1] + 1].mean(axis=1)
            inside = (orders.time >= t) & (orders.time < end)
            for prefix, chance in (("", alive.astype(np.float64)), ("btyd_", p_alive)):
                columns[f"{prefix}expected_orders_{h}d"] = chance * if_alive
                columns[f"{prefix}expected_revenue_{h}d"] = chance * if_alive * value
                columns[f"{prefix}p_no_order_{h}d"] = 1 - chance * (1 - np.exp(-expected_orders))
            columns[f"orders_{h}d"] = np.bincount(orders.account[inside], minlength=pop.size)[rows]
            columns[f"revenue_{h}d"] = np.bincount(orders.account[inside], weights=orders.amount[inside],
                                                   minlength=pop.size)[rows]
            columns[f"open_{h}d"] = np.full(len(rows), end > tl.end_s)
        parts.append(columns)
    if not parts:
        return pa.table({"account_id": pa.array([], pa.string())})
    merged = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    table = {"account_id": take(pop.account_id, merged["account"]), "as_of": timestamps(merged["as_of"]),
             "alive": pa.array(merged["alive"], pa.bool_()), "p_alive": floats(merged["p_alive"], 6),
             "repeat_orders": pa.array(merged["repeat_orders"], pa.int64())}
    for h in HORIZONS:
        open_ = merged[f"open_{h}d"]
        for prefix in ("", "btyd_"):
            table[f"{prefix}expected_orders_{h}d"] = floats(merged[f"{prefix}expected_orders_{h}d"], 4)
            table[f"{prefix}expected_revenue_{h}d"] = floats(merged[f"{prefix}expected_revenue_{h}d"], 2)
            table[f"{prefix}p_no_order_{h}d"] = floats(merged[f"{prefix}p_no_order_{h}d"], 6)
        table[f"orders_{h}d"] = pa.array(merged[f"orders_{h}d"], pa.int64(), mask=open_)
        table[f"revenue_{h}d"] = pa.array(np.round(merged[f"revenue_{h}d"], 2), pa.float64(), mask=open_)
    return pa.table(table)
