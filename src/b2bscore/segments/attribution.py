"""Crediting won deals and spend to campaigns and accounts: the inputs of CAC and campaign ROI (pure, frames in).

* A **touch** is a lead with a ``campaign_id`` (at its ``created_at``) or an activity with one (at ``occurred_at``):
  the campaign reached that account then.
* A won deal is credited to campaigns by the declared rule (:class:`AttributionConfig`), from the touches of its
  account strictly before the opportunity was opened and at most ``lookback_days`` before: ``first_touch`` gives
  all the credit to the earliest, ``last_touch`` to the latest, ``linear`` an equal share to each. A deal without
  such a touch is credited to no campaign. Touches at the same moment are ordered by campaign id.
* A campaign's cost is spread evenly over ``[started_at, ended_at)`` (all of it at ``started_at`` without an
  end); spend rows with its ``campaign_id`` add to it at their ``period_start``. The part that falls in the KPI
  window is charged to the accounts the campaign touched in the window, in proportion to their touches; a campaign
  without a touch in the window, and spend by channel (sales, organic), cannot be charged to accounts and are split
  over segments by the rule's ``unattributed_split``.

Only what the caller passes is read: it passes the data as known before the as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.segments.config import AttributionConfig

DAY = pd.Timedelta(days=1)


def campaign_touches(data: Dataset) -> pd.DataFrame:
    """Every touch (``account_id``, ``campaign_id``, ``at``) of the leads and activities that name a campaign."""
    parts = []
    for table, column in (("leads", "created_at"), ("activities", "occurred_at")):
        frame = data.table(table)
        if frame is None or "campaign_id" not in frame.columns:
            continue
        rows = frame[frame["campaign_id"].notna()]
        parts.append(pd.DataFrame({"account_id": rows["account_id"].to_numpy(dtype=object),
                                   "campaign_id": rows["campaign_id"].to_numpy(dtype=object),
                                   "at": rows[column].to_numpy(dtype="datetime64[ns]")}))
    if not parts:
        return pd.DataFrame({"account_id": pd.Series(dtype=object), "campaign_id": pd.Series(dtype=object),
                             "at": pd.Series(dtype="datetime64[ns]")})
    return pd.concat(parts, ignore_index=True)


def credit_deals(deals: pd.DataFrame, touches: pd.DataFrame, config: AttributionConfig) -> pd.DataFrame:
    """The credit (0-1) of each campaign in each deal of ``deals`` (``opportunity_id``, ``account_id``,
    ``created_at``), by ``config.rule``; a deal without a touch in its lookback has no row."""
    columns = {"opportunity_id": object, "campaign_id": object, "credit": np.float64}
    if deals.empty or touches.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    pairs = deals[["opportunity_id", "account_id", "created_at"]].merge(touches, on="account_id")
    lookback = config.lookback_days * DAY
    pairs = pairs[(pairs["at"] < pairs["created_at"]) & (pairs["at"] >= pairs["created_at"] - lookback)]
    pairs = pairs.sort_values(["opportunity_id", "at", "campaign_id"], kind="stable")
    if config.rule == "linear":
        share = 1.0 / pairs.groupby("opportunity_id")["campaign_id"].transform("size")
        credited = pairs.assign(credit=share.to_numpy(dtype=np.float64))
        credited = credited.groupby(["opportunity_id", "campaign_id"], as_index=False)["credit"].sum()
    else:
        keep = "first" if config.rule == "first_touch" else "last"
        credited = pairs.drop_duplicates("opportunity_id", keep=keep).assign(credit=1.0)
    return credited[list(columns)].reset_index(drop=True)


@dataclass(frozen=True)
class WindowCosts:
    """Spend in the KPI window: ``by_campaign`` (campaign id -> cost in the window) and ``channels`` (spend by
    channel, which no account can be charged with)."""

    by_campaign: pd.Series
    channels: float


def window_costs(data: Dataset, start: pd.Timestamp, end: pd.Timestamp) -> WindowCosts:
    """Each campaign's cost falling in ``[start, end)`` (spread over its run, plus its own spend rows), and the spend
    by channel in the window."""
    campaigns = data.table("campaigns")
    by_campaign = pd.Series(dtype=np.float64)
    if campaigns is not None and len(campaigns):
        began = campaigns["started_at"]
        ended = campaigns["ended_at"]
        length = (ended - began) / DAY
        overlap = ((ended.clip(upper=end) - began.clip(lower=start)) / DAY).clip(lower=0)
        running = (length > 0).to_numpy()  # False without an end: a one-off
        spread = (overlap / length.where(running, 1.0)).to_numpy(dtype=np.float64)
        at_start = ((began >= start) & (began < end)).to_numpy()
        share = np.where(running, spread, at_start.astype(np.float64))
        by_campaign = pd.Series(campaigns["cost"].to_numpy(dtype=np.float64) * share,
                                index=campaigns["campaign_id"].to_numpy(dtype=object))
    spend = data.table("spend")
    channels = 0.0
    if spend is not None and len(spend):
        inside = spend[(spend["period_start"] >= start) & (spend["period_start"] < end)]
        own = inside[inside["campaign_id"].notna()].groupby("campaign_id")["amount"].sum()
        by_campaign = by_campaign.add(own, fill_value=0.0)
        channels = float(inside.loc[inside["campaign_id"].isna(), "amount"].sum())
    return WindowCosts(by_campaign=by_campaign, channels=channels)
