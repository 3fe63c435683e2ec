"""The two call lists a rep follows, each ranked on one scale.

* **Prospects** (accounts that never bought): the expected value of winning them, the propensity model's chance to
  win a first deal within 90 days (``p_win``; without a propensity champion, the behaviour-and-intent proxy, said in
  ``chance_source``) times what a customer like them brings in its first year; with the open lead to call (the
  one with the best conversion score) and why.
* **Customers** (paying now): the revenue at risk, churn risk times predicted value, with whether revenue is
  growing (an expansion conversation rather than a rescue).

Former customers are in neither: a win-back is another conversation. Pure: frames in, frames out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.model.scoring import shown_probability

EXPANSION_GROWTH = 0.2
"""Revenue of the last 90 days at least this much above the 90 days before marks an expansion candidate."""


@dataclass(frozen=True)
class CallLists:
    prospects: pd.DataFrame
    customers: pd.DataFrame


def call_lists(assignments: pd.DataFrame, features: pd.DataFrame, names: pd.Series | None = None,
               best_leads: pd.DataFrame | None = None) -> CallLists:
    """Rank the prospects and the customers of ``assignments`` (the segment assignment frame) for calling.

    ``features`` are the accounts' features as of the segmentation (for the revenue trend); ``names`` maps
    ``account_id`` to the company name; ``best_leads`` holds ``account_id``, ``lead_id`` and ``p_convert`` of
    each account's best open lead.
    """
    table = assignments.merge(features[["account_id", "revenue_trend"]], on="account_id", how="left")
    table["company"] = table["account_id"].map(names) if names is not None else None
    if best_leads is not None and len(best_leads):
        leads = best_leads.rename(columns={"lead_id": "lead_to_call", "p_convert": "lead_chance"})
        table = table.merge(leads[["account_id", "lead_to_call", "lead_chance"]], on="account_id", how="left")
    else:
        table["lead_to_call"], table["lead_chance"] = None, np.nan
    return CallLists(prospects=_prospects(table), customers=_customers(table))


def _prospects(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["customer_status"] == "prospect"].copy()
    modelled = rows["p_win"].notna()
    rows["chance_to_win"] = rows["p_win"].where(modelled, rows["propensity"])
    rows["chance_source"] = np.where(modelled, "propensity model", "behaviour and intent proxy")
    rows["first_year_value"] = rows["value"]
    rows["expected_value"] = rows["chance_to_win"] * rows["first_year_value"]
    rows = rows.sort_values(["expected_value", "account_id"], ascending=[False, True], kind="stable")
    rows.insert(0, "rank", np.arange(1, len(rows) + 1))
    columns = ["rank", "account_id", "company", "tier", "chance_to_win", "first_year_value", "expected_value",
               "chance_source", "lead_to_call", "lead_chance", "reasons"]
    return _rounded(rows[columns].reset_index(drop=True))


def _customers(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["customer_status"] == "customer"].copy()
    rows["value_at_risk"] = rows["churn_risk"] * rows["value"]
    growth = np.expm1(rows["revenue_trend"].astype(float))
    rows["expansion"] = np.where(growth >= EXPANSION_GROWTH, "yes", "no")
    rows["revenue_growth"] = growth
    rows = rows.sort_values(["value_at_risk", "account_id"], ascending=[False, True], kind="stable")
    rows.insert(0, "rank", np.arange(1, len(rows) + 1))
    columns = ["rank", "account_id", "company", "tier", "churn_risk", "value", "value_at_risk", "expansion",
               "revenue_growth", "reasons"]
    return _rounded(rows[columns].reset_index(drop=True))


_PROBABILITIES = ("chance_to_win", "lead_chance", "churn_risk")
_SHARES = ("revenue_growth",)  # a growth rate, not a chance: plain 3 decimals
_MONEY = ("first_year_value", "expected_value", "value", "value_at_risk")


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and shares to 3 decimals, money to whole units: what a CRM import expects."""
    for column in frame.columns:
        if column in _PROBABILITIES:
            frame[column] = shown_probability(frame[column])
        elif column in _SHARES:
            frame[column] = frame[column].astype(float).round(3)
        elif column in _MONEY:
            frame[column] = frame[column].astype(float).round(0)
    return frame
