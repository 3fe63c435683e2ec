"""Turn the simulated arrays into the contract tables (Arrow, contract column order)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from b2bscore.data.contract import BUYING_ROLES, FUNDING_STAGES, OPPORTUNITY_STAGES, OWNERSHIP, REGIONS
from b2bscore.synth.behaviour import ACTIVITY_NAMES
from b2bscore.synth.firmographics import Population
from b2bscore.synth.funnel import Funnel
from b2bscore.synth.params import INDUSTRIES, SOURCES, TECH_CATEGORY, TECH_ORDER, TOPICS
from b2bscore.synth.orders import Orders
from b2bscore.synth.revenue import Customers
from b2bscore.synth.timeline import Timeline
from b2bscore.synth.write import contract_table, floats, take, timestamps


def lead_ids(n: int) -> np.ndarray:
    return np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), 8))


def accounts_table(pop: Population) -> pa.Table:
    return contract_table("accounts", {
        "account_id": pa.array(pop.account_id.astype(object), pa.string()),
        "name": pa.array(pop.name.astype(object), pa.string()),
        "industry": take(INDUSTRIES, pop.industry),
        "employees": pa.array(pop.employees, pa.int64()),
        "annual_revenue": floats(pop.annual_revenue, 0),
        "country": pa.array(pop.country.astype(object), pa.string()),
        "region": take(REGIONS, pop.region),
        "founded_year": pa.array(pop.founded_year, pa.int64()),
        "ownership": take(OWNERSHIP, pop.ownership),
        "funding_stage": take(FUNDING_STAGES, pop.funding_stage),
    })


def technographics_table(pop: Population, tech: dict[str, np.ndarray]) -> pa.Table:
    return contract_table("technographics", {
        "account_id": take(pop.account_id, tech["account"]),
        "technology": take(TECH_ORDER, tech["tech"]),
        "category": take([TECH_CATEGORY[t] for t in TECH_ORDER], tech["tech"]),
        "first_seen_at": timestamps(tech["first_seen"]),
        "last_seen_at": timestamps(np.maximum(tech["last_seen"], 0), null=tech["last_seen"] < 0),
    })


def _campaign_column(campaign_ids: np.ndarray | None, touch: np.ndarray | None, n: int) -> pa.Array:
    """The ``campaign_id`` of each row (null where ``touch`` is -1, or everywhere without campaigns)."""
    if campaign_ids is None or touch is None:
        return pa.nulls(n, pa.string())
    return take(campaign_ids, touch)


def activities_table(pop: Population, acts: dict[str, np.ndarray], ids: np.ndarray,
                     campaign_ids: np.ndarray | None = None, touch: np.ndarray | None = None) -> pa.Table:
    return contract_table("activities", {
        "account_id": take(pop.account_id, acts["account"]),
        "lead_id": take(ids, acts["lead"]),
        "occurred_at": timestamps(acts["time"]),
        "activity_type": take(ACTIVITY_NAMES, acts["type"]),
        "topic": take(TOPICS, acts["topic"]),
        "value": floats(acts["value"], 1),
        "campaign_id": _campaign_column(campaign_ids, touch, len(acts["account"])),
    })


def intent_table(pop: Population, tl: Timeline, intent: dict[str, np.ndarray]) -> pa.Table:
    return contract_table("intent", {
        "account_id": take(pop.account_id, intent["account"]),
        "week_start": timestamps(tl.week_starts[intent["week"]]),
        "topic": take(TOPICS, intent["topic"]),
        "score": floats(intent["score"], 1),
    })


def leads_table(pop: Population, funnel: Funnel, ids: np.ndarray, campaign_ids: np.ndarray | None = None,
                touch: np.ndarray | None = None) -> pa.Table:
    return contract_table("leads", {
        "lead_id": pa.array(ids.astype(object), pa.string()),
        "account_id": take(pop.account_id, funnel.lead_account),
        "created_at": timestamps(funnel.lead_created),
        "source": take(SOURCES, funnel.lead_source),
        "job_title": pa.array(funnel.lead_title, pa.string()),
        "buying_role": take(BUYING_ROLES, funnel.lead_role),
        "campaign_id": _campaign_column(campaign_ids, touch, len(ids)),
    })


def opportunities_table(pop: Population, tl: Timeline, funnel: Funnel, ids: np.ndarray) -> pa.Table:
    """Deals closing at or after the end are still open: no ``closed_at``, stage ``open``."""
    still_open = funnel.opp_closed >= tl.end_s
    stage = np.where(still_open, OPPORTUNITY_STAGES.index("open"),
                     np.where(funnel.opp_won, OPPORTUNITY_STAGES.index("won"), OPPORTUNITY_STAGES.index("lost")))
    n = len(funnel.opp_lead)
    return contract_table("opportunities", {
        "opportunity_id": pa.array(np.char.add("O", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object),
                                   pa.string()),
        "account_id": take(pop.account_id, funnel.lead_account[funnel.opp_lead]),
        "lead_id": take(ids, funnel.opp_lead),
        "created_at": timestamps(funnel.opp_created),
        "closed_at": timestamps(np.where(still_open, 0, funnel.opp_closed), null=still_open),
        "stage": take(OPPORTUNITY_STAGES, stage),
        "amount": floats(funnel.opp_amount, 2),
    })


def revenue_table(pop: Population, tl: Timeline, customers: Customers, orders: Orders | None = None) -> pa.Table:
    """One invoice per paying subscriber on the first day of each month inside the window, and every order of a
    buyer without a contract inside it; sorted by time, then account."""
    in_window = (tl.month_starts >= tl.start_s) & (tl.month_starts < tl.end_s)
    month, account = np.nonzero((customers.invoice > 0).T & in_window[:, None])
    when, amount = tl.month_starts[month], customers.invoice[account, month]
    if orders is not None and len(orders.time):
        inside = (orders.time >= tl.start_s) & (orders.time < tl.end_s)
        account = np.concatenate([account, orders.account[inside]])
        when = np.concatenate([when, orders.time[inside]])
        amount = np.concatenate([amount, orders.amount[inside]])
        order = np.lexsort((account, when))
        account, when, amount = account[order], when[order], amount[order]
    return contract_table("revenue", {
        "account_id": take(pop.account_id, account),
        "invoice_at": timestamps(when),
        "amount": floats(amount, 2),
    })
