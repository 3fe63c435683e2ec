"""Tier and segment rules on hand-made rows, config errors, the fallback without scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from test_segments_factories import feature_rows

from b2bscore.errors import ConfigError
from b2bscore.segments import SegmentConfig, assign_segments, load_segment_config
from b2bscore.segments.config import ClusterConfig, Condition, RuleList, SegmentRule

SMALL_CLUSTERS = ClusterConfig(features=("icp_fit_score",), k=2, min_accounts_per_cluster=1)


def absolute_tiers() -> RuleList:
    return RuleList(rules=(
        SegmentRule(name="t1", label="Tier 1", all_of=(Condition(column="fit", op=">=", value=70),),
                    any_of=(Condition(column="propensity", op=">=", value=0.5),
                            Condition(column="value", op=">=", value=1000))),
        SegmentRule(name="t2", label="Tier 2", all_of=(Condition(column="fit", op=">=", value=40),)),
    ), default="Tier 3")


def test_first_matching_rule_places_each_account_and_is_recorded():
    features = feature_rows(5, icp_fit_score=[90.0, 90.0, 90.0, 50.0, 10.0])
    scores = pd.DataFrame({"account_id": features["account_id"], "p_win": [0.6, 0.1, 0.1, 0.9, 0.9],
                           "p_convert": [0.05, 0.99, 0.99, 0.01, 0.01], "p_churn": np.nan, "cltv_pred": np.nan})
    # A03 is the only prospect that is not worth more than the others: value is the look-alike of customers,
    # and with no customers it is the company size -- make A03 a big company
    features.loc[2, "log_employees"] = np.log1p(50_000)
    config = SegmentConfig(tiers=absolute_tiers(), clustering=SMALL_CLUSTERS)

    frame = assign_segments(features, scores, config).frame

    assert frame["tier"].tolist() == ["Tier 1", "Tier 2", "Tier 1", "Tier 2", "Tier 3"]
    assert frame["tier_rule"].tolist() == ["t1", "t2", "t1", "t2", "default"]
    assert frame["propensity_source"].tolist() == ["p_win"] * 5  # the account's chance; a lead's p_convert stays on it


def test_quantiles_are_taken_within_customer_status():
    features = feature_rows(8, icp_fit_score=[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0],
                            is_customer=[False] * 4 + [True] * 4)
    tiers = RuleList(rules=(SegmentRule(name="top_half_fit", label="Tier 1",
                                        all_of=(Condition(column="fit", op=">=", quantile=0.5),)),), default="Tier 3")
    frame = assign_segments(features, None, SegmentConfig(tiers=tiers, clustering=SMALL_CLUSTERS)).frame
    assert frame["tier"].tolist() == ["Tier 3", "Tier 3", "Tier 1", "Tier 1"] * 2


def test_default_rules_rank_a_hot_fitting_prospect_above_a_cold_misfit():
    n = 20
    fit = np.linspace(5, 100, n)
    demos = np.where(np.arange(n) == n - 1, 3.0, 0.0)
    features = feature_rows(n, icp_fit_score=fit, demo_request_30d=demos, intent_surging_topics=demos)
    frame = assign_segments(features, None, SegmentConfig(clustering=SMALL_CLUSTERS)).frame
    assert frame["tier"].iloc[-1] == "Tier 1"
    assert frame["tier"].iloc[0] == "Tier 3"
    assert frame["buying_stage"].iloc[-1] == "decision"
    assert frame["buying_stage"].iloc[0] == "awareness"
    assert "Demo requests in the last 30 days: 3" in frame["reasons"].iloc[-1]


def test_segments_of_each_kind():
    features = feature_rows(4, uses_competitor=[True, False, False, False], legacy_stack=[True, True, False, False],
                            modern_stack=[False, False, True, False], size_band=["1_49", "200_999", "5000_plus", "1_49"],
                            industry=["software", "education", "retail", "mining"],
                            region=["emea", "apac", "north_america", "emea"], icp_fit_score=[1.0, 2.0, 3.0, 4.0])
    frame = assign_segments(features, None, SegmentConfig(clustering=SMALL_CLUSTERS)).frame
    assert frame["technographic_segment"].tolist() == ["competitor user", "legacy stack", "modern cloud stack", "other"]
    assert frame["firmographic_segment"].tolist() == [
        "smb | software | emea", "mid-market | public & healthcare | apac",
        "enterprise | retail | north_america", "smb | other | emea"]


def test_without_scores_it_falls_back_and_says_so():
    features = feature_rows(6, icp_fit_score=[10.0, 30.0, 50.0, 60.0, 80.0, 90.0],
                            is_customer=[False, False, False, True, True, True],
                            revenue_365d=[0.0, 0.0, 0.0, 1000.0, 2000.0, 3000.0],
                            pricing_page_view_30d=[0.0, 0.0, 4.0, 0.0, 0.0, 0.0])
    result = assign_segments(features, None, SegmentConfig(clustering=SMALL_CLUSTERS))
    frame = result.frame
    assert result.fallback
    assert "fell back to fit and behaviour only" in result.notes[0]
    assert frame["propensity_source"].tolist() == ["behaviour and intent proxy"] * 3 + ["health proxy"] * 3
    assert frame["value_source"].tolist() == ["look-alike customers"] * 3 + ["revenue run-rate"] * 3
    assert frame["value"].tolist() == [2000.0] * 3 + [1000.0, 2000.0, 3000.0]  # prospects: median customer
    assert frame["propensity"].iloc[2] == pytest.approx(12 / 32)  # 4 pricing views x 3 points / (12 + 20)
    assert frame["p_convert"].isna().all()


def test_partial_scores_say_which_model_is_missing():
    features = feature_rows(4, is_customer=[False, False, True, True], icp_fit_score=[1.0, 2.0, 3.0, 4.0])
    scores = pd.DataFrame({"account_id": features["account_id"], "p_win": [0.2, 0.4, np.nan, np.nan]})
    result = assign_segments(features, scores, SegmentConfig(clustering=SMALL_CLUSTERS))
    assert not result.fallback
    assert result.notes == ("no p_churn, cltv_pred scores: those parts use the fit-and-behaviour fallback",)
    assert result.frame["propensity"].iloc[:2].tolist() == [0.2, 0.4]


def test_a_rule_naming_an_unknown_feature_is_a_config_error_with_close_names():
    tiers = RuleList(rules=(SegmentRule(name="hot_intent", label="Tier 1",
                                        all_of=(Condition(column="intent_maxx", op=">=", value=50),)),), default="Tier 3")
    with pytest.raises(ConfigError, match=r"tiers rule 'hot_intent' reads unknown feature 'intent_maxx'.*intent_max"):
        assign_segments(feature_rows(4), None, SegmentConfig(tiers=tiers, clustering=SMALL_CLUSTERS))


def test_an_unknown_clustering_feature_is_a_config_error():
    with pytest.raises(ConfigError, match=r"clustering.features reads unknown feature 'employes'"):
        assign_segments(feature_rows(4), None, SegmentConfig(clustering=ClusterConfig(features=("employes",))))


@pytest.mark.parametrize("condition", [
    {"column": "fit", "op": ">="},
    {"column": "fit", "op": ">=", "value": 1, "quantile": 0.5},
    {"column": "industry", "op": "in"},
    {"column": "fit", "op": ">=", "value": 1, "extra": 1},
])
def test_malformed_conditions_are_rejected(condition):
    with pytest.raises(ValidationError):
        Condition.model_validate(condition)


def test_a_yaml_config_is_read_and_a_bad_field_names_the_file(tmp_path):
    good = tmp_path / "segments.yaml"
    good.write_text(
        "tiers:\n"
        "  default: Tier 3\n"
        "  rules:\n"
        "    - {name: hot, label: Tier 1, all_of: [{column: intent_max, op: '>=', value: 60}]}\n"
        "clustering: {k: 3}\n"
    )
    config = load_segment_config(good)
    assert config.tiers.rules[0].all_of[0].value == 60 and config.clustering.k == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("clustering: {k_range: 5}\n")
    with pytest.raises(ConfigError, match=r"(?s)bad.yaml.*clustering.k_range"):
        load_segment_config(bad)


def test_a_former_customer_is_not_labelled_a_prospect():
    """Before, every account not paying now was a 'prospect', including one that had won four deals."""
    features = feature_rows(4, is_customer=[True, False, False, False], won_deals=[1.0, 4.0, 0.0, 0.0],
                            customer_tenure_days=[400.0, np.nan, 800.0, np.nan], icp_fit_score=[10.0, 40.0, 70.0, 90.0])
    frame = assign_segments(features, None, SegmentConfig(clustering=SMALL_CLUSTERS)).frame
    assert frame["customer_status"].tolist() == ["customer", "former customer", "former customer", "prospect"]


def test_a_proxy_never_says_no_chance_or_certain():
    """Issue 21: no model scores a former customer, so its propensity is the behaviour-and-intent proxy, which was
    exactly 0 without recent behaviour (69 former customers at 0.0 in the demo's ranked list); a customer without a
    churn score and without bad news had a chance to stay of exactly 1."""
    features = feature_rows(4, is_customer=[False, False, True, True], won_deals=[3.0, 0.0, 1.0, 1.0],
                            customer_tenure_days=[700.0, np.nan, 400.0, 400.0], pricing_page_view_30d=[0.0, 4.0, 0, 0],
                            support_ticket_30d=[0.0, 0.0, 0.0, 2.0], icp_fit_score=[20.0, 40.0, 60.0, 80.0])
    frame = assign_segments(features, None, SegmentConfig(clustering=SMALL_CLUSTERS)).frame
    assert frame["customer_status"].tolist() == ["former customer", "prospect", "customer", "customer"]
    assert frame["propensity"].tolist() == pytest.approx([0.001, 12 / 32, 0.999, 3 / 5])  # floor, as before, ceiling
    scores = pd.DataFrame({"account_id": features["account_id"], "p_win": [np.nan, 0.2, np.nan, np.nan],
                           "p_churn": [np.nan, np.nan, 0.3, 0.1]})
    frame = assign_segments(features, scores, SegmentConfig(clustering=SMALL_CLUSTERS)).frame
    assert frame["propensity"].tolist() == pytest.approx([0.001, 0.2, 0.7, 0.9])
    assert frame["propensity_source"].iloc[0] == "behaviour and intent proxy"
