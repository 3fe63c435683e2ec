"""Reasons a salesperson believes: values in business units, headings that say what 'for' means for each task, and
no feature shown on the side its declared direction rules out."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from b2bscore.features import FeatureConfig, FeatureSpec, feature_specs
from b2bscore.model.tasks import TASK_NAMES
from b2bscore.serving.reasons import HEADINGS, ReasonWriter, format_value


@pytest.mark.parametrize("value, unit, log, text", [
    (38_000.0, "money", False, "$38K"),
    (1_234_567.0, "money", False, "$1.2M"),
    (950.4, "money", False, "$950"),
    (9_999.0, "money", False, "$10K"),
    (2_500_000_000.0, "money", False, "$2.5B"),
    (-4_200.0, "money", False, "-$4.2K"),
    (math.log1p(11_300_000.0), "money", True, "$11M"),  # stored as the log of annual revenue
    (math.log1p(250.0), "count", True, "250"),  # employees, stored as a log
    (57.95, "days", False, "58"),
    (12.4, "years", False, "12"),
    (3.0, "count", False, "3"),
    (1_204.0, "count", False, "1,204"),
    (0.256, "percent", False, "26%"),
    (math.log(1.35), "change", False, "+35%"),
    (math.log(0.4), "change", False, "-60%"),
    (0.001, "change", False, "no change"),
    (1.67, "score", False, "2"),
    (71.5, "score", False, "72"),
    (2.37, "number", False, "2.4"),
    (2.0, "number", False, "2"),
    (float("nan"), "money", False, "none"),
    (True, None, False, "yes"),
])
def test_values_read_in_business_units(value, unit, log, text):
    assert format_value(value, unit=unit, log=log) == text


def test_no_model_input_is_shown_as_a_log_and_every_number_declares_a_unit():
    for entity in ("lead", "account"):
        for spec in feature_specs(FeatureConfig(), entity):
            assert not re.search(r"\blog\b", spec.description.lower()), spec
            if spec.dtype in ("float", "int") and spec.model_input:
                assert spec.unit is not None, spec


def test_directions_are_declared_for_known_tasks_on_numbers_only():
    declared = [s for e in ("lead", "account") for s in feature_specs(FeatureConfig(), e) if s.effect]
    assert {task for s in declared for task, _ in s.effect} <= set(TASK_NAMES)
    by_name = {s.name: s for s in declared}
    assert by_name["demo_request_7d"].direction("conversion") == "up"
    assert by_name["icp_fit_score"].direction("conversion") == "up"
    assert by_name["support_ticket_30d"].direction("churn") == "up"
    assert by_name["product_usage_minutes_30d"].direction("churn") == "down"
    assert by_name["demo_request_7d"].direction("churn") is None
    with pytest.raises(ValueError, match="only a numeric feature"):
        FeatureSpec("industry", "firmographic", "category", "Industry", effect={"conversion": "up"})
    with pytest.raises(ValueError, match="choose 'up' or 'down'"):
        FeatureSpec("x", "behavioural", "float", "X", effect={"conversion": "higher"})
    assert hash(by_name["demo_request_7d"])  # a spec stays hashable


def _writer(task: str | None, names: list[str], medians: dict[str, float] | None = None) -> ReasonWriter:
    model = SimpleNamespace(feature_config=FeatureConfig(), entity="account", task_name=task,
                            feature_names_in_=np.array(names, dtype=object))
    if medians is not None:
        model.medians_ = medians
    return ReasonWriter(model)


NAMES = ["demo_request_7d", "support_ticket_30d", "product_usage_minutes_30d", "industry", "log_annual_revenue"]


def test_a_declared_feature_is_a_reason_only_where_its_value_agrees_with_the_side():
    """Few logins raise churn risk, many lower it; a typical count explains nothing; a lead with fewer demo requests
    than is typical may be told so, one with more never hears that its demo requests lower its chance to buy."""
    features = pd.DataFrame({"demo_request_7d": [3.0, 0.0, 1.0, np.nan], "product_login_30d": [5.0, 20.0, 13.0, 2.0]})
    effects = pd.DataFrame({"demo_request_7d": [-0.4, -0.4, 0.4, 0.4], "product_login_30d": [0.5, -0.5, 0.5, -0.5]})
    medians = {"demo_request_7d": 1.0, "product_login_30d": 13.0}
    churn = _writer("churn", ["demo_request_7d", "product_login_30d"], medians)
    explained = churn.explain(features, effects)
    assert [[r.feature for r in up] for up, _ in explained] == [["product_login_30d"], [], ["demo_request_7d"],
                                                                ["demo_request_7d"]]  # 13 logins: typical
    assert [[r.feature for r in down] for _, down in explained] == [["demo_request_7d"], ["product_login_30d",
                                                                    "demo_request_7d"], [], []]  # 2 logins: few
    assert explained[0][0][0].text == "Product logins in the last 30 days: 5"
    conversion = _writer("conversion", ["demo_request_7d", "product_login_30d"], medians)
    explained = conversion.explain(features, effects)
    assert [[r.feature for r in down] for _, down in explained] == [[], ["product_login_30d", "demo_request_7d"],
                                                                    [], ["product_login_30d"]]  # 3 demos: many
    assert [[r.feature for r in up] for up, _ in explained] == [["product_login_30d"], [], ["product_login_30d"],
                                                                ["demo_request_7d"]]


def test_a_model_without_medians_shows_a_declared_feature_on_its_side_only():
    features = pd.DataFrame({"demo_request_7d": [1.0], "support_ticket_30d": [4.0], "product_usage_minutes_30d": [30.0],
                             "industry": ["software"], "log_annual_revenue": [math.log1p(38_000_000.0)]})
    # demo requests: up for conversion, free for churn; support tickets up and usage down for churn
    effects = pd.DataFrame({"demo_request_7d": [-0.9], "support_ticket_30d": [-0.5], "product_usage_minutes_30d": [0.4],
                            "industry": [0.3], "log_annual_revenue": [-0.2]})
    (up, down), = _writer("conversion", NAMES).explain(features, effects)
    assert [r.feature for r in up] == ["product_usage_minutes_30d", "industry"]
    assert [r.feature for r in down] == ["support_ticket_30d", "log_annual_revenue"]  # demo requests left out
    assert down[1].text == "Annual revenue of the company: $38M"
    (up, down), = _writer("churn", NAMES).explain(features, effects)
    assert [r.feature for r in up] == ["industry"]  # usage is declared to lower churn risk
    assert [r.feature for r in down] == ["demo_request_7d", "log_annual_revenue"]  # tickets declared to raise it


def test_headings_say_what_for_and_against_mean_per_task():
    assert _writer("conversion", NAMES).headings == ("raises the chance to buy", "lowers the chance to buy")
    assert _writer("churn", NAMES).headings.raises == "raises churn risk"
    assert _writer("churn", NAMES).headings.lowers == "lowers churn risk"
    assert _writer("cltv", NAMES).headings == ("raises value", "lowers value")
    assert set(HEADINGS) == set(TASK_NAMES)
