"""Validated request records -> scores: what the service runs per request, callable in process too.

The service adds only HTTP (validation errors as 4xx, auth, the prediction log); benchmarks and tests call
these functions directly to compare the HTTP path with in-process scoring of the same records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import pandas as pd

from b2bscore.records import caller_ids, records_to_dataset
from b2bscore.serving.predict import Scorer, score_account_rows, score_lead_rows
from b2bscore.serving.schemas import AccountRecord, LeadRecord


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc_now_aware() -> datetime:
    return datetime.now(timezone.utc)


def _record_dicts(records: Sequence[LeadRecord | AccountRecord], now: datetime, *, with_lead: bool) -> list[dict]:
    out = []
    for record in records:
        as_of = record.as_of or now
        record.check_times(as_of)
        row = record.model_dump(mode="json", exclude={"as_of"})
        row["as_of"] = as_of.isoformat()
        if not with_lead:
            row["lead"] = None
        out.append(row)
    return out


def score_lead_records(scorer: Scorer, leads: Sequence[LeadRecord], *, now: datetime | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, features) of validated lead records, one row each in order, each scored as if sent alone; events at
    or after a record's as-of raise ValueError."""
    data, entities = records_to_dataset(_record_dicts(leads, now or utc_now(), with_lead=True))
    scores, features = score_lead_rows(scorer, data, entities[["lead_id", "as_of"]])
    return caller_ids(scores), caller_ids(features)


def score_account_records(churn: Scorer | None, cltv: Scorer | None, accounts: Sequence[AccountRecord], *,
                          now: datetime | None = None, propensity: Scorer | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, features) of validated account records, one row each in order, each scored as if sent alone."""
    data, entities = records_to_dataset(_record_dicts(accounts, now or utc_now(), with_lead=False))
    scores, features = score_account_rows(churn, cltv, data, entities[["account_id", "as_of"]], propensity=propensity)
    return caller_ids(scores), caller_ids(features)
