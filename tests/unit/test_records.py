"""Raw records -> tables: every record of a batch is read as if it were sent alone (issue 13, item 1), and records
are canonicalised by the loader's own code (item 2)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
from factories import T, tiny_dataset
from hypothesis import HealthCheck, given, settings
from record_batches import conflicting_batches

from b2bscore.data.contract import TABLES
from b2bscore.data.load import load_dataset
from b2bscore.errors import DataError
from b2bscore.features import CustomFeatures, FeatureConfig, build_features
from b2bscore.features.config import CustomColumn
from b2bscore.records import RECORD_CAPS, api_records, caller_ids, dataset_to_records, records_to_dataset

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


# -- the customer's own fields (custom) ---------------------------------------------------------------------------

CUSTOM_COLUMNS = (
    CustomColumn(table="accounts", column="partner_code", kind="category", feature="custom_partner_code",
                 categories=("P042", "42")),
    CustomColumn(table="accounts", column="seats", kind="number", feature="custom_seats"),
    CustomColumn(table="accounts", column="partner_since", kind="date", feature="custom_partner_since"),
    CustomColumn(table="leads", column="campaign", kind="category", feature="custom_campaign", categories=("Spring",)),
    CustomColumn(table="leads", column="rating", kind="number", feature="custom_rating"),
    CustomColumn(table="leads", column="lead_id", kind="category", feature="custom_lead_id", categories=("x",)),
)
CUSTOM_CONFIG = FeatureConfig(custom=CustomFeatures(columns=CUSTOM_COLUMNS))
CUSTOM_FEATURES = [c.feature for c in CUSTOM_COLUMNS if c.table == "accounts"] + ["custom_campaign", "custom_rating"]


def _with_custom_columns():
    """The tiny world with extra account and lead columns of every kind, some values missing."""
    data = tiny_dataset()
    accounts = data.accounts.assign(partner_code=["P042", None, "42"], seats=[12.0, np.nan, 0.1234567890123456],
                                    partner_since=[T("2021-03-04"), pd.NaT, T("2019-12-31 13:30")])
    leads = data.leads.assign(campaign=["Spring", None, "autumn"], rating=[3, 5, 1])
    return dataclasses.replace(data, accounts=accounts, leads=leads)


def test_extra_columns_go_into_custom_and_back():
    data = _with_custom_columns()
    entities = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "account_id": ["A1", "A1", "A2"], "as_of": AS_OF})
    records = dataset_to_records(data, entities)
    first = json.loads(records["account"].iloc[0])
    assert first["custom"] == {"partner_code": "P042", "seats": 12.0, "partner_since": "2021-03-04T00:00:00"}
    assert set(first) - {"custom"} == set(TABLES["accounts"].column_names)
    assert json.loads(records["lead"].iloc[2])["custom"] == {"campaign": "autumn", "rating": 1}
    assert all("custom" in lead for lead in json.loads(records["leads"].iloc[0]))  # the buying committee too
    back, keys = records_to_dataset(records)
    for frame, table in ((back.accounts, "accounts"), (back.leads, "leads")):
        extra = [c for c in frame.columns if c not in TABLES[table].column_names]
        assert extra == [c.column for c in CUSTOM_COLUMNS if c.table == table and c.column != "lead_id"]
    rows = back.accounts.set_index("account_id").loc[keys["account_id"]]
    assert rows["partner_code"].tolist() == ["P042", "P042", None]
    assert rows["seats"].tolist() == ["12", "12", None]  # as a CSV cell holds it
    expected = build_features(data, entities[["lead_id", "as_of"]], entity="lead", config=CUSTOM_CONFIG)
    got = build_features(back, keys[["lead_id", "as_of"]], entity="lead", config=CUSTOM_CONFIG)
    pd.testing.assert_frame_equal(got[CUSTOM_FEATURES], expected[CUSTOM_FEATURES])
    assert got["custom_seats"].iloc[0] == 12.0 and got["custom_partner_since"].iloc[0] > 1000


def _csv_features(tmp_path, account_cells: dict, lead_cells: dict) -> pd.Series:
    """L1's custom features when A1 and L1 carry ``account_cells`` / ``lead_cells`` as CSV text."""
    data = tiny_dataset()
    for name in data.available:
        frame = data.table(name).copy()
        cells = {"accounts": account_cells, "leads": lead_cells}.get(name, {})
        for column, value in cells.items():
            frame[column] = [value] + [""] * (len(frame) - 1)
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    loaded = load_dataset(tmp_path, now=pd.Timestamp("2025-01-01"))[0]
    entities = pd.DataFrame({"lead_id": ["L1"], "as_of": [AS_OF]})
    return build_features(loaded, entities, entity="lead", config=CUSTOM_CONFIG).iloc[0]


@pytest.mark.parametrize("sent, cell", [(12, "12"), (12.0, "12"), (0.1234567890123456, "0.1234567890123456"),
                                        (42, "42"), (1e20, "1e20"), (-3.5, "-3.5"), ("NULL", "NULL"), (None, "")])
def test_a_json_number_reads_as_the_same_value_in_a_csv_file(tmp_path, sent, cell):
    """seats (a number) and partner_code (a category, '42' kept) from a record and from a CSV cell."""
    from_file = _csv_features(tmp_path, {"seats": cell, "partner_code": cell}, {"rating": cell})
    record = copy.deepcopy(LEADS[0])
    record["account"]["custom"] = {"seats": sent, "partner_code": sent}
    record["lead"]["custom"] = {"rating": sent}
    data, entities = records_to_dataset([record])
    from_record = build_features(data, entities[["lead_id", "as_of"]], entity="lead", config=CUSTOM_CONFIG).iloc[0]
    columns = ["custom_seats", "custom_partner_code", "custom_rating"]
    pd.testing.assert_series_equal(from_record[columns], from_file[columns], check_names=False)


def test_a_record_without_a_custom_field_has_it_unknown_and_others_keep_theirs():
    with_code, without = copy.deepcopy(LEADS[0]), copy.deepcopy(LEADS[0])
    with_code["account"]["custom"] = {"partner_code": "P042"}
    without["lead"]["custom"] = {"campaign": "Spring"}
    together = _features_with([with_code, without])
    assert together["custom_partner_code"].tolist() == ["P042", None]
    assert together["custom_campaign"].tolist() == [None, "Spring"]
    for position, record in enumerate([with_code, without]):
        pd.testing.assert_series_equal(together.iloc[position], _features_with([record]).iloc[0], check_names=False)


def _features_with(records: list[dict]) -> pd.DataFrame:
    data, entities = records_to_dataset(records)
    return caller_ids(build_features(data, entities[["lead_id", "as_of"]], entity="lead", config=CUSTOM_CONFIG))


def test_a_customer_field_named_like_an_id_column_keeps_its_value():
    """A lead's own column 'lead_id' is not the contract's id: it is not made the record's own."""
    record = copy.deepcopy(LEADS[0])
    record["account"]["custom"] = {"lead_id": "x"}
    record["lead"]["custom"] = {"lead_id": "x"}
    with pytest.raises(DataError, match=r"record 0: lead.custom.lead_id is a field of the data contract's leads"):
        records_to_dataset([record])
    del record["lead"]["custom"]
    data, _ = records_to_dataset([record])
    assert data.accounts["lead_id"].tolist() == ["x"]


@pytest.mark.parametrize("part, custom, needle", [
    ("account", {"partner_code": {"id": 1}}, "account.custom.partner_code must be text, a number or null, not an object"),
    ("account", {"partner_code": [1]}, "account.custom.partner_code must be text, a number or null, not a list"),
    ("lead", {"score": float("inf")}, "lead.custom.score must be a finite number"),
    ("lead", {"score": float("nan")}, "lead.custom.score must be a finite number"),
    ("lead", {"score": 10**400}, "lead.custom.score must be a finite number"),
    ("account", {"flag": True}, "account.custom.flag must be text, a number or null, not true/false"),
    ("account", {"note": "x" * 1001}, "account.custom.note holds 1,001 characters"),
    ("account", {"industry": "software"}, "account.custom.industry is a field of the data contract's accounts table"),
    ("account", {f"f{i}": 1 for i in range(101)}, "account.custom holds 101 fields, more than the 100"),
    ("account", "P042", "account.custom must be an object"),
])
def test_bad_custom_fields_are_data_errors_naming_them(part, custom, needle):
    record = copy.deepcopy(LEADS[0])
    record[part]["custom"] = custom
    with pytest.raises(DataError, match=re.escape(f"record 0: {needle}")):
        records_to_dataset([record])


def test_a_field_outside_the_contract_and_custom_is_refused_not_dropped():
    record = copy.deepcopy(LEADS[0])
    record["account"]["partner_code"] = "P042"
    with pytest.raises(DataError, match=r"record 0: account.partner_code is not a field .* in account.custom"):
        records_to_dataset([record])
    record = copy.deepcopy(LEADS[0])
    record["leads"] = [{**record["lead"], "campaign": "Spring"}]
    with pytest.raises(DataError, match=r"record 0: leads\[0\].campaign is not a field"):
        records_to_dataset([record])
