"""The customer's own fields and activity topics as features: resolution, point-in-time building, reasons."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from factories import T, tiny_dataset
from pydantic import ValidationError

from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.features import CustomFeatures, FeatureConfig, build_features, feature_specs, resolve_custom_features
from b2bscore.features.custom import infer_kind
from b2bscore.features.specs import check_schema
from b2bscore.serving.reasons import ReasonWriter, format_value

AS_OF = T("2024-04-01")
SETTINGS = CustomFeatures(min_count=2)


def customer_dataset() -> Dataset:
    """``tiny_dataset`` with extra columns on accounts and leads, and topics on A1's activities."""
    data = tiny_dataset()
    accounts = data.accounts.assign(
        partner_code=["P1", "P1", "P9"],  # P9 is seen once: grouped as 'other' with min_count=2
        it_budget=["1000", "2500.5", None],  # numbers as text
        signed_on=["2024-03-31", "2024-04-01", "2025-01-01"],  # dates as text
        crm_id=["C-001", "C-002", "C-003"],  # an identifier
        newsletter=["yes", "yes", "yes"],  # constant
    )
    leads = data.leads.assign(landing_page_id=["lp_7f3a", "lp_new", "lp_7f3a"])  # L2 created 03-05
    activities = data.activities.copy()
    # A1: 03-30, 03-31 23:59 and exactly 04-01 00:00 on data integration; 01-15 too; 03-25 on pricing
    activities["topic"] = ["data_integration", "pricing", None, "data_integration", "data_integration", None, None,
                           "data_integration", "security"]
    return dataclasses.replace(data, accounts=accounts, leads=leads, activities=activities)


def resolved(until: pd.Timestamp = AS_OF, **settings) -> FeatureConfig:
    custom = SETTINGS.model_copy(update=settings)
    return resolve_custom_features(customer_dataset(), FeatureConfig(custom=custom), until)


def by_key(frame: pd.DataFrame, key: str = "account_id") -> pd.DataFrame:
    return frame.set_index(key)


# --- resolution ---------------------------------------------------------------------------------------------------

def test_resolution_infers_kinds_and_skips_identifiers_and_constants():
    columns = {c.column: c for c in resolved().custom.columns}
    assert list(columns) == ["partner_code", "it_budget", "signed_on", "landing_page_id"]
    assert [columns[c].kind for c in columns] == ["category", "number", "date", "category"]
    assert columns["partner_code"].categories == ("P1",)
    assert columns["partner_code"].feature == "custom_partner_code" and columns["landing_page_id"].table == "leads"


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([1.0, 2.5, np.nan]), "number"),
        (pd.Series([True, False, True]), "number"),
        (pd.Series([" 12 ", "3.5", None, ""], dtype=object), "number"),
        (pd.Series(pd.to_datetime(["2024-01-01", None])), "date"),
        (pd.Series(["2024-01-05", "03/14/2024", "2023-12-01T10:00:00Z"], dtype=object), "date"),
        (pd.Series(["2024-01-05"] * 19 + ["soon"], dtype=object), "date"),  # 95% parse
        (pd.Series(["2024-01-05"] * 18 + ["soon", "later"], dtype=object), "category"),  # 90%: text
        (pd.Series(["lp_7f3a", "lp_01", "12"], dtype=object), "category"),
        (pd.Series(["may", "june"], dtype=object), "category"),  # words that dateutil would read as dates
        (pd.Series(["1/2", "3/4"], dtype=object), "category"),  # no year: the parser would take this year's
        (pd.Series([None, "  "], dtype=object), None),
    ],
)
def test_kind_is_inferred_from_the_values(values, kind):
    assert infer_kind(values) == kind


def test_include_and_exclude_choose_columns():
    assert [c.column for c in resolved(include=("accounts.partner_code",)).custom.columns] == ["partner_code"]
    assert [c.column for c in resolved(exclude=("accounts.partner_code", "leads.landing_page_id")).custom.columns] == [
        "it_budget", "signed_on"]
    assert resolved(enabled=False).custom.columns == () and resolved(enabled=False).custom.topics == ()


def test_include_of_a_column_the_data_lacks_names_it():
    with pytest.raises(ConfigError, match=r"custom.include names accounts.partner_cod,.*accounts.partner_code"):
        resolved(include=("accounts.partner_cod",))
    with pytest.raises(ValidationError, match="table.column"):
        CustomFeatures(include=("partner_code",))


def test_rare_values_are_grouped_and_only_training_leads_count():
    # lp_new belongs to L2, created 03-05: unknown when resolving until 03-03 (the column then holds lp_7f3a only,
    # a constant), kept when resolving until 04-01
    early = {c.column: c for c in resolved(until=T("2024-03-03"), min_count=1).custom.columns}
    late = {c.column: c for c in resolved(until=AS_OF, min_count=1).custom.columns}
    assert "landing_page_id" not in early
    assert late["landing_page_id"].categories == ("lp_7f3a", "lp_new")
    assert late["partner_code"].categories == ("P1", "P9")
    capped = {c.column: c for c in resolved(min_count=1, max_categories=1).custom.columns}
    assert capped["partner_code"].categories == ("P1",)


def test_identifier_and_constant_columns_are_skipped_with_a_log_line(caplog):
    with caplog.at_level(logging.INFO, logger="b2bscore.features.custom"):
        names = [c.column for c in resolved().custom.columns]
    assert "crm_id" not in names and "newsletter" not in names
    assert "accounts.crm_id has a different value in almost every row" in caplog.text
    assert "accounts.newsletter holds a single value" in caplog.text


def test_topics_come_from_activities_before_until_only():
    # before 2024-01-16 only the 01-15 data-integration visit and the 2023-12-01 security event are known
    assert resolved(until=T("2024-01-16")).custom.topics == ("data_integration", "security")
    assert resolved(until=AS_OF).custom.topics == ("data_integration", "pricing", "security")
    assert resolved(until=AS_OF, max_topics=1).custom.topics == ("data_integration",)
    assert resolved().custom.activity_value


def test_resolution_is_idempotent_and_keeps_the_settings():
    once = resolved()
    assert resolve_custom_features(customer_dataset(), once, AS_OF) == once
    assert once.custom.min_count == 2


# --- building -----------------------------------------------------------------------------------------------------

def test_custom_columns_as_of_their_row():
    features = by_key(build_features(customer_dataset(), as_of=AS_OF, config=resolved()))
    assert features["custom_partner_code"].tolist() == ["P1", "P1", "other"]
    assert features["custom_it_budget"].tolist()[:2] == [1000.0, 2500.5] and np.isnan(features.loc["A3", "custom_it_budget"])
    # signed 03-31: a day old; at (04-01) or after the as-of time: unknown
    assert features.loc["A1", "custom_signed_on"] == 1.0
    assert features[["custom_signed_on"]].loc[["A2", "A3"]].isna().all().all()


def test_unknown_and_missing_values():
    data = customer_dataset()
    accounts = data.accounts.assign(partner_code=["P2", None, "P1"], it_budget=["lots", "7", None])
    features = by_key(build_features(dataclasses.replace(data, accounts=accounts), as_of=AS_OF, config=resolved()))
    assert features["custom_partner_code"].tolist() == ["other", None, "P1"]
    assert np.isnan(features.loc["A1", "custom_it_budget"]) and features.loc["A2", "custom_it_budget"] == 7


def test_a_column_missing_at_scoring_time_is_unknown():
    config = resolved()
    data = customer_dataset()
    bare = dataclasses.replace(data, accounts=tiny_dataset().accounts, leads=tiny_dataset().leads)
    features = build_features(bare, as_of=AS_OF, entity="lead", config=config)
    assert features["custom_partner_code"].isna().all() and features["custom_landing_page_id"].isna().all()
    assert features["custom_signed_on"].isna().all()


def test_topic_counts_and_values_use_only_activities_strictly_before_as_of():
    features = by_key(build_features(customer_dataset(), as_of=AS_OF, config=resolved()))
    a1 = features.loc["A1"]
    # 03-30 and 03-31 23:59 count; the one at exactly 04-01 00:00 does not; 01-15 is within 90 days
    assert (a1["topic_data_integration_7d"], a1["topic_data_integration_30d"], a1["topic_data_integration_90d"]) == (2, 2, 3)
    assert a1["topic_pricing_7d"] == 1 and features.loc["A3", "topic_security_90d"] == 0  # 2023-12-01: too old
    # values 1 (03-30), 1 (03-25), 1 (03-10), 1 (03-31); 3 on 01-15; the 04-01 event is not yet known
    assert (a1["activity_value_30d"], a1["activity_value_90d"]) == (4, 7)
    later = by_key(build_features(customer_dataset(), as_of=T("2024-04-02"), config=resolved())).loc["A1"]
    assert later["topic_data_integration_7d"] == 3


def test_lead_columns_only_for_leads_and_specs_match_the_frame():
    config = resolved()
    accounts = build_features(customer_dataset(), as_of=AS_OF, config=config)
    leads = build_features(customer_dataset(), as_of=AS_OF, entity="lead", config=config)
    assert "custom_landing_page_id" not in accounts and "custom_partner_code" in leads
    for frame, entity in ((accounts, "account"), (leads, "lead")):
        specs = feature_specs(config, entity)
        check_schema(frame.iloc[:, 3 if entity == "lead" else 2:], specs, builder="test")
    assert by_key(leads, "lead_id")["custom_landing_page_id"].tolist() == ["lp_7f3a", "other", "lp_7f3a"]
    described = {s.name: s for s in feature_specs(config, "lead")}
    assert described["custom_landing_page_id"].description == "Landing page id"
    assert described["custom_signed_on"].description == "Days since signed on"
    assert described["topic_data_integration_30d"].description == "Activities on data integration in the last 30 days"
    assert described["custom_partner_code"].family == "custom"


def test_default_config_adds_only_lead_function_and_resolved_activity_features():
    names = [s.name for s in feature_specs(FeatureConfig(), "lead")]
    assert "lead_function" in names and not [n for n in names if n.startswith(("custom_", "topic_", "activity_value"))]
    plain = resolve_custom_features(tiny_dataset(), FeatureConfig(), AS_OF)  # no extra columns, no topics
    added = [s.name for s in feature_specs(plain, "lead") if s.name not in names]
    assert added == ["activity_value_30d", "activity_value_90d"]


def test_excluded_features_are_built_but_not_model_inputs():
    config = resolved().model_copy(update={"excluded": ("custom_partner_code", "lead_source")})
    specs = {s.name: s for s in feature_specs(config, "lead")}
    assert not specs["custom_partner_code"].model_input and not specs["lead_source"].model_input
    assert specs["custom_it_budget"].model_input
    assert "lead_source" not in {s.name for s in feature_specs(config, "account")}
    with pytest.raises(ConfigError, match="'excluded' names custom_nope"):
        feature_specs(FeatureConfig(excluded=("custom_nope",)))


def test_a_config_pickled_before_custom_features_loads_with_defaults():
    state = FeatureConfig().__getstate__()
    older = {k: v for k, v in state["__dict__"].items() if k not in ("custom", "excluded")}
    config = pickle.loads(pickle.dumps(FeatureConfig()))
    config.__setstate__({**state, "__dict__": older})
    assert config == FeatureConfig() and feature_specs(config)


# --- reasons ------------------------------------------------------------------------------------------------------

def test_reasons_show_customer_values_verbatim_and_ours_with_spaces():
    config = resolved()
    model = SimpleNamespace(feature_config=config, entity="lead",
                            feature_names_in_=np.array(["custom_landing_page_id", "lead_source"], dtype=object))
    features = pd.DataFrame({"custom_landing_page_id": ["lp_7f3a"], "lead_source": ["paid_search"]})
    effects = pd.DataFrame({"custom_landing_page_id": [0.5], "lead_source": [0.2]})
    (up, _), = ReasonWriter(model).explain(features, effects)
    assert [r.text for r in up] == ["Landing page id: lp_7f3a", "Channel the lead came from: paid search"]
    assert format_value("lp_7f3a", verbatim=True) == "lp_7f3a"


def test_columns_read_from_csv_files_resolve_and_build_the_same(tmp_path):
    data = customer_dataset()
    for name in data.available:
        data.table(name).to_csv(tmp_path / f"{name}.csv", index=False)
    loaded, report = load_dataset(tmp_path, now=T("2026-01-01"))
    assert report.ok
    config = resolve_custom_features(loaded, FeatureConfig(custom=SETTINGS), AS_OF)
    assert config == resolved()
    from_files = build_features(loaded, as_of=AS_OF, entity="lead", config=config)
    in_memory = build_features(data, as_of=AS_OF, entity="lead", config=config)
    custom = [c for c in in_memory.columns if c.startswith(("custom_", "topic_", "activity_value"))]
    pd.testing.assert_frame_equal(from_files[custom], in_memory[custom])


def test_custom_features_read_only_what_known_before_keeps():
    full, config = customer_dataset(), resolved()
    known = full.known_before(AS_OF)
    pd.testing.assert_frame_equal(build_features(full, as_of=AS_OF, entity="lead", config=config),
                                  build_features(known, as_of=AS_OF, entity="lead", config=config))


def test_resolution_needs_a_time():
    with pytest.raises(DataError, match="not a date"):
        resolve_custom_features(customer_dataset(), FeatureConfig(), "soon")


def test_activity_summaries_of_disjoint_parts_add_up_to_the_whole():
    """Issue 17: a bucketed engine counts topics bucket by bucket (its driver held every activity before); the
    resolution from the summed counts is the one from the whole table, ties and the as-of cut included."""
    from b2bscore.features.custom import ActivitySummary

    activities = pd.DataFrame({
        "account_id": ["A1", "A1", "A2", "A2", "A3", "A3", "A3"],
        "occurred_at": [T("2024-01-02"), T("2024-01-03"), T("2024-01-04"), T("2024-03-01"), T("2024-01-05"),
                        T("2024-01-06"), T("2024-01-07")],
        "activity_type": ["web_visit"] * 7,
        "topic": ["pricing", "security", "security", "pricing", None, "pricing", "ai"],
        "value": [np.nan, np.nan, np.nan, 5.0, np.nan, np.nan, np.nan],
    })
    until = T("2024-02-01")
    parts = [activities[activities["account_id"] == a] for a in ("A1", "A2", "A3")]
    summed = sum((ActivitySummary.of(part, until) for part in parts), ActivitySummary())
    assert summed == ActivitySummary.of(activities, until)
    assert summed.topic_counts == {"pricing": 2, "security": 2, "ai": 1} and not summed.has_value  # 5.0 came later
    config = FeatureConfig(custom=CustomFeatures(max_topics=2))
    data = Dataset(accounts=pd.DataFrame({"account_id": ["A1", "A2", "A3"]}), activities=activities)
    whole = resolve_custom_features(data, config, until)
    assert resolve_custom_features(Dataset(accounts=data.accounts), config, until, activities=summed) == whole
    assert whole.custom.topics == ("pricing", "security")  # the tie at 2 broken by name, "ai" left out
