"""What winning customers costs per segment: CAC, campaign ROI and engagement (the KPI table's acquisition columns),
and campaign ROI per campaign x segment (``campaigns.csv``). Pure: frames in, frames out.

Over the KPI window ``[start, as_of)``, with the attribution of ``attribution.py``:

* ``new_customers``: accounts whose first won deal closed in the window. ``acquisition_spend``: the campaign costs
  charged to the segment's accounts (by their touches) plus the segment's share of the spend no account can be
  charged with (``unattributed_split``: its share of the window's touches or of its new customers; by its share of
  accounts when the window has none). ``cac`` = acquisition_spend / new_customers.
* ``campaign_cost``: the campaign costs charged to the segment's accounts; ``campaign_revenue``: the amount of the
  segment's deals won in the window times their campaigns' credit; ``campaign_roi`` = (revenue - cost) / cost;
  ``attributed_deals``: the won deals in the window credited to some campaign (the count behind the ROI). A deal's
  credits sum to 1 under every rule, so a segment's campaign revenue depends on the lookback (which deals have a
  touch), not on the rule; the rule decides *which* campaign earns it: ``campaigns.csv``, per campaign x segment.
* Engagement, from the window's activities: ``email_reach_rate`` (accounts that opened an email / accounts; the
  contract has no sends, so no open rate per email sent), ``email_opens`` and ``email_click_through_rate`` (clicks /
  opens), and content downloads, webinars attended and web visits per account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.segments.attribution import campaign_touches, credit_deals, window_costs
from b2bscore.segments.config import AttributionConfig

ACQUISITION_COLUMNS: tuple[str, ...] = (
    "new_customers", "acquisition_spend", "cac", "campaign_cost", "campaign_revenue", "campaign_roi", "attributed_deals",
    "email_reach_rate", "email_opens", "email_click_through_rate", "content_downloads_per_account",
    "webinars_per_account", "web_visits_per_account",
)
MONEY_COLUMNS: tuple[str, ...] = ("acquisition_spend", "cac", "campaign_cost", "campaign_revenue")
_ENGAGEMENT_TYPES = ("email_open", "email_click", "content_download", "webinar_attended", "web_visit")


@dataclass(frozen=True)
class Acquisition:
    """Per assignment row (``rows`` of the accounts) and per campaign: what the KPIs of any segment sum up.

    ``charges``: (row, campaign_id, touches, cost) of campaign costs charged to accounts; ``credits``: (row, campaign_id,
    credit, revenue) of the window's won deals; ``pool``: spend no account was charged with; ``has_campaigns`` /
    ``has_spend`` / ``has_activities``: which tables there were."""

    new_customer: np.ndarray
    touches: np.ndarray
    engagement: pd.DataFrame
    charges: pd.DataFrame
    credits: pd.DataFrame
    campaign_costs: pd.Series
    campaign_touches: pd.Series
    pool: float
    has_campaigns: bool
    has_spend: bool
    has_activities: bool


def measure_acquisition(assignments: pd.DataFrame, data: Dataset, start: pd.Timestamp, as_of: pd.Timestamp,
                        config: AttributionConfig) -> Acquisition:
    """The per-account and per-campaign figures of the window (``data`` as known before ``as_of``)."""
    ids = pd.Index(assignments["account_id"].to_numpy(dtype=object))
    touches = campaign_touches(data)
    touches = touches[touches["at"] < as_of]
    inside = touches[touches["at"] >= start]
    row_of = ids.get_indexer(inside["account_id"])
    touch_count = np.bincount(row_of[row_of >= 0], minlength=len(ids)).astype(np.float64)

    costs = window_costs(data, start, as_of)
    per_pair = (inside.assign(row=row_of)[row_of >= 0].groupby(["row", "campaign_id"]).size().rename("n").reset_index())
    per_campaign = per_pair.groupby("campaign_id")["n"].sum()
    cost = costs.by_campaign.reindex(per_pair["campaign_id"]).fillna(0.0).to_numpy()
    charges = pd.DataFrame({"row": per_pair["row"].to_numpy(), "campaign_id": per_pair["campaign_id"].to_numpy(),
                            "touches": per_pair["n"].to_numpy(),
                            "cost": cost * per_pair["n"].to_numpy() / per_campaign.reindex(per_pair["campaign_id"]).to_numpy()})
    uncharged = float(costs.by_campaign[~costs.by_campaign.index.isin(per_campaign.index)].sum())

    opportunities = data.table_or_empty("opportunities")
    won = opportunities[(opportunities["stage"] == "won") & opportunities["closed_at"].notna()]
    first_win = won.groupby("account_id")["closed_at"].min()
    new = first_win[(first_win >= start) & (first_win < as_of)].index
    deals = won[(won["closed_at"] >= start) & (won["closed_at"] < as_of)]
    credited = credit_deals(deals, touches, config).merge(
        deals[["opportunity_id", "account_id", "amount"]], on="opportunity_id")
    credits = pd.DataFrame({"row": ids.get_indexer(credited["account_id"]), "opportunity_id": credited["opportunity_id"],
                            "campaign_id": credited["campaign_id"], "credit": credited["credit"],
                            "revenue": credited["credit"] * credited["amount"].fillna(0.0)})
    return Acquisition(
        new_customer=ids.isin(new), touches=touch_count, engagement=_engagement(data, ids, start, as_of),
        charges=charges, credits=credits, campaign_costs=costs.by_campaign, campaign_touches=per_campaign,
        pool=costs.channels + uncharged, has_campaigns=data.campaigns is not None, has_spend=data.spend is not None,
        has_activities=data.activities is not None)


def _engagement(data: Dataset, ids: pd.Index, start: pd.Timestamp, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per account: the window's count of each engagement activity type."""
    activities = data.table_or_empty("activities")
    window = activities[(activities["occurred_at"] >= start) & (activities["occurred_at"] < as_of)
                        & activities["activity_type"].isin(_ENGAGEMENT_TYPES)]
    rows = ids.get_indexer(window["account_id"])
    out = {}
    for kind in _ENGAGEMENT_TYPES:
        mine = (window["activity_type"] == kind).to_numpy() & (rows >= 0)
        out[kind] = np.bincount(rows[mine], minlength=len(ids)).astype(np.float64)
    return pd.DataFrame(out)


def acquisition_kpis(acq: Acquisition, member: np.ndarray, config: AttributionConfig) -> dict[str, float]:
    """The acquisition and engagement columns of one segment (rows ``member`` of the assignments)."""
    rows = np.flatnonzero(member)
    new = int(acq.new_customer[member].sum())
    charged = float(acq.charges.loc[acq.charges["row"].isin(rows), "cost"].sum())
    basis = acq.touches if config.unattributed_split == "touches" else acq.new_customer.astype(np.float64)
    share = _share(basis, member)
    known_spend = acq.has_campaigns or acq.has_spend
    spend = charged + acq.pool * share if known_spend else np.nan
    mine = acq.credits[acq.credits["row"].isin(rows)]
    revenue = float(mine["revenue"].sum())
    cost = charged if acq.has_campaigns else np.nan
    out = {
        "new_customers": new,
        "acquisition_spend": spend,
        "cac": spend / new if known_spend and new > 0 else np.nan,
        "campaign_cost": cost,
        "campaign_revenue": revenue if acq.has_campaigns else np.nan,
        "campaign_roi": (revenue - cost) / cost if acq.has_campaigns and cost > 0 else np.nan,
        "attributed_deals": int(mine["opportunity_id"].nunique()),
    }
    return out | _engagement_kpis(acq, member)


def _share(basis: np.ndarray, member: np.ndarray) -> float:
    """The segment's share of ``basis`` (its share of the accounts when ``basis`` is all zero)."""
    total = float(basis.sum())
    if total > 0:
        return float(basis[member].sum()) / total
    return float(member.sum()) / len(member) if len(member) else 0.0


def _engagement_kpis(acq: Acquisition, member: np.ndarray) -> dict[str, float]:
    n = int(member.sum())
    if not acq.has_activities or n == 0:
        return {"email_reach_rate": np.nan, "email_opens": 0, "email_click_through_rate": np.nan,
                "content_downloads_per_account": np.nan, "webinars_per_account": np.nan,
                "web_visits_per_account": np.nan}
    counts = acq.engagement[member]
    opens = int(counts["email_open"].sum())
    return {
        "email_reach_rate": float((counts["email_open"] > 0).sum()) / n,
        "email_opens": opens,
        "email_click_through_rate": float(counts["email_click"].sum()) / opens if opens else np.nan,
        "content_downloads_per_account": float(counts["content_download"].sum()) / n,
        "webinars_per_account": float(counts["webinar_attended"].sum()) / n,
        "web_visits_per_account": float(counts["web_visit"].sum()) / n,
    }


CAMPAIGN_COLUMNS: tuple[str, ...] = ("kind", "segment", "campaign_id", "campaign", "channel", "touches", "cost",
                                     "credited_deals", "revenue", "roi")


def campaign_kpis(acq: Acquisition, assignments: pd.DataFrame, data: Dataset, kinds: tuple[str, ...]) -> pd.DataFrame:
    """ROI per campaign (kind and segment ``all``: its whole cost in the window) and per campaign x segment (the cost
    charged to the segment's accounts), for every campaign with a cost or a credited deal in the window.
    ``credited_deals`` is the sum of the credits (a deal shared by two campaigns counts half in each, linearly)."""
    campaigns = data.table("campaigns")
    if campaigns is None:
        return pd.DataFrame({c: [] for c in CAMPAIGN_COLUMNS})
    info = campaigns.drop_duplicates("campaign_id").set_index("campaign_id")
    parts = [_per_campaign("all", "all", acq.campaign_costs, acq.campaign_touches, acq.credits)]
    for kind in kinds:
        labels = assignments[kind].astype(str).to_numpy()
        for segment in sorted(set(labels)):
            member = np.flatnonzero(labels == segment)
            charges = acq.charges[acq.charges["row"].isin(member)]
            parts.append(_per_campaign(kind, segment, charges.groupby("campaign_id")["cost"].sum(),
                                       charges.groupby("campaign_id")["touches"].sum(),
                                       acq.credits[acq.credits["row"].isin(member)]))
    frame = pd.concat(parts, ignore_index=True)
    frame["campaign"] = frame["campaign_id"].map(info["name"])
    frame["channel"] = frame["campaign_id"].map(info["channel"])
    return frame[list(CAMPAIGN_COLUMNS)]


def _per_campaign(kind: str, segment: str, cost: pd.Series, touches: pd.Series, credits: pd.DataFrame) -> pd.DataFrame:
    deals = credits.groupby("campaign_id")["credit"].sum()
    revenue = credits.groupby("campaign_id")["revenue"].sum()
    index = cost.index[cost > 0].union(deals.index)
    cost, revenue = cost.reindex(index).fillna(0.0), revenue.reindex(index).fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        roi = np.where(cost > 0, (revenue - cost) / cost.where(cost > 0, 1.0), np.nan)
    return pd.DataFrame({"kind": kind, "segment": segment, "campaign_id": index.to_numpy(dtype=object),
                         "touches": touches.reindex(index).fillna(0).to_numpy(dtype=np.int64),
                         "cost": cost.to_numpy(), "credited_deals": deals.reindex(index).fillna(0.0).to_numpy(),
                         "revenue": revenue.to_numpy(), "roi": roi})
