"""Point-in-time features on hand-made data: exact values, as-of semantics, leakage, schema."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2bscore.data.contract import ACTIVITY_TYPES, TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.errors import ConfigError, DataError, MissingTableError
from b2bscore.features import CustomFeatures, FeatureConfig, IcpConfig, IcpRule, build_features, feature_specs
from b2bscore.features.lead import job_function
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


def test_icp_not_in_rule_does_not_fire_for_an_unknown_value():
    data = tiny_dataset()
    accounts = data.accounts.copy()
    accounts.loc[accounts["account_id"] == "A2", "industry"] = None
    data = dataclasses.replace(data, accounts=accounts)
    rule = IcpRule(name="not_software", description="x", feature="industry", op="not_in", values=("software",))
    features = build_features(data, as_of=AS_OF, config=FeatureConfig(icp=IcpConfig(criteria=(), red_flags=(rule,))))
    assert row(features, "A2")["industry"] == "unknown"
    assert [row(features, a)["icp_red_flags"] for a in ("A1", "A2", "A3")] == [0, 0, 0]
    accounts.loc[accounts["account_id"] == "A2", "industry"] = "retail"
    features = build_features(dataclasses.replace(data, accounts=accounts), as_of=AS_OF,
                              config=FeatureConfig(icp=IcpConfig(criteria=(), red_flags=(rule,))))
    assert row(features, "A2")["icp_red_flags"] == 1


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
    assert features["lead_function"].tolist() == ["sales", "marketing", "unknown"]
    assert features.loc["L1", "lead_activities_30d"] == 3
    assert features.loc["L1", "account_id"] == "A1"


@pytest.mark.parametrize(
    ("title", "function"),
    [
        ("VP Sales Operations", "sales"),
        ("Head of IT", "it_engineering"),
        ("CFO", "finance"),
        ("Marketing Manager", "marketing"),
        ("Software Engineer", "it_engineering"),
        ("Account Executive", "sales"),
        ("Chief Executive Officer", "executive"),
        ("Co-Founder & CEO", "executive"),
        ("Chief Operating Officer", "operations"),
        ("Director of Procurement", "operations"),
        ("HR Business Partner", "hr"),
        ("Head of People", "hr"),
        ("Office Assistant", "other"),
        ("Vice President", "other"),
        ("  ", "unknown"),
        (None, "unknown"),
    ],
)
def test_lead_function_from_job_title(title, function):
    assert job_function(pd.Series([title], dtype=object)).tolist() == [function]


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

# minutes at or after as_of; exactly 0 (an event at as_of itself, the boundary) is drawn often on purpose
# resolved topics and activity values, as resolve_custom_features would declare them, so the properties cover them
_TOPICS = ("data_integration", "pricing")
TOPICS_CONFIG = FeatureConfig(custom=CustomFeatures(topics=_TOPICS, activity_value=True))
_offsets = st.one_of(st.just(0), st.integers(min_value=0, max_value=400 * 24 * 60))
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
        "topic": [draw(st.sampled_from([*_TOPICS, None])) for _ in range(n)],
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
    before = build_features(data, as_of=AS_OF, config=TOPICS_CONFIG)
    appended = dataclasses.replace(data, **{name: pd.concat([data.table(name), frame], ignore_index=True)
                                            for name, frame in extra.items()})
    after = build_features(appended, as_of=AS_OF, config=TOPICS_CONFIG)
    pd.testing.assert_frame_equal(before, after)
    leads_before = build_features(data, as_of=AS_OF, entity="lead", config=TOPICS_CONFIG)
    leads_after = build_features(appended, leads_before[["lead_id", "as_of"]], entity="lead", config=TOPICS_CONFIG)
    pd.testing.assert_frame_equal(leads_before, leads_after)


def test_leakage_check_would_catch_an_event_inside_the_window():
    """Guard for the property test: an event just before as_of does change the features."""
    data = tiny_dataset()
    extra = pd.DataFrame({"account_id": ["A3"], "lead_id": [None], "occurred_at": [AS_OF - pd.Timedelta(seconds=1)],
                          "activity_type": ["web_visit"], "topic": ["pricing"], "value": [2.0]})
    appended = dataclasses.replace(data, activities=pd.concat([data.activities, extra], ignore_index=True))
    assert row(build_features(appended, as_of=AS_OF), "A3")["web_visit_7d"] == 1
    a3 = row(build_features(appended, as_of=AS_OF, config=TOPICS_CONFIG), "A3")
    assert a3["topic_pricing_7d"] == 1 and a3["activity_value_30d"] == 2
    assert np.isclose(row(build_features(appended, as_of=AS_OF), "A3")["days_since_last_activity"], 1 / 86400)


# --- facts known later than their row's own time -----------------------------------------
# Some facts of a row dated before as_of become known only at or after as_of: an intent week's
# score (known once the week ends), an opportunity's outcome (known at closed_at), a technology
# being dropped (known at last_seen_at). Each property compares the data with such a row to the
# data as it stood at as_of; each guard shows the same comparison does see the fact once it is
# known strictly before as_of, so the property cannot pass vacuously.

_DAY = 24 * 60  # minutes
# minutes strictly before as_of; 1 (the latest moment a row can be dated) is drawn often on purpose
_minutes_before = st.one_of(st.just(1), st.integers(min_value=1, max_value=400 * _DAY))
_leads_or_none = st.sampled_from(["L1", "L2", "L3", None])
_LEADS_AT_AS_OF = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "as_of": [AS_OF] * 3})
# (technology, category): legacy, competitor, modern, complementary, plain and an unknown category
_TECHNOLOGIES = st.sampled_from([("sap_ecc", "erp"), ("rivalscore", "marketing_automation"), ("aws", "cloud"),
                                 ("salesforce", "crm"), ("snowflake", "data_warehouse"), ("segment", "analytics"),
                                 ("okta", "security"), ("zoom", "video_conferencing")])
_INTENT_TOPICS = st.sampled_from(["lead_scoring", "data_integration", "sales_analytics", "crm_migration", "cloud_security"])
_amounts = st.one_of(st.just(np.nan), st.integers(0, 10**6).map(float))


def _at(minutes: int) -> pd.Timestamp:
    return AS_OF + pd.Timedelta(minutes=minutes)


def _times(values) -> pd.Series:
    return pd.Series(list(values), dtype="datetime64[ns]")


def _with_rows(data: Dataset, **frames: pd.DataFrame) -> Dataset:
    return dataclasses.replace(data, **{name: pd.concat([data.table(name), frame], ignore_index=True)
                                        for name, frame in frames.items()})


def _features(data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Account features of every account and lead features of L1-L3, all as of AS_OF."""
    return (build_features(data, as_of=AS_OF, config=TOPICS_CONFIG),
            build_features(data, _LEADS_AT_AS_OF, entity="lead", config=TOPICS_CONFIG))


def _assert_same_features(left: Dataset, right: Dataset) -> None:
    for a, b in zip(_features(left), _features(right)):
        pd.testing.assert_frame_equal(a, b)


def _same_features(left: Dataset, right: Dataset) -> bool:
    try:
        _assert_same_features(left, right)
    except AssertionError:
        return False
    return True


@st.composite
def weeks_in_progress(draw) -> pd.DataFrame:
    """Intent weeks that started before as_of but end at or after it (7 days exactly: ends at as_of)."""
    started = st.one_of(st.just(7 * _DAY), st.integers(min_value=1, max_value=7 * _DAY))  # minutes before as_of
    rows = draw(st.lists(st.tuples(_accounts, started, _INTENT_TOPICS, st.integers(0, 100)), min_size=1, max_size=4,
                         unique_by=lambda r: (r[0], r[1], r[2])))
    return pd.DataFrame({"account_id": [r[0] for r in rows], "week_start": _times(_at(-r[1]) for r in rows),
                         "topic": [r[2] for r in rows], "score": [float(r[3]) for r in rows]})


@st.composite
def deals_closing_later(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Opportunities created before as_of and won or lost at or after it; and the same deals still open."""
    n = draw(st.integers(1, 3))
    closed = pd.DataFrame({
        "opportunity_id": [f"O{10 + i}" for i in range(n)],
        "account_id": [draw(_accounts) for _ in range(n)],
        "lead_id": [draw(_leads_or_none) for _ in range(n)],
        "created_at": _times(_at(-draw(_minutes_before)) for _ in range(n)),
        "closed_at": _times(_at(draw(_offsets)) for _ in range(n)),
        "stage": [draw(st.sampled_from(["won", "lost"])) for _ in range(n)],
        "amount": [draw(_amounts) for _ in range(n)],
    })
    still_open = closed.assign(closed_at=_times([pd.NaT] * n), stage="open")
    return closed, still_open


@st.composite
def techs_dropped_later(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Technologies first seen before as_of and last seen at or after it; and the same rows still in use."""
    n = draw(st.integers(1, 3))
    techs = [draw(_TECHNOLOGIES) for _ in range(n)]
    dropped = pd.DataFrame({
        "account_id": [draw(_accounts) for _ in range(n)],
        "technology": [t for t, _ in techs],
        "category": [c for _, c in techs],
        "first_seen_at": _times(_at(-draw(_minutes_before)) for _ in range(n)),
        "last_seen_at": _times(_at(draw(_offsets)) for _ in range(n)),
    })
    return dropped, dropped.assign(last_seen_at=_times([pd.NaT] * n))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weeks=weeks_in_progress())
def test_an_intent_week_not_yet_ended_at_as_of_changes_no_feature(weeks):
    data = tiny_dataset()
    _assert_same_features(_with_rows(data, intent=weeks), data)


def test_intent_check_would_catch_a_week_that_ended_before_as_of():
    """Guard: a week ending one minute before as_of is known and changes the intent features."""
    data = tiny_dataset()
    week = pd.DataFrame({"account_id": ["A3"], "week_start": _times([_at(-7 * _DAY)]), "topic": ["data_integration"],
                         "score": [70.0]})
    ended = week.assign(week_start=_times([_at(-7 * _DAY - 1)]))
    assert row(_features(_with_rows(data, intent=week))[0], "A3")["intent_max"] == 0
    assert row(_features(_with_rows(data, intent=ended))[0], "A3")["intent_max"] == 70
    assert not _same_features(_with_rows(data, intent=ended), data)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals=deals_closing_later())
def test_a_deal_closed_at_or_after_as_of_looks_still_open(deals):
    closed, still_open = deals
    data = tiny_dataset()
    _assert_same_features(_with_rows(data, opportunities=closed), _with_rows(data, opportunities=still_open))


@pytest.mark.parametrize(("stage", "counted"), [("won", "won_deals"), ("lost", "lost_deals")])
def test_deal_check_would_catch_a_deal_closed_before_as_of(stage, counted):
    """Guard: the same deal closed one minute before as_of is known as won/lost and no longer open."""
    data = tiny_dataset()
    closed = pd.DataFrame({"opportunity_id": ["O10"], "account_id": ["A3"], "lead_id": [None],
                           "created_at": _times([_at(-30 * _DAY)]), "closed_at": _times([_at(-1)]),
                           "stage": [stage], "amount": [5000.0]})
    still_open = closed.assign(closed_at=_times([pd.NaT]), stage="open")
    a3_closed = row(_features(_with_rows(data, opportunities=closed))[0], "A3")
    a3_open = row(_features(_with_rows(data, opportunities=still_open))[0], "A3")
    assert (a3_closed[counted], a3_closed["open_opportunities"]) == (1, 0)
    assert (a3_open[counted], a3_open["open_opportunities"]) == (0, 1)
    assert a3_closed["won_amount_total"] == (5000 if stage == "won" else 0)
    assert not _same_features(_with_rows(data, opportunities=closed), _with_rows(data, opportunities=still_open))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(techs=techs_dropped_later())
def test_a_technology_dropped_at_or_after_as_of_looks_still_in_use(techs):
    dropped, in_use = techs
    data = tiny_dataset()
    _assert_same_features(_with_rows(data, technographics=dropped), _with_rows(data, technographics=in_use))


def test_tech_check_would_catch_a_drop_before_as_of():
    """Guard: the same technology last seen one minute before as_of is known as dropped."""
    data = tiny_dataset()
    dropped = pd.DataFrame({"account_id": ["A3"], "technology": ["aws"], "category": ["cloud"],
                            "first_seen_at": _times([_at(-30 * _DAY)]), "last_seen_at": _times([_at(-1)])})
    in_use = dropped.assign(last_seen_at=_times([pd.NaT]))
    a3_dropped = row(_features(_with_rows(data, technographics=dropped))[0], "A3")
    a3_in_use = row(_features(_with_rows(data, technographics=in_use))[0], "A3")
    assert (a3_dropped["tech_total_count"], a3_dropped["tech_dropped_90d"]) == (0, 1)
    assert (a3_in_use["tech_total_count"], a3_in_use["tech_dropped_90d"]) == (1, 0)
    assert not _same_features(_with_rows(data, technographics=dropped), _with_rows(data, technographics=in_use))


# --- features agree with Dataset.known_before, the definition of what is known before a moment -----

_anytime = st.one_of(st.sampled_from([-1, 0, 1]), st.integers(min_value=-400 * _DAY, max_value=400 * _DAY))  # minutes from as_of
_after = st.one_of(st.just(0), st.integers(min_value=0, max_value=400 * _DAY))  # minutes after an earlier time


@st.composite
def mixed_history(draw) -> dict[str, pd.DataFrame]:
    """Rows of every dated table on both sides of as_of, with closings and drops before, at and after it.

    Activities may refer to the generated leads (L10, L11), which may be created after as_of: a CRM can attribute
    an earlier visit to a lead created later.
    """
    def n() -> int:
        return draw(st.integers(0, 3))

    k = n()
    activities = pd.DataFrame({
        "account_id": [draw(_accounts) for _ in range(k)],
        "lead_id": [draw(st.sampled_from(["L1", "L2", "L3", "L10", "L11", None])) for _ in range(k)],
        "occurred_at": _times(_at(draw(_anytime)) for _ in range(k)),
        "activity_type": [draw(st.sampled_from([*ACTIVITY_TYPES, "chat_message"])) for _ in range(k)],
        "topic": [draw(st.sampled_from([*_TOPICS, None])) for _ in range(k)],
        "value": [float(draw(st.integers(0, 500))) for _ in range(k)]})
    k = n()
    intent = pd.DataFrame({"account_id": [draw(_accounts) for _ in range(k)],
                           "week_start": _times(_at(draw(_anytime)) for _ in range(k)),
                           "topic": [draw(_INTENT_TOPICS) for _ in range(k)],
                           "score": [float(draw(st.integers(0, 100))) for _ in range(k)]})
    k = n()
    first_seen = [draw(_anytime) for _ in range(k)]
    last_seen = [None if m is None else f + m for f, m in zip(first_seen, [draw(st.none() | _after) for _ in range(k)])]
    techs = [draw(_TECHNOLOGIES) for _ in range(k)]
    technographics = pd.DataFrame({
        "account_id": [draw(_accounts) for _ in range(k)], "technology": [t for t, _ in techs],
        "category": [c for _, c in techs], "first_seen_at": _times(_at(f) for f in first_seen),
        "last_seen_at": _times(pd.NaT if m is None else _at(m) for m in last_seen)})
    k = n()
    revenue = pd.DataFrame({"account_id": [draw(_accounts) for _ in range(k)],
                            "invoice_at": _times(_at(draw(_anytime)) for _ in range(k)),
                            "amount": [float(draw(st.integers(0, 10**6))) for _ in range(k)]})
    k = n()
    leads = pd.DataFrame({"lead_id": [f"L{10 + i}" for i in range(k)], "account_id": [draw(_accounts) for _ in range(k)],
                          "created_at": _times(_at(draw(_anytime)) for _ in range(k)),
                          "source": ["events"] * k, "job_title": [draw(st.sampled_from(["CEO", "Analyst", None])) for _ in range(k)],
                          "buying_role": [draw(st.sampled_from(["decider", "user", None])) for _ in range(k)]})
    # always one deal won after as_of, so that known_before has something to hide
    created = [-draw(_minutes_before)] + [draw(_anytime) for _ in range(n())]
    open_for = [draw(st.none() | _after) for _ in created[1:]]  # minutes until closed; None: still open
    closed = [draw(_offsets)] + [None if m is None else c + m for c, m in zip(created[1:], open_for)]
    stages = ["won"] + [("open" if c is None else draw(st.sampled_from(["won", "lost"]))) for c in closed[1:]]
    opportunities = pd.DataFrame({
        "opportunity_id": [f"O{10 + i}" for i in range(len(created))],
        "account_id": [draw(_accounts) for _ in created], "lead_id": [draw(_leads_or_none) for _ in created],
        "created_at": _times(_at(c) for c in created), "closed_at": _times(pd.NaT if c is None else _at(c) for c in closed),
        "stage": stages, "amount": [draw(_amounts) for _ in created]})
    return {"activities": activities, "intent": intent, "technographics": technographics, "revenue": revenue,
            "leads": leads, "opportunities": opportunities}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=mixed_history())
def test_features_only_read_what_known_before_keeps(extra):
    full = _with_rows(tiny_dataset(), **extra)
    known = full.known_before(AS_OF)
    pd.testing.assert_frame_equal(build_features(full, as_of=AS_OF, config=TOPICS_CONFIG),
                                  build_features(known, as_of=AS_OF, config=TOPICS_CONFIG))
    leads = full.leads.loc[full.leads["created_at"] < AS_OF, ["lead_id"]].assign(as_of=AS_OF)
    pd.testing.assert_frame_equal(build_features(full, leads, entity="lead", config=TOPICS_CONFIG),
                                  build_features(known, leads, entity="lead", config=TOPICS_CONFIG))
    # Guard: known_before did hide something that matters once it is known (at least the deal won at or after as_of).
    later = AS_OF + pd.Timedelta(days=401)
    assert build_features(full, as_of=later)["won_deals"].sum() > build_features(known, as_of=later)["won_deals"].sum()


def test_campaigns_and_spend_are_known_from_their_start_with_their_planned_end():
    """A campaign is known from started_at (with its planned ended_at and cost), spend from period_start; neither
    feeds an account's features, so appending them, before or after as_of, changes none."""
    data = tiny_dataset()
    campaigns = pd.DataFrame({"campaign_id": ["C1", "C2"], "name": [None, None], "channel": ["events", "events"],
                              "started_at": _times([_at(-30 * _DAY), _at(0)]),
                              "ended_at": _times([_at(30 * _DAY), _at(60 * _DAY)]), "cost": [1000.0, 2000.0],
                              "target": [None, None]})
    spend = pd.DataFrame({"period_start": _times([_at(-1), _at(0)]), "channel": ["sales", "sales"],
                          "campaign_id": [None, None], "amount": [10.0, 20.0]})
    full = dataclasses.replace(data, campaigns=campaigns, spend=spend)
    known = full.known_before(AS_OF)
    assert list(known.campaigns["campaign_id"]) == ["C1"]
    assert known.campaigns["ended_at"].iloc[0] == _at(30 * _DAY)  # planned at its start: not blanked
    assert list(known.spend["amount"]) == [10.0]
    _assert_same_features(full, data)


_KNOWN_FROM_PROPERTIES = {
    ("activities", "occurred_at"): test_appending_events_at_or_after_as_of_changes_no_feature,
    ("intent", "week_start"): test_an_intent_week_not_yet_ended_at_as_of_changes_no_feature,
    ("technographics", "first_seen_at"): test_appending_events_at_or_after_as_of_changes_no_feature,
    ("technographics", "last_seen_at"): test_a_technology_dropped_at_or_after_as_of_looks_still_in_use,
    ("leads", "created_at"): test_appending_events_at_or_after_as_of_changes_no_feature,
    ("opportunities", "created_at"): test_appending_events_at_or_after_as_of_changes_no_feature,
    ("opportunities", "closed_at"): test_a_deal_closed_at_or_after_as_of_looks_still_open,
    ("revenue", "invoice_at"): test_appending_events_at_or_after_as_of_changes_no_feature,
    ("campaigns", "started_at"): test_campaigns_and_spend_are_known_from_their_start_with_their_planned_end,
    ("campaigns", "ended_at"): test_campaigns_and_spend_are_known_from_their_start_with_their_planned_end,
    ("spend", "period_start"): test_campaigns_and_spend_are_known_from_their_start_with_their_planned_end,
}


def test_every_time_column_of_the_contract_has_a_leakage_property():
    """A new datetime column in the contract needs its own "known from" property above."""
    columns = {(t.name, c.name) for t in TABLES.values() for c in t.columns if c.kind == "datetime"}
    assert columns == set(_KNOWN_FROM_PROPERTIES)
    assert {(name, t.time_column) for name, t in TABLES.items() if t.time_column} <= set(_KNOWN_FROM_PROPERTIES)


def test_a_lead_created_at_or_after_as_of_does_not_count_as_engaged():
    """An activity attributed (later, by the CRM) to a lead created at or after as_of does not count that lead."""
    data = tiny_dataset()
    visit = pd.DataFrame({"account_id": ["A3"], "lead_id": ["L9"], "occurred_at": _times([_at(-_DAY)]),
                          "activity_type": ["web_visit"], "topic": [None], "value": [1.0]})
    lead = pd.DataFrame({"lead_id": ["L9"], "account_id": ["A3"], "created_at": _times([_at(2 * _DAY)]),
                         "source": ["events"], "job_title": ["CEO"], "buying_role": ["decider"]})
    full = _with_rows(data, activities=visit, leads=lead)
    a3 = row(build_features(full, as_of=AS_OF), "A3")
    assert (a3["engaged_leads_90d"], a3["engaged_roles_90d"]) == (0, 0)  # as in full.known_before(AS_OF)
