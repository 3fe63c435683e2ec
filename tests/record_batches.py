"""A hypothesis strategy for request batches whose records contradict each other (issue 13, item 1): records that
share an account_id or a lead_id while carrying different data. Shared by the unit and integration tests."""

from __future__ import annotations

import copy

import pandas as pd
from hypothesis import strategies as st


def _more_activities(record: dict) -> list[dict]:
    """Two pricing-page views by the record's lead in the last days before its as-of."""
    as_of = pd.Timestamp(record["as_of"])
    lead_id = (record.get("lead") or {}).get("lead_id")
    return [{"occurred_at": (as_of - pd.Timedelta(days=days, hours=1)).isoformat(),
             "activity_type": "pricing_page_view",
             **({"lead_id": lead_id} if lead_id else {})} for days in (1, 2)]


@st.composite
def conflicting_batches(draw, pool: list[dict], max_size: int = 5) -> list[dict]:
    """1 to ``max_size`` records drawn from ``pool`` (API records, e.g. from ``b2bscore.records.api_records``), some
    relabelled with another record's account_id or lead_id, some with more or no activities or other firmographics."""
    out = []
    for _ in range(draw(st.integers(1, max_size))):
        record = copy.deepcopy(pool[draw(st.integers(0, len(pool) - 1))])
        account_from = draw(st.none() | st.integers(0, len(pool) - 1))
        if account_from is not None:
            record["account"]["account_id"] = pool[account_from]["account"]["account_id"]
            if record.get("lead"):
                record["lead"]["account_id"] = record["account"]["account_id"]
        lead_from = draw(st.none() | st.integers(0, len(pool) - 1))
        if lead_from is not None and record.get("lead") and pool[lead_from].get("lead"):
            record["lead"]["lead_id"] = pool[lead_from]["lead"]["lead_id"]
        activities = draw(st.sampled_from(["same", "none", "more"]))
        if activities == "none":
            record["activities"] = []
        elif activities == "more":
            record["activities"] = record.get("activities", []) + _more_activities(record)
        employees = draw(st.none() | st.sampled_from([5, 450, 30_000]))
        if employees is not None:
            record["account"]["employees"] = employees
        out.append(record)
    return out
