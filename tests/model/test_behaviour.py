"""Behavioural checks of the trained champions (Made-With-ML's model tests): invariance, direction and minimum
functionality, on the session's trained world (500 accounts, seed 5) scored through the one scoring path.

Directions are checked on average over many leads and customers: the features declare no monotone constraint yet,
so one lead's score may move against the average where the trees are sparse.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.model.champions import load_champions
from b2bscore.model.pyfunc import ScoringPyfunc
from b2bscore.model.scoring import score
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.records import dataset_to_records


@pytest.fixture(scope="module")
def scored(trained_world):
    data = load_dataset(trained_world.world)[0]
    champions = load_champions(activate(resolve_tracking(trained_world.home)))
    return data, data.end + pd.Timedelta(seconds=1), champions


def _with_activities(data, rows: list[dict]):
    extra = pd.DataFrame(rows, columns=data.activities.columns)
    extra["occurred_at"] = extra["occurred_at"].astype("datetime64[ns]")
    return dataclasses.replace(data, activities=pd.concat([data.activities, extra], ignore_index=True))


def _leads(data, as_of, n=60):
    return data.open_leads(as_of).head(n)


def test_a_lead_scores_the_same_whatever_its_company_is_called_and_in_any_batch_order(scored):
    data, as_of, champions = scored
    pyfunc = ScoringPyfunc()
    pyfunc.model = champions["conversion"].model
    leads = _leads(data, as_of, 8).merge(data.leads[["lead_id", "account_id"]], on="lead_id")
    records = dataset_to_records(data, leads)
    first = pyfunc.predict(None, records).set_index("lead_id")["probability"]
    renamed = records.copy()
    renamed["account"] = [json.dumps({**json.loads(r), "name": "Renamed Ltd"}) for r in renamed["account"]]
    assert (renamed["account"] != records["account"]).all()
    again = pyfunc.predict(None, renamed.iloc[::-1]).set_index("lead_id")["probability"]
    pd.testing.assert_series_equal(first.sort_index(), again.sort_index(), check_exact=True)


def test_more_buying_signals_raise_the_chance_to_buy_on_average(scored):
    data, as_of, champions = scored
    model = champions["conversion"].model
    leads = _leads(data, as_of)
    before, _ = score(model, data, leads)
    owner = data.leads.set_index("lead_id")["account_id"]
    rows = [{"account_id": owner[lead], "lead_id": lead, "occurred_at": as_of - pd.Timedelta(days=day, hours=1),
             "activity_type": kind, "topic": None, "value": None}
            for lead in leads["lead_id"] for day in (1, 2, 3)
            for kind in ("pricing_page_view", "demo_request", "webinar_attended")]
    after, _ = score(model, _with_activities(data, rows), leads)
    change = after["probability"].to_numpy() - before["probability"].to_numpy()
    assert change.mean() > 0.01 and np.median(change) >= 0, (change.mean(), np.median(change))
    assert (change >= 0).mean() >= 0.8, (change >= 0).mean()


def test_a_hot_lead_outscores_a_cold_one(scored):
    """Minimum functionality: the same lead, once with a week of buying signals and once silent for a year."""
    data, as_of, champions = scored
    model = champions["conversion"].model
    leads = _leads(data, as_of, 30)
    owner = data.leads.set_index("lead_id")["account_id"]
    accounts = set(owner[leads["lead_id"]])
    silent = dataclasses.replace(data, activities=data.activities[~data.activities["account_id"].isin(accounts)],
                                 intent=data.intent[~data.intent["account_id"].isin(accounts)])
    hot_rows = [{"account_id": owner[lead], "lead_id": lead, "occurred_at": as_of - pd.Timedelta(days=day, hours=2),
                 "activity_type": kind, "topic": None, "value": None}
                for lead in leads["lead_id"] for day in range(1, 8)
                for kind in ("pricing_page_view", "demo_request", "web_visit", "email_click")]
    cold, _ = score(model, silent, leads)
    hot, _ = score(model, _with_activities(silent, hot_rows), leads)
    assert (hot["probability"].to_numpy() > cold["probability"].to_numpy()).mean() >= 0.9
    assert hot["probability"].mean() > 2 * cold["probability"].mean()


def test_a_customer_who_stops_using_the_product_is_more_likely_to_churn(scored):
    data, as_of, champions = scored
    model = champions["churn"].model
    recent = data.revenue[data.revenue["invoice_at"] >= as_of - pd.Timedelta(days=90)]["account_id"].unique()
    entities = pd.DataFrame({"account_id": recent[:80], "as_of": as_of})
    before, features = score(model, data, entities)
    assert features["product_usage_minutes_30d"].gt(0).mean() > 0.5  # most customers use the product
    quiet = data.activities[~(data.activities["account_id"].isin(entities["account_id"])
                              & (data.activities["activity_type"] == "product_login")
                              & (data.activities["occurred_at"] >= as_of - pd.Timedelta(days=60)))]
    after, _ = score(model, dataclasses.replace(data, activities=quiet), entities)
    change = after["probability"].to_numpy() - before["probability"].to_numpy()
    assert change.mean() > 0 and (change >= 0).mean() >= 0.7, (change.mean(), (change >= 0).mean())
