"""Raw records -> tables: every record of a batch is read as if it were sent alone (issue 13, item 1), and records
are canonicalised by the loader's own code (item 2)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from factories import T, tiny_dataset
from hypothesis import HealthCheck, given, settings
from record_batches import conflicting_batches

from b2bscore.errors import DataError
from b2bscore.features import build_features
from b2bscore.records import RECORD_CAPS, api_records, caller_ids, records_to_dataset

AS_OF = T("2024-04-01")
KEYS = ["lead_id", "account_id", "as_of"]


def _pool() -> tuple[list[dict], list[dict]]:
    """Lead records (L1, L2 at A1; L3 at A2) and account records (A1-A3) of the tiny world."""
    data = tiny_dataset()
    leads = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "account_id": ["A1", "A1", "A2"], "as_of": AS_OF})
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"], "as_of": AS_OF})
    return api_records(data, leads), api_records(data, accounts)


LEADS, ACCOUNTS = _pool()


def _features(records: list[dict], entity: str) -> pd.DataFrame:
    data, entities = records_to_dataset(records)
    key = "lead_id" if entity == "lead" else "account_id"
    features = build_features(data, entities[[key, "as_of"]], entity=entity)
    return features.drop(columns=[c for c in KEYS if c in features.columns])


def _assert_each_as_if_alone(records: list[dict], entity: str) -> None:
    together = _features(records, entity)
    assert len(together) == len(records)
    for position, record in enumerate(records):
        alone = _features([record], entity).iloc[0]
        pd.testing.assert_series_equal(together.iloc[position], alone, check_names=False,
                                       obj=f"record {position} of {len(records)}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=conflicting_batches(LEADS))
def test_each_lead_record_in_a_batch_is_read_as_if_sent_alone(records):
    _assert_each_as_if_alone(records, "lead")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=conflicting_batches(ACCOUNTS))
def test_each_account_record_in_a_batch_is_read_as_if_sent_alone(records):
    _assert_each_as_if_alone(records, "account")


def test_the_issue_example_two_records_of_one_account_with_different_data():
    """The report: L1 alone and L1 beside a record of the same account_id carrying other data."""
    other = copy.deepcopy(LEADS[2])  # L3's record, relabelled as account A1
    other["account"]["account_id"] = other["lead"]["account_id"] = "A1"
    _assert_each_as_if_alone([LEADS[0], other], "lead")


def test_duplicate_lead_ids_keep_their_own_account():
    first, second = copy.deepcopy(LEADS[0]), copy.deepcopy(LEADS[2])
    second["lead"]["lead_id"] = first["lead"]["lead_id"]
    data, entities = records_to_dataset([first, second])
    features = build_features(data, entities[["lead_id", "as_of"]], entity="lead")
    owners = dict(zip(features["account_id"], entities["account_id"]))
    assert len(features) == 2 and features["account_id"].nunique() == 2 and len(owners) == 2


def test_records_are_canonicalised_like_a_data_directory():
    """Raw spellings become the loader's canonical values (the same code: data.canonical)."""
    record = copy.deepcopy(LEADS[0])
    record["account"].update(industry=" Financial Services ", region="North America", ownership="Private")
    record["intent"] = [{"week_start": "2024-03-18T00:00:00", "topic": "Data Integration", "score": 81}]
    record["activities"] = [{"occurred_at": "2024-03-30T10:00:00", "activity_type": "Pricing-Page View"}]
    data, _ = records_to_dataset([record])
    account = data.accounts.iloc[0]
    assert (account["industry"], account["region"], account["ownership"]) == ("financial_services", "north_america",
                                                                               "private")
    assert data.intent["topic"].tolist() == ["data_integration"]
    assert data.activities["activity_type"].tolist() == ["pricing_page_view"]


@pytest.mark.parametrize("field, value, needle", [
    ("employees", True, "accounts.employees"),
    ("employees", "many", "accounts.employees"),
    ("annual_revenue", float("inf"), "accounts.annual_revenue"),
    ("annual_revenue", 1e308, "accounts.annual_revenue"),
    ("employees", 2**63, "accounts.employees"),
    ("region", "atlantis", "accounts.region"),
])
def test_records_refuse_what_a_data_directory_refuses(field, value, needle):
    """The registered model reads records without the service's schema: the contract's checks still apply."""
    record = copy.deepcopy(ACCOUNTS[0])
    record["account"][field] = value
    with pytest.raises(DataError, match=needle):
        records_to_dataset([record])


def test_features_carry_the_callers_ids_in_record_order():
    """Inside the Dataset each record has its own ids; caller_ids gives the outputs back the ones sent."""
    records = [LEADS[2], LEADS[0], copy.deepcopy(LEADS[0])]
    data, entities = records_to_dataset(records)
    assert entities["lead_id"].nunique() == 3 and data.accounts["account_id"].nunique() == 3
    features = caller_ids(build_features(data, entities[["lead_id", "as_of"]], entity="lead"))
    assert features["lead_id"].tolist() == ["L3", "L1", "L1"]
    assert features["account_id"].tolist() == ["A2", "A1", "A1"]


def test_a_number_as_text_in_one_record_and_as_a_number_in_another_are_both_read():
    first, second = copy.deepcopy(ACCOUNTS[1]), copy.deepcopy(ACCOUNTS[1])
    second["revenue"][0]["amount"] = str(second["revenue"][0]["amount"])
    second["account"]["employees"] = str(second["account"]["employees"])
    data, _ = records_to_dataset([first, second])
    assert data.accounts["employees"].tolist() == [12000.0, 12000.0]
    assert data.revenue["amount"].notna().all() and len(data.revenue) == 2 * len(first["revenue"])


def test_a_year_after_the_records_as_of_is_refused():
    record = copy.deepcopy(ACCOUNTS[0])
    record["account"]["founded_year"] = 2024  # the as-of year: fine
    records_to_dataset([record])
    record["account"]["founded_year"] = 2025
    with pytest.raises(DataError, match="accounts.founded_year"):
        records_to_dataset([record])


def test_an_event_list_over_its_cap_is_refused():
    record = copy.deepcopy(ACCOUNTS[0])
    record["activities"] = record["activities"][:1] * (RECORD_CAPS["activities"] + 1)
    with pytest.raises(DataError, match="record 0: 'activities' holds 10,001 items"):
        records_to_dataset([record])


def test_an_object_where_a_value_is_expected_is_a_data_error():
    record = copy.deepcopy(ACCOUNTS[0])
    record["account"]["industry"] = {"name": "software"}
    with pytest.raises(DataError, match="accounts"):
        records_to_dataset([record])


def test_the_record_lead_wins_over_its_entry_in_the_buying_committee():
    record = copy.deepcopy(LEADS[0])
    record["leads"] = [{**record["lead"], "buying_role": "user"}]
    data, _ = records_to_dataset([record])
    assert data.leads["buying_role"].tolist() == [record["lead"]["buying_role"]]


def test_repeated_invoices_in_a_record_count_as_a_data_directory_counts_them():
    """Two equal invoices (same day, same amount) are two purchases on both paths (issue 14: unkeyed tables keep
    repeated rows)."""
    record = copy.deepcopy(ACCOUNTS[1])
    assert record["revenue"], "A2 is a customer with invoices"
    record["revenue"] = record["revenue"] + [record["revenue"][-1]]
    data, _ = records_to_dataset([record])
    assert len(data.revenue) == len(record["revenue"])
