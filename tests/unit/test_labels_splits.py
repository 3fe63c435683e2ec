"""Labels (including censoring) and out-of-time splits on hand-made data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError, MissingTableError
from b2bscore.training.config import ChurnConfig, CltvConfig, ConversionConfig, SplitConfig
from b2bscore.training.labels import churn_labels, cltv_labels, conversion_labels, snapshot_dates
from b2bscore.training.splits import split_out_of_time
from factories import T, tiny_dataset


def _funnel() -> Dataset:
    data = tiny_dataset()
    leads = pd.DataFrame({
        "lead_id": ["L1", "L2", "L3", "L4", "L5"],
        "account_id": ["A1", "A1", "A2", "A3", "A3"],
        "created_at": [T("2024-01-01"), T("2024-01-10"), T("2024-01-05"), T("2024-05-01"), T("2024-02-01")],
        "source": ["events"] * 5, "job_title": [None] * 5, "buying_role": [None] * 5,
    })
    opportunities = pd.DataFrame({
        "opportunity_id": ["O1", "O2", "O3", "O4"],
        "account_id": ["A1", "A2", "A3", "A1"],
        "lead_id": ["L1", "L3", "L5", None],
        "created_at": [T("2024-01-20"), T("2024-01-20"), T("2024-02-10"), T("2024-01-15")],
        "closed_at": [T("2024-03-01"), T("2024-06-01"), T("2024-03-01"), T("2024-02-01")],
        "stage": ["won", "won", "lost", "won"],
        "amount": [1.0, 1.0, 1.0, 1.0],
    })
    activities = data.activities.assign(occurred_at=data.activities["occurred_at"].clip(upper=T("2024-06-15")))
    return dataclasses.replace(data, leads=leads, opportunities=opportunities, activities=activities)


def test_conversion_labels_window_attribution_and_censoring():
    data = _funnel()
    labels = conversion_labels(data, ConversionConfig(horizon_days=90), end=T("2024-06-15"))
    got = labels.rows.set_index("lead_id")["label"].to_dict()
    # L1 won after 60 days; L3 won after 148 days (outside 90); L5 lost; L2 has no own deal;
    # L4 was created 2024-05-01: its window closes after the data ends -> censored, not negative.
    assert got == {"L1": 1, "L2": 0, "L3": 0, "L5": 0}
    assert labels.censored == 1
    assert (labels.rows["as_of"] == labels.rows["lead_id"].map(data.leads.set_index("lead_id")["created_at"])).all()


def test_conversion_account_attribution_counts_the_accounts_deals():
    data = _funnel()
    labels = conversion_labels(data, ConversionConfig(horizon_days=90, attribution="account"), end=T("2024-06-15"))
    got = labels.rows.set_index("lead_id")["label"].to_dict()
    assert got["L2"] == 1  # O1 and O4 of account A1 were created after L2 and won within 90 days
    assert got["L3"] == 0  # A2's only win closed 148 days after L3
    assert got["L5"] == 0  # A3 has no won deal


def test_conversion_needs_its_tables():
    with pytest.raises(MissingTableError, match="opportunities"):
        conversion_labels(Dataset(accounts=tiny_dataset().accounts, leads=tiny_dataset().leads), ConversionConfig())


def _billing(stops: dict[str, str | None]) -> Dataset:
    rows = []
    for account, stop in stops.items():
        for month in pd.date_range("2022-01-01", "2024-12-01", freq="MS"):
            if stop is None or month < T(stop):
                rows.append({"account_id": account, "invoice_at": month, "amount": 100.0})
    return dataclasses.replace(tiny_dataset(), revenue=pd.DataFrame(rows), activities=None, opportunities=None, leads=None,
                               intent=None, technographics=None)


def test_churn_labels_mark_customers_whose_revenue_stops_within_the_horizon():
    data = _billing({"A1": None, "A2": "2023-09-01", "A3": "2022-06-01"})
    labels = churn_labels(data, ChurnConfig(horizon_days=180), lookback_days=90, history_days=90, end=T("2024-12-15"))
    rows = labels.rows.set_index(["account_id", "as_of"])["label"]
    assert rows[("A1", T("2023-01-01"))] == 0
    assert rows[("A2", T("2023-04-01"))] == 1  # last invoice 2023-08-01, within 180 days
    assert rows[("A2", T("2023-01-01"))] == 0  # still paying 180 days later (2023-07-01 .. 09-29 has invoices)
    # invoiced 2023-08-01, inside the 90-day lookback [2023-07-03, 2023-10-01): still a customer, and one that stopped
    assert ("A2", T("2023-10-01")) in rows.index
    assert rows[("A2", T("2023-10-01"))] == 1
    assert ("A2", T("2023-11-01")) not in rows.index  # 2023-08-01 is 92 days before: outside the lookback
    assert ("A2", T("2024-01-01")) not in rows.index  # no longer a customer
    a3 = labels.rows.query("account_id == 'A3'")
    assert a3["as_of"].max() == T("2022-07-01") and (a3["label"] == 1).all()  # last invoice 2022-05-01
    assert labels.rows["as_of"].max() + pd.Timedelta(days=270) <= T("2024-12-15")
    assert labels.censored > 0


def test_churn_with_drop_fraction_counts_a_downgrade():
    rows = [{"account_id": "A1", "invoice_at": m, "amount": 100.0 if m < T("2023-06-01") else 10.0}
            for m in pd.date_range("2022-01-01", "2024-06-01", freq="MS")]
    data = dataclasses.replace(tiny_dataset(), revenue=pd.DataFrame(rows))
    strict = churn_labels(data, ChurnConfig(horizon_days=180), lookback_days=90, history_days=90, end=T("2024-06-15"))
    loose = churn_labels(data, ChurnConfig(horizon_days=180, drop_fraction=0.2), lookback_days=90, history_days=90,
                         end=T("2024-06-15"))
    when = T("2023-03-01")
    assert strict.rows.set_index("as_of").loc[when, "label"] == 0
    assert loose.rows.set_index("as_of").loc[when, "label"] == 1


def test_cltv_label_is_revenue_in_the_next_horizon():
    data = _billing({"A1": None, "A2": "2023-09-01", "A3": "2022-06-01"})
    labels = cltv_labels(data, CltvConfig(horizon_days=365), lookback_days=90, history_days=90, end=T("2024-12-15"))
    rows = labels.rows.set_index(["account_id", "as_of"])["label"]
    assert rows[("A1", T("2023-01-01"))] == 1200.0
    assert rows[("A2", T("2023-01-01"))] == 800.0  # Jan..Aug 2023


def test_snapshot_dates_close_their_windows():
    dates = snapshot_dates(T("2023-01-15"), T("2024-01-01"), every_months=1, reach_days=180)
    assert dates[0] == T("2023-02-01") and (dates + pd.Timedelta(days=180) <= T("2024-01-01")).all()


def test_data_end_is_the_last_event():
    assert tiny_dataset().end == T("2024-05-01")  # A3 adopted hubspot then


def _rows(n_months: int = 12, per_month: int = 10, horizon_days: int = 30) -> pd.DataFrame:
    as_of = np.repeat(pd.date_range("2023-01-01", periods=n_months, freq="MS"), per_month)
    return pd.DataFrame({"as_of": as_of, "label": np.tile([0, 1], len(as_of) // 2),
                         "label_end": as_of + pd.Timedelta(days=horizon_days)})


def test_split_is_out_of_time_and_purged():
    rows = _rows(horizon_days=45)
    split = split_out_of_time(rows, SplitConfig(valid_fraction=0.25, test_fraction=0.25))
    train, valid, test = (rows.iloc[getattr(split, p)] for p in ("train", "valid", "test"))
    assert train["as_of"].max() < valid["as_of"].min() <= valid["as_of"].max() < test["as_of"].min()
    assert (train["label_end"] <= split.valid_start).all()
    assert split.purged == 10  # the last training month's 45-day window reaches the validation period
    unpurged = split_out_of_time(rows, SplitConfig(valid_fraction=0.25, test_fraction=0.25, purge=False))
    assert unpurged.purged == 0 and len(unpurged.train) == len(split.train) + 10


def test_split_refuses_too_short_a_history():
    with pytest.raises(DataError, match="too few as-of times"):
        split_out_of_time(_rows(n_months=1), SplitConfig())
    with pytest.raises(DataError, match="the purge takes too many training rows.*A shorter horizon"):
        split_out_of_time(_rows(n_months=5, horizon_days=400), SplitConfig())


def _sparse_rows(seed: int = 0) -> pd.DataFrame:
    """18 months of leads, 300 a month, 90-day windows, 4% positive: a small CRM's history."""
    rng = np.random.default_rng(seed)
    as_of = pd.to_datetime("2023-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 540, 5400)), unit="D")
    return pd.DataFrame({"as_of": as_of, "label": (rng.random(len(as_of)) < 0.04).astype(int),
                         "label_end": as_of + pd.Timedelta(days=90)})


def test_the_split_is_placed_so_every_part_keeps_enough_positives_after_the_purge():
    """The configured quantiles start the validation period at 60% of the rows; the purge then takes 90 days of
    training rows, leaving the parts far from their configured shares. The test period stays the latest 20%; the
    validation period now starts where train and validation keep about 3:1 of the rows left after purging, and when
    positives are scarce, where each part keeps enough of them."""
    rows = _sparse_rows()
    split = split_out_of_time(rows, SplitConfig(), min_positives=25)
    parts = {name: rows.iloc[getattr(split, name)] for name in ("train", "valid", "test")}
    assert all(int(part["label"].sum()) >= 25 and int((part["label"] == 0).sum()) >= 50 for part in parts.values())
    assert (parts["train"]["label_end"] <= split.valid_start).all()
    assert len(parts["test"]) == 1080  # the test period stays the latest 20% of the rows
    assert abs(len(parts["train"]) / (len(parts["train"]) + len(parts["valid"])) - 0.75) < 0.03
    configured = rows["as_of"].quantile(0.6, interpolation="higher")
    assert split.valid_start > configured  # later than the configured quantile, by about the rows the purge takes
    scarce = split_out_of_time(rows, SplitConfig(), min_positives=50)  # 4% of 20% of the rows is about 40 positives
    for name in ("train", "valid", "test"):
        assert int(rows["label"].iloc[getattr(scarce, name)].sum()) >= 50, name


def test_a_split_without_enough_positives_says_which_cause():
    rows = _sparse_rows()
    with pytest.raises(DataError, match=r"too few positive labels in all"):
        split_out_of_time(rows, SplitConfig(), min_positives=100)  # 216 positives cannot make three parts of 100
    long = rows.assign(label_end=rows["as_of"] + pd.Timedelta(days=300))
    with pytest.raises(DataError, match=r"the purge takes too many training rows.*with 300-day outcome windows"):
        split_out_of_time(long, SplitConfig(), min_positives=50)


def test_leads_whose_window_closed_before_the_first_recorded_win_are_left_out():
    """A CRM that records deals from some date on: before, every earlier lead was labelled negative."""
    data = _funnel()
    late = data.opportunities.assign(created_at=T("2024-04-01"), closed_at=T("2024-04-15"))
    labels = conversion_labels(dataclasses.replace(data, opportunities=late), ConversionConfig(horizon_days=90),
                               end=T("2024-06-15"))
    # the first win closes 2024-04-15: leads whose 90-day window closed before then (L1, L2, L3: created in early
    # January) can only be negative, so they are left out; L5's window (from 2024-02-01) reaches it.
    assert set(labels.rows["lead_id"]) == {"L5"} and labels.uncovered == 3
    assert labels.covered_from == T("2024-04-15")
    on_time = conversion_labels(data, ConversionConfig(horizon_days=90), end=T("2024-06-15"))
    assert on_time.uncovered == 0  # deals recorded from the start: nothing left out
