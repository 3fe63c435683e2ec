"""The service's request schema (issue 13): canonical spellings as a data directory has them (item 2), finite and
plausible numbers with the contract's bounds (items 3, 4), a documented cap on every event list (item 5)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import T, tiny_dataset
from pydantic import ValidationError

from b2bscore.data.canonical import normalise_categories
from b2bscore.data.contract import TABLES
from b2bscore.data.load import validate_data
from b2bscore.features import build_features
from b2bscore.records import api_records, records_to_dataset
from b2bscore.serving.schemas import (
    Account,
    AccountRecord,
    Activity,
    IntentSignal,
    Invoice,
    LeadRecord,
    Opportunity,
)

AS_OF = T("2024-04-01")
ROW_MODELS = {"accounts": Account, "activities": Activity, "intent": IntentSignal, "opportunities": Opportunity,
              "revenue": Invoice}
EVENT_LISTS = ("technographics", "activities", "intent", "opportunities", "revenue", "leads")


def _records() -> tuple[dict, dict]:
    """L1's record and A2's (a customer with invoices and a won deal), as the API takes them."""
    data = tiny_dataset()
    lead = api_records(data, pd.DataFrame({"lead_id": ["L1"], "account_id": ["A1"], "as_of": [AS_OF]}))[0]
    account = api_records(data, pd.DataFrame({"account_id": ["A2"], "as_of": [AS_OF]}))[0]
    return lead, account


LEAD, CUSTOMER = _records()


def _with_raw(record: dict, path: tuple, raw: str) -> str:
    """``record`` as JSON text with the value at ``path`` replaced by the raw JSON text ``raw`` (Infinity, 1e400...)."""
    record = copy.deepcopy(record)
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = "__RAW__"
    return json.dumps(record).replace('"__RAW__"', raw)


@pytest.mark.parametrize("path, raw", [
    (("account", "annual_revenue"), "Infinity"),
    (("account", "annual_revenue"), "-Infinity"),
    (("account", "annual_revenue"), "NaN"),
    (("account", "annual_revenue"), "1e400"),
    (("account", "annual_revenue"), "1e308"),
    (("account", "employees"), "1" * 401),
    (("account", "employees"), str(2**63)),
    (("account", "employees"), "true"),
    (("account", "annual_revenue"), "false"),
    (("account", "founded_year"), "3000"),
    (("account", "founded_year"), "1200"),
    (("revenue", 0, "amount"), "Infinity"),
    (("revenue", 0, "amount"), "1e300"),
    (("opportunities", 0, "amount"), "1e308"),
    (("intent", 0, "score"), "1e400"),
    (("activities", 0, "value"), "NaN"),
    (("activities", 0, "value"), "true"),
])
def test_numbers_must_be_finite_plausible_and_not_booleans(path, raw):
    record = CUSTOMER if path[0] in ("revenue", "opportunities", "intent") else LEAD
    model = AccountRecord if record is CUSTOMER else LeadRecord
    plain = "2000" if path[-1] == "founded_year" else "1"
    model.model_validate_json(_with_raw(record, path, plain))  # the same record with a plain number is valid
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(_with_raw(record, path, raw))
    assert path[-1] in str(refused.value), str(refused.value)


def _bounds(model, column: str) -> dict:
    prop = model.model_json_schema()["properties"][column]
    numeric = next(p for p in prop.get("anyOf", [prop]) if p.get("type") in ("integer", "number"))
    return {k: numeric.get(k) for k in ("minimum", "maximum")}


@pytest.mark.parametrize("table, column", [(t, c.name) for t, spec in TABLES.items() if t in ROW_MODELS
                                           for c in spec.columns if c.kind in ("int", "float")])
def test_every_number_has_the_contracts_finite_bounds_in_the_schema(table, column):
    """Declared once, in the contract: the schema publishes the same bounds (years: up to the as-of year)."""
    spec = TABLES[table].column(column)
    low = spec.min_value if spec.min_value is not None else (0 if spec.nonnegative else None)
    assert low is not None, f"{table}.{column} has no lower bound in the contract"
    assert spec.max_value is not None or column.endswith("_year"), f"{table}.{column} has no upper bound"
    assert np.isfinite(spec.max_value if spec.max_value is not None else 0)
    assert _bounds(ROW_MODELS[table], column) == {"minimum": low, "maximum": spec.max_value}


def _write(directory: Path, table: str, column: str, value: object) -> Path:
    data = tiny_dataset()
    for name in data.available:
        frame = data.table(name).copy()
        if name == table:
            frame[column] = frame[column].astype(object)
            frame.loc[0, column] = value
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


@pytest.mark.parametrize("table, column, value", [
    ("accounts", "employees", 2**63),
    ("accounts", "employees", "inf"),
    ("accounts", "annual_revenue", "1e308"),
    ("revenue", "amount", "inf"),
    ("opportunities", "amount", "1e300"),
    ("activities", "value", "1e300"),
])
def test_validate_refuses_what_the_schema_refuses(tmp_path, table, column, value):
    report = validate_data(_write(tmp_path, table, column, value), now=pd.Timestamp("2025-01-01"))
    assert [(i.table, i.column, i.problem) for i in report.issues if i.severity == "error"] == [
        (table, column, "out_of_range")], report.render()


def test_raw_spellings_are_canonicalised_as_a_data_directory_has_them():
    """The schema validates canonical values: the loader's normalisation runs first (data.canonical)."""
    record = copy.deepcopy(LEAD)
    record["account"].update(industry=" Financial Services ", region="North America", ownership="PRIVATE")
    record["activities"][0]["activity_type"] = "Pricing Page View"
    record["intent"] = [{"week_start": "2024-03-18T00:00:00", "topic": "data integration", "score": 81}]
    record["lead"]["buying_role"] = "Decider"
    parsed = LeadRecord.model_validate(record)
    raw = ["Financial Services", "North America", "PRIVATE", "Pricing Page View", "data integration", "Decider"]
    expected = list(normalise_categories(np.array(raw, dtype=object)))
    assert [parsed.account.industry, parsed.account.region, parsed.account.ownership,
            parsed.activities[0].activity_type, parsed.intent[0].topic, parsed.lead.buying_role] == expected
    assert expected[3:5] == ["pricing_page_view", "data_integration"]
    record["activities"][0]["activity_type"] = "Telepathy"  # an unknown type is still refused, canonical or not
    with pytest.raises(ValidationError, match="activity_type"):
        LeadRecord.model_validate(record)


def test_timestamps_with_a_zone_are_compared_in_utc():
    """2024-03-31T23:30-01:00 is 00:30 UTC on the as-of day: after as_of, so refused (the loader converts to UTC)."""
    record = copy.deepcopy(LEAD)
    record["as_of"] = "2024-04-01T02:00:00+02:00"
    assert LeadRecord.model_validate(record).as_of == AS_OF.to_pydatetime()
    record["activities"].append({"occurred_at": "2024-03-31T23:30:00-01:00", "activity_type": "web_visit"})
    with pytest.raises(ValidationError, match="occurred_at"):
        LeadRecord.model_validate(record)


@pytest.mark.parametrize("field", EVENT_LISTS)
def test_every_event_list_has_a_documented_cap(field):
    schema = LeadRecord.model_json_schema()["properties"][field]
    cap = schema.get("maxItems")
    assert cap is not None and cap <= 10_000, (field, schema)
    assert str(cap) in schema["description"] or f"{cap:,}" in schema["description"]
    record = copy.deepcopy(LEAD)
    item = {"technographics": {"technology": "aws", "category": "cloud", "first_seen_at": "2022-01-01T00:00:00"},
            "activities": {"occurred_at": "2024-03-01T00:00:00", "activity_type": "web_visit"},
            "intent": {"week_start": "2024-03-04T00:00:00", "topic": "crm", "score": 10},
            "opportunities": {"opportunity_id": "O", "created_at": "2024-01-01T00:00:00", "stage": "open"},
            "revenue": {"invoice_at": "2024-01-01T00:00:00", "amount": 10},
            "leads": {"lead_id": "L", "created_at": "2024-01-01T00:00:00"}}[field]
    record[field] = [item] * cap
    LeadRecord.model_validate(record)
    record[field] = [item] * (cap + 1)
    with pytest.raises(ValidationError, match=field):
        LeadRecord.model_validate(record)


@pytest.mark.parametrize("field, value", [("as_of", "0001-01-01T00:00:00+01:00"),
                                          ("occurred_at", "0001-01-01T00:00:00+01:00")])
def test_a_zoned_time_before_year_1_in_utc_is_a_validation_error_naming_it(field, value):
    """Converting it to UTC overflows: a 400 naming the field, not an OverflowError (a 500)."""
    record = copy.deepcopy(LEAD)
    if field == "as_of":
        record["as_of"] = value
    else:
        record["activities"][0][field] = value
    with pytest.raises(ValidationError, match=field):
        LeadRecord.model_validate(record)


@pytest.mark.parametrize("value, accepted", [(240.0, 240), (240, 240), (240.5, None), ("240", None), (True, None)])
def test_whole_numbers_written_as_floats_are_read_as_integers(value, accepted):
    """Many exports write integers as 240.0: it is 240; a fraction, text or a boolean is refused, naming the field."""
    record = copy.deepcopy(LEAD)
    record["account"]["employees"] = value
    if accepted is None:
        with pytest.raises(ValidationError, match="employees"):
            LeadRecord.model_validate_json(json.dumps(record))
    else:
        assert LeadRecord.model_validate_json(json.dumps(record)).account.employees == accepted


MINIMAL_LEAD = {"as_of": "2024-04-01T00:00:00", "account": {"account_id": "A1"},
                "lead": {"lead_id": "L1", "created_at": "2024-03-01T00:00:00"},
                "opportunities": [{"opportunity_id": "O1", "created_at": "2024-03-05T00:00:00", "stage": "open"}]}


def test_a_minimal_record_is_accepted_and_scores_as_a_data_directory_would():
    """Issue 14: an account with only account_id, a lead without source, a deal without amount are valid."""
    parsed = LeadRecord.model_validate_json(json.dumps(MINIMAL_LEAD))
    assert (parsed.account.industry, parsed.lead.source, parsed.opportunities[0].amount) == (None, None, None)
    assert Account.model_json_schema()["required"] == ["account_id"]
    assert Opportunity.model_json_schema()["required"] == ["opportunity_id", "created_at", "stage"]
    dataset, entities = records_to_dataset([parsed.model_dump(mode="json")])
    features = build_features(dataset, entities, entity="lead")
    assert (features["industry"].iloc[0], features["lead_source"].iloc[0]) == ("unknown", "unknown")
    assert features["open_opportunities"].iloc[0] == 1


@pytest.mark.parametrize("account", [{"account_id": "A1", "employees": -1}, {"account_id": "A1", "industry": 7},
                                     {"account_id": "A1", "ownership": "Cooperative"}, {"industry": "software"}])
def test_optional_account_fields_keep_their_rules(account):
    record = {**MINIMAL_LEAD, "account": account}
    with pytest.raises(ValidationError, match="employees|industry|ownership|account_id"):
        LeadRecord.model_validate_json(json.dumps(record))


# -- the customer's own fields ------------------------------------------------------------------------------------

def test_account_and_lead_accept_the_customers_own_fields():
    record = copy.deepcopy(LEAD)
    record["account"]["custom"] = {"partner_code": "P042", "first_contact_date": "2021-03-04", "seats": 12,
                                   "discount": 0.25, "region_code": None}
    record["lead"]["custom"] = {"campaign": "Spring Promo"}
    record["leads"] = [{"lead_id": "L9", "created_at": "2024-01-01T00:00:00", "custom": {"campaign": "x"}}]
    parsed = LeadRecord.model_validate_json(json.dumps(record))
    assert parsed.account.custom == record["account"]["custom"] and parsed.lead.custom == {"campaign": "Spring Promo"}
    data, _ = records_to_dataset([parsed.model_dump(mode="json")])
    assert data.accounts[["partner_code", "seats", "discount", "region_code"]].iloc[0].tolist() == [
        "P042", "12", "0.25", None]
    assert data.leads.set_index("lead_id")["campaign"].to_dict() == {"0:L1": "Spring Promo", "0:L9": "x"}
    assert "custom" in Account.model_json_schema()["properties"]
    assert Account.model_json_schema()["required"] == ["account_id"]


@pytest.mark.parametrize("part, raw, needle", [
    ("account", '{"partner_code": {"id": 1}}', "account.custom.partner_code\n  Value error, must be text, a number "
                                               "or null, not an object"),
    ("account", '{"partner_code": ["P1"]}', "account.custom.partner_code\n  Value error, must be text, a number or "
                                            "null, not a list"),
    ("account", '{"seats": Infinity}', "account.custom.seats\n  Value error, must be a finite number"),
    ("account", '{"seats": NaN}', "account.custom.seats\n  Value error, must be a finite number"),
    ("account", '{"seats": 1e400}', "account.custom.seats\n  Value error, must be a finite number"),
    ("lead", '{"seats": ' + "1" * 400 + "}", "lead.custom.seats\n  Value error, must be a finite number"),
    ("lead", '{"is_partner": true}', "lead.custom.is_partner\n  Value error, must be text, a number or null, not "
                                     "true/false"),
    ("lead", json.dumps({"note": "x" * 1001}), "lead.custom.note\n  Value error, holds 1,001 characters"),
    ("account", '{"industry": "software"}', "custom.industry is a field of the data contract's accounts table"),
    ("lead", '{"source": "webinar"}', "custom.source is a field of the data contract's leads table"),
    ("account", json.dumps({f"f{i}": i for i in range(101)}), "custom holds 101 fields, more than the 100 one "
                                                              "account may carry"),
    ("account", '"P042"', "account.custom\n  Input should be an object"),
])
def test_bad_custom_fields_get_an_error_naming_them(part, raw, needle):
    with pytest.raises(ValidationError) as refused:
        LeadRecord.model_validate_json(_with_raw(LEAD, (part, "custom"), raw))
    assert needle in str(refused.value), str(refused.value)


def test_a_misspelt_contract_field_is_still_refused_beside_custom():
    record = copy.deepcopy(LEAD)
    record["account"]["custom"] = {"partner_code": "P042"}
    record["account"]["industy"] = "software"
    with pytest.raises(ValidationError, match=r"account.industy\n  Extra inputs are not permitted"):
        LeadRecord.model_validate(record)
    record["account"].pop("industy")
    record["account"]["custom"] = {f"f{i}": i for i in range(100)}  # the cap itself is accepted
    assert len(LeadRecord.model_validate(record).account.custom) == 100
