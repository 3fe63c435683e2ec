"""Campaigns, spend and the truth of each campaign's incremental revenue, drawn on top of a finished world.

Everything here comes from its own random stream (``default_rng([seed, CAMPAIGN_STREAM])``) after the world is
drawn, and only adds: the ``campaigns`` and ``spend`` tables, a ``campaign_id`` on leads and activities, and
``truth/campaigns.parquet``. Every other value of every table is the same as without campaigns.

The process:

* Every quarter each **lead channel** the world simulates (``LEAD_CHANNELS``: the lead sources a marketer pays for;
  organic and referral leads come without a campaign) runs one campaign, and two **engagement** campaigns run
  beside them: an email nurture (email opens and clicks of known leads) and a webinar series (webinar attendance).
* A lead of a lead channel is created by that channel's campaign of its quarter (its touch), except for the
  ``UNTRACKED`` share whose tracking was lost. Email, webinar and some content-download events of the quarter are
  touches of the engagement and content campaigns.
* A campaign's cost is a unit cost per touch (``UNIT_COST``) times its touches, times a log-normal error of plan.
  ``spend`` holds the sales team's monthly cost (``sales``), the organic content team's (``organic``) and an agency
  fee per events campaign (by ``campaign_id``).
* The truth: in this world a lead's conversion is decided when the lead is created, so only the campaign that
  created a lead can have caused its deal, and engagement campaigns cause none (they touch buyers who were in market
  anyway). Each lead campaign has an ``organic_share``, the chance that a lead it created would have come anyway
  (brand search mostly would; outbound mostly would not). Its **incremental revenue** is the amount of the won deals
  of the leads it created times ``1 - organic_share``; last-touch, first-touch and linear attribution see touches,
  not this, which is what ``benchmarks/attribution.py`` measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from b2bscore.synth.behaviour import ACTIVITY_NAMES
from b2bscore.synth.firmographics import Population
from b2bscore.synth.funnel import Funnel
from b2bscore.synth.params import SOURCES
from b2bscore.synth.timeline import Timeline
from b2bscore.synth.write import contract_table, floats, take, timestamps

CAMPAIGN_STREAM = 0x63616D70  # "camp": entropy added to the world's seed for the campaigns' own draws
LEAD_CHANNELS: tuple[str, ...] = ("paid_search", "events", "outbound", "partner", "content_syndication")
ENGAGEMENT_CHANNELS: dict[str, tuple[str, ...]] = {"email": ("email_open", "email_click"),
                                                   "webinar": ("webinar_attended",)}
CHANNELS: tuple[str, ...] = LEAD_CHANNELS + tuple(ENGAGEMENT_CHANNELS)
UNIT_COST: dict[str, float] = {"paid_search": 400.0, "events": 2500.0, "outbound": 1200.0, "partner": 800.0,
                               "content_syndication": 350.0, "email": 3.0, "webinar": 150.0}
"""Cost per touch of each channel's campaigns (per lead created; per email event; per attendee)."""
ORGANIC_SHARE: dict[str, float] = {"paid_search": 0.55, "events": 0.3, "outbound": 0.15, "partner": 0.45,
                                   "content_syndication": 0.35, "email": 1.0, "webinar": 1.0}
"""Mean chance that a deal of a lead the channel's campaign created would have come anyway (1: no effect)."""
ORGANIC_SD = 0.08
UNTRACKED = 0.15
"""Share of a lead channel's leads whose campaign was not recorded."""
ENGAGEMENT_TRACKED = {"email": 0.9, "webinar": 0.95}
CONTENT_DOWNLOAD_TOUCH = 0.3
"""Share of content downloads that answer the quarter's content-syndication campaign."""
SALES_MONTHLY, SALES_PER_OPPORTUNITY, ORGANIC_MONTHLY, EVENT_AGENCY_SHARE = 25_000.0, 1_500.0, 6_000.0, 0.2
_QUARTER = 3


@dataclass(frozen=True)
class Campaigns:
    """The campaigns' tables and touches: ``lead_campaign`` / ``activity_campaign`` index into the campaigns (-1: none)."""

    campaign_ids: np.ndarray
    lead_campaign: np.ndarray
    activity_campaign: np.ndarray
    campaigns: pa.Table
    spend: pa.Table
    truth: pa.Table


def simulate_campaigns(seed: int, pop: Population, tl: Timeline, funnel: Funnel, acts: dict[str, np.ndarray]) -> Campaigns:
    """Campaigns over the world's quarters, their touches, costs, the spend table and the truth (see the module)."""
    rng = np.random.default_rng([seed, CAMPAIGN_STREAM])
    months = tl.month_starts[tl.month_starts < tl.end_s]
    quarter_starts = months[::_QUARTER]
    quarter_ends = np.append(quarter_starts[1:], tl.end_s)
    n_q = len(quarter_starts)
    channel = np.repeat(np.arange(len(CHANNELS)), n_q)  # campaign c = channel * n_q + quarter
    quarter = np.tile(np.arange(n_q), len(CHANNELS))
    ids = np.char.add("C", np.char.zfill(np.arange(1, len(channel) + 1).astype(str), 4))

    def campaign_of(name: str, when: np.ndarray) -> np.ndarray:
        q = np.clip(np.searchsorted(quarter_starts, when, side="right") - 1, 0, n_q - 1)
        return CHANNELS.index(name) * n_q + q

    lead_campaign = np.full(len(funnel.lead_account), -1, np.int64)
    tracked = rng.random(len(lead_campaign)) >= UNTRACKED
    for name in LEAD_CHANNELS:
        mine = (funnel.lead_source == SOURCES.index(name)) & tracked
        lead_campaign[mine] = campaign_of(name, funnel.lead_created[mine])
    activity_campaign = np.full(len(acts["type"]), -1, np.int64)
    u = rng.random(len(activity_campaign))
    for name, types in ENGAGEMENT_CHANNELS.items():
        mine = np.isin(acts["type"], [ACTIVITY_NAMES.index(t) for t in types]) & (acts["lead"] >= 0)
        mine &= u < ENGAGEMENT_TRACKED[name]
        activity_campaign[mine] = campaign_of(name, acts["time"][mine])
    content = (acts["type"] == ACTIVITY_NAMES.index("content_download")) & (u < CONTENT_DOWNLOAD_TOUCH)
    activity_campaign[content] = campaign_of("content_syndication", acts["time"][content])

    lead_touches = np.bincount(lead_campaign[lead_campaign >= 0], minlength=len(ids))
    activity_touches = np.bincount(activity_campaign[activity_campaign >= 0], minlength=len(ids))
    touches = np.where(channel < len(LEAD_CHANNELS), lead_touches, activity_touches)
    unit = np.array([UNIT_COST[c] for c in CHANNELS])[channel]
    cost = np.maximum(500.0, np.round(unit * touches * np.exp(rng.normal(0.0, 0.35, len(ids))), -2))
    organic = np.clip(np.array([ORGANIC_SHARE[c] for c in CHANNELS])[channel]
                      + rng.normal(0.0, ORGANIC_SD, len(ids)), 0.02, 0.95)
    organic[channel >= len(LEAD_CHANNELS)] = 1.0

    spend = _spend(rng, tl, months, funnel, ids, channel, quarter_starts[quarter], cost)
    campaign_spend = np.zeros(len(ids))
    np.add.at(campaign_spend, spend.pop("campaign_index"), spend["amount_by_campaign"])
    campaigns = contract_table("campaigns", {
        "campaign_id": pa.array(ids.astype(object), pa.string()),
        "name": pa.array([f"{CHANNELS[c].replace('_', ' ')} Q{q + 1}" for c, q in zip(channel, quarter)], pa.string()),
        "channel": take(CHANNELS, channel),
        "started_at": timestamps(quarter_starts[quarter]),
        "ended_at": timestamps(quarter_ends[quarter]),
        "cost": floats(cost, 2),
        "target": pa.array([_target(CHANNELS[c]) for c in channel], pa.string()),
    })
    truth = _truth(ids, channel, organic, lead_campaign, funnel, tl, cost + campaign_spend)
    return Campaigns(campaign_ids=ids, lead_campaign=lead_campaign, activity_campaign=activity_campaign,
                     campaigns=campaigns, spend=spend["table"], truth=truth)


def _target(channel: str) -> str:
    return "known leads in the funnel" if channel in ENGAGEMENT_CHANNELS else "new leads in every segment"


def _spend(rng: np.random.Generator, tl: Timeline, months: np.ndarray, funnel: Funnel, ids: np.ndarray,
           channel: np.ndarray, starts: np.ndarray, cost: np.ndarray) -> dict:
    """Monthly sales and organic spend by channel, and an agency fee per events campaign by campaign id."""
    opened = np.bincount(np.clip(tl.month_of(funnel.opp_created), 0, len(months) - 1), minlength=len(months))
    opened = opened[:len(months)]
    sales = np.round((SALES_MONTHLY + SALES_PER_OPPORTUNITY * opened) * np.exp(rng.normal(0, 0.05, len(months))), 2)
    organic = np.round(ORGANIC_MONTHLY * np.exp(rng.normal(0, 0.1, len(months))), 2)
    events = np.flatnonzero(channel == CHANNELS.index("events"))
    fee = np.round(EVENT_AGENCY_SHARE * cost[events], 2)
    n_m = len(months)
    period = np.concatenate([months, months, starts[events]])
    amount = np.concatenate([sales, organic, fee])
    channel_name = np.concatenate([np.full(n_m, 0), np.full(n_m, 1), np.full(len(events), -1)])
    campaign = np.concatenate([np.full(2 * n_m, -1), events])
    order = np.lexsort((campaign, channel_name, period))
    period, amount, channel_name, campaign = period[order], amount[order], channel_name[order], campaign[order]
    table = contract_table("spend", {
        "period_start": timestamps(period),
        "channel": take(("sales", "organic"), channel_name),
        "campaign_id": take(ids, campaign),
        "amount": floats(amount, 2),
    })
    return {"table": table, "campaign_index": campaign[campaign >= 0], "amount_by_campaign": amount[campaign >= 0]}


def _truth(ids: np.ndarray, channel: np.ndarray, organic: np.ndarray, lead_campaign: np.ndarray, funnel: Funnel,
           tl: Timeline, total_cost: np.ndarray) -> pa.Table:
    """Per campaign: the won deals (closed before the end) of the leads it created, their amount, and the part of it
    that would not have come without the campaign."""
    won = funnel.opp_won & (funnel.opp_closed < tl.end_s)
    campaign = lead_campaign[funnel.opp_lead[won]]
    amount = funnel.opp_amount[won]
    caused = np.bincount(campaign[campaign >= 0], minlength=len(ids))
    revenue = np.bincount(campaign[campaign >= 0], weights=amount[campaign >= 0], minlength=len(ids))
    incremental = revenue * (1.0 - organic)
    return pa.table({
        "campaign_id": pa.array(ids.astype(object), pa.string()),
        "channel": take(CHANNELS, channel),
        "organic_share": floats(organic, 4),
        "caused_deals": pa.array(caused, pa.int64()),
        "caused_revenue": floats(revenue, 2),
        "incremental_revenue": floats(incremental, 2),
        "total_cost": floats(total_cost, 2),
        "true_roi": floats((incremental - total_cost) / total_cost, 4),
    })
