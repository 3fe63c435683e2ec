"""Point-in-time features on hand-made data: exact values, as-of semantics, leakage, schema."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2bscore.data.contract import ACTIVITY_TYPES
from b2bscore.data.dataset import Dataset
from b2bscore.errors import ConfigError, DataError, MissingTableError
from b2bscore.features import FeatureConfig, IcpConfig, IcpRule, build_features, feature_specs
from factories import T, tiny_dataset

AS_OF = T("2024-04-01")


def row(frame: pd.DataFrame, account_id: str) -> pd.Series:
    return frame.set_index("account_id").loc[account_id]


def test_counts_use_only_events_strictly_before_as_of():
    # A2 is queried later, so A1's events at AS_OF are in the indexed range and must be cut by the window.
    entities = pd.DataFrame({"account_id": ["A1", "A2"], "as_of": [AS_OF, AS_OF + pd.Timedelta(days=30)]})
    features = build_features(tiny_dataset(), entities)
    a1 = row(features, "A1")
    assert a1["pricing_page_view_7d"] == 2  # 03-30 and 03-31 23:59
    assert a1["demo_request_7d"] == 0  # the demo request at exactly 04-01 00:00 is not yet known
    assert a1["email_open_30d"] == 1 and a1["email_click_30d"] == 1
    assert a1["web_visit_30d"] == 0 and a1["web_visit_90d"] == 1
    assert a1["email_click_rate_90d"] == 1.0
    assert a1["engaged_leads_90d"] == 2 and a1["engaged_roles_90d"] == 2
    assert a1["days_since_last_activity"] == pytest.approx(1 / 1440)


def test_unknown_activity_types_count_as_other():
    features = build_features(tiny_dataset(), as_of=T("2023-12-02"))
    assert row(features, "A3")["other_7d"] == 1


def test_intent_week_is_known_only_after_it_ends():
    features = build_features(tiny_dataset(), as_of=AS_OF)
    a1 = row(features, "A1")
    # The week of 03-25 ends at 04-01: not yet known. The week of 03-18 is.
    assert a1["intent_max"] == 80 and a1["intent_mean"] == 60
    assert a1["intent_surging_topics"] == 1 and a1["intent_top_topic"] == "lead_scoring"
    later = row(build_features(tiny_dataset(), as_of=T("2024-04-02")), "A1")
    assert later["intent_max"] == 90


def test_technologies_in_use_at_as_of():
    features = build_features(tiny_dataset(), as_of=AS_OF)
    a1, a2, a3 = (row(features, a) for a in ("A1", "A2", "A3"))
    assert a1["tech_total_count"] == 3 and a1["modern_stack"]
    assert a2["legacy_stack"] and not a2["uses_competitor"]  # the competitor was dropped on 02-01
    assert a2["tech_dropped_90d"] == 1
    assert a3["tech_crm_count"] == 0  # adopted only in May
    earlier = row(build_features(tiny_dataset(), as_of=T("2024-01-15")), "A2")
    assert earlier["uses_competitor"]


def test_revenue_deals_and_leads():
    a2 = row(build_features(tiny_dataset(), as_of=AS_OF), "A2")
    assert a2["is_customer"] and a2["revenue_90d"] == 8000  # 02-01 and 03-01; 01-01 is 91 days back and a2["invoices_365d"] == 7
    assert a2["won_deals"] == 1 and a2["won_amount_total"] == 50000
    assert a2["days_since_last_invoice"] == 31
    before_close = row(build_features(tiny_dataset(), as_of=T("2023-08-01")), "A2")
    assert before_close["won_deals"] == 0 and before_close["open_opportunities"] == 1


def test_icp_fit_and_flags():
    features = build_features(tiny_dataset(), as_of=AS_OF)
    a1, a3 = row(features, "A1"), row(features, "A3")
    assert a1["icp_fit_score"] == 100 and a1["icp_flags"] == "+modern_cloud_stack;+growth_funding"
    assert a3["icp_red_flags"] == 1 and "-too_small" in a3["icp_flags"]
    assert a3["icp_fit_score"] < a1["icp_fit_score"]


def test_icp_rule_on_unknown_feature_is_a_config_error():
    bad = IcpConfig(criteria=(IcpRule(name="x", description="x", feature="employes", op="between", min=1),))
    with pytest.raises(ConfigError, match="employes.*can read"):
        build_features(tiny_dataset(), as_of=AS_OF, config=FeatureConfig(icp=bad))


def test_per_row_as_of_equals_separate_builds():
    data = tiny_dataset()
    times = [T("2023-08-01"), AS_OF, T("2024-02-15")]
    entities = pd.DataFrame({"account_id": ["A2", "A1", "A2"], "as_of": times})
    together = build_features(data, entities)
    for i, (account, when) in enumerate(zip(entities["account_id"], times)):
        alone = row(build_features(data, as_of=when), account)
        pd.testing.assert_series_equal(together.iloc[i].drop(["account_id", "as_of"]), alone.drop("as_of"),
                                       check_names=False)


def test_output_matches_declared_specs_and_keeps_order():
    entities = pd.DataFrame({"account_id": ["A3", "A1"]})
    features = build_features(tiny_dataset(), entities, as_of=AS_OF)
    assert list(features["account_id"]) == ["A3", "A1"]
    assert list(features.columns[2:]) == [s.name for s in feature_specs()]
    assert all(s.description and s.family for s in feature_specs())


def test_lead_features():
    features = build_features(tiny_dataset(), as_of=AS_OF, entity="lead").set_index("lead_id")
    assert features.loc["L1", "lead_seniority"] == "vp"
    assert features.loc["L2", "lead_seniority"] == "manager"
    assert features.loc["L3", "lead_seniority"] == "unknown"
    assert features.loc["L1", "lead_activities_30d"] == 3
    assert features.loc["L1", "account_id"] == "A1"


def test_missing_optional_tables_give_neutral_features():
    data = Dataset(accounts=tiny_dataset().accounts)
    features = build_features(data, as_of=AS_OF)
    assert (features["activity_total_30d"] == 0).all() and (features["tech_total_count"] == 0).all()
    with pytest.raises(MissingTableError, match="leads"):
        build_features(data, as_of=AS_OF, entity="lead")


@pytest.mark.parametrize(
    ("entities", "as_of", "message"),
    [
        (pd.DataFrame({"account_id": ["A1", "NOPE"]}), AS_OF, "not in the accounts table.*NOPE"),
        (pd.DataFrame({"id": ["A1"]}), AS_OF, "no 'account_id' column"),
        (None, None, "needs an as-of time"),
        (None, "not a date", "not a date"),
        (pd.DataFrame({"account_id": ["A1"], "as_of": ["garbage"]}), None, "not timestamps"),
    ],
)
def test_bad_entities_raise_clear_errors(entities, as_of, message):
    with pytest.raises(DataError, match=message):
        build_features(tiny_dataset(), entities, as_of)


def test_lead_as_of_before_creation_is_rejected():
    entities = pd.DataFrame({"lead_id": ["L1"], "as_of": [T("2024-01-01")]})
    with pytest.raises(DataError, match="before they were created"):
        build_features(tiny_dataset(), entities, entity="lead")


# --- the leakage property: nothing at or after as_of can change a feature ----------------

_offsets = st.integers(min_value=0, max_value=400 * 24 * 60)  # minutes at or after as_of
_accounts = st.sampled_from(["A1", "A2", "A3"])


@st.composite
def future_events(draw) -> dict[str, pd.DataFrame]:
    def when() -> pd.Timestamp:
        return AS_OF + pd.Timedelta(minutes=draw(_offsets))

    n = draw(st.integers(1, 6))
    activities = pd.DataFrame({
        "account_id": [draw(_accounts) for _ in range(n)],
        "lead_id": [draw(st.sampled_from(["L1", "L2", "L3", None])) for _ in range(n)],
        "occurred_at": [when() for _ in range(n)],
        "activity_type": [draw(st.sampled_from([*ACTIVITY_TYPES, "chat_message"])) for _ in range(n)],
        "topic": [None] * n,
        "value": [float(draw(st.integers(0, 500))) for _ in range(n)],
    })
    intent = pd.DataFrame({"account_id": [draw(_accounts)], "week_start": [when().normalize()],
                           "topic": ["lead_scoring"], "score": [float(draw(st.integers(0, 100)))]})
    first_seen = when()
    technographics = pd.DataFrame({"account_id": [draw(_accounts)], "technology": [draw(st.sampled_from(["rivalscore", "aws", "sap_ecc"]))],
                                   "category": ["other"], "first_seen_at": [first_seen], "last_seen_at": [pd.NaT]})
    revenue = pd.DataFrame({"account_id": [draw(_accounts)], "invoice_at": [when()], "amount": [float(draw(st.integers(0, 10**6)))]})
    leads = pd.DataFrame({"lead_id": ["L9"], "account_id": [draw(_accounts)], "created_at": [when()], "source": ["events"],
                          "job_title": ["CEO"], "buying_role": ["decider"]})
    opportunities = pd.DataFrame({"opportunity_id": ["O9"], "account_id": [draw(_accounts)], "lead_id": [None],
                                  "created_at": [first_seen], "closed_at": [first_seen + pd.Timedelta(days=3)],
                                  "stage": [draw(st.sampled_from(["won", "lost"]))], "amount": [1000.0]})
    return {"activities": activities, "intent": intent, "technographics": technographics, "revenue": revenue,
            "leads": leads, "opportunities": opportunities}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=future_events())
def test_appending_events_at_or_after_as_of_changes_no_feature(extra):
    data = tiny_dataset()
    before = build_features(data, as_of=AS_OF)
    appended = dataclasses.replace(data, **{name: pd.concat([data.table(name), frame], ignore_index=True)
                                            for name, frame in extra.items()})
    after = build_features(appended, as_of=AS_OF)
    pd.testing.assert_frame_equal(before, after)
    leads_before = build_features(data, as_of=AS_OF, entity="lead")
    leads_after = build_features(appended, leads_before[["lead_id", "as_of"]], entity="lead")
    pd.testing.assert_frame_equal(leads_before, leads_after)


def test_leakage_check_would_catch_an_event_inside_the_window():
    """Guard for the property test: an event just before as_of does change the features."""
    data = tiny_dataset()
    extra = pd.DataFrame({"account_id": ["A3"], "lead_id": [None], "occurred_at": [AS_OF - pd.Timedelta(seconds=1)],
                          "activity_type": ["web_visit"], "topic": [None], "value": [1.0]})
    appended = dataclasses.replace(data, activities=pd.concat([data.activities, extra], ignore_index=True))
    assert row(build_features(appended, as_of=AS_OF), "A3")["web_visit_7d"] == 1
    assert np.isclose(row(build_features(appended, as_of=AS_OF), "A3")["days_since_last_activity"], 1 / 86400)
