"""The refresh diff: transition counts, who moved, and the main reason in plain language."""

from __future__ import annotations

import pandas as pd

from b2bscore.segments import diff_assignments

KINDS = ("tier", "technographic_segment")


def snapshot(rows: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rows: (account_id, tier, technographic, fit, uses_competitor, intent_surging_topics)."""
    frame = pd.DataFrame(rows, columns=["account_id", "tier", "technographic_segment", "fit", "uses_competitor",
                                        "intent_surging_topics"])
    features = frame[["account_id", "uses_competitor", "intent_surging_topics"]].assign(activity_total_30d=5.0)
    return frame[["account_id", "tier", "technographic_segment", "fit"]], features


PREVIOUS = snapshot([
    ("A1", "Tier 2", "other", 70.0, False, 0.0),
    ("A2", "Tier 3", "other", 50.0, False, 0.0),
    ("A3", "Tier 1", "other", 90.0, False, 1.0),
    ("A4", "Tier 3", "other", 20.0, False, 0.0),
])
CURRENT = snapshot([
    ("A1", "Tier 3", "competitor user", 55.0, True, 0.0),
    ("A2", "Tier 2", "other", 50.0, False, 3.0),
    ("A3", "Tier 1", "other", 90.0, False, 1.0),
    ("A5", "Tier 1", "other", 95.0, False, 2.0),
])


def diff():
    return diff_assignments(PREVIOUS[0], CURRENT[0], PREVIOUS[1], CURRENT[1], kinds=KINDS)


def test_counts_transitions_and_new_and_removed_accounts():
    result = diff()
    assert result.compared_accounts == 3
    assert result.new_accounts == ("A5",) and result.removed_accounts == ("A4",)
    assert result.moved_counts == {"tier": 2, "technographic_segment": 1}
    tiers = result.transitions["tier"]
    assert tiers.loc["Tier 2", "Tier 3"] == 1 and tiers.loc["Tier 3", "Tier 2"] == 1 and tiers.loc["Tier 1", "Tier 1"] == 1
    assert int(tiers.to_numpy().sum()) == 3


def test_each_moved_account_gets_its_main_reason():
    moved = diff().moved
    assert moved.to_dict(orient="records") == [
        {"account_id": "A1", "kind": "tier", "previous": "Tier 2", "current": "Tier 3",
         "reason": "fit dropped: switched to a competitor"},
        {"account_id": "A2", "kind": "tier", "previous": "Tier 3", "current": "Tier 2",
         "reason": "intent surge on 3 topics"},
        {"account_id": "A1", "kind": "technographic_segment", "previous": "other", "current": "competitor user",
         "reason": "fit dropped: switched to a competitor"},
    ]


def test_renders_and_serialises():
    result = diff()
    text = result.render()
    assert "A2 tier: Tier 3 -> Tier 2 -- intent surge on 3 topics" in text
    assert result.to_dict()["transitions"]["tier"]["Tier 2"]["Tier 3"] == 1


def test_reasons_agree_with_the_direction_of_a_tier_move():
    import numpy as np
    import pandas as pd

    from b2bscore.segments._changes import main_reasons

    before = pd.DataFrame({"fit": [80.0, 80.0, 80.0], "intent_surging_topics": [0.0, 0.0, 0.0]})
    after = pd.DataFrame({"fit": [50.0, 50.0, 50.0], "intent_surging_topics": [3.0, 3.0, 3.0]})
    # the fit drop is the larger change, but only a downgrade may be explained by it
    up, down, lateral = main_reasons(before, after, np.array([1, -1, 0]))
    assert up == "intent surge on 3 topics"
    assert down.startswith("fit dropped")
    assert lateral.startswith("fit dropped")


def test_a_change_of_customer_status_explains_only_a_move_that_points_the_same_way():
    """The demo read "Tier 2 -> Tier 1: stopped paying (churned)" and "Tier 2 -> Tier 3: became a customer". A churned
    account is tiered among prospects afterwards, so it may move either way; a move up is never explained by the
    churn, nor a move down by the new contract."""
    import numpy as np

    from b2bscore.segments._changes import main_reasons

    before = pd.DataFrame({"is_customer": [True, True, False, False], "demo_request_30d": [0.0, 0.0, 0.0, 0.0],
                           "activity_total_30d": [5.0, 5.0, 5.0, 5.0]})
    after = pd.DataFrame({"is_customer": [False, False, True, True], "demo_request_30d": [5.0, 0.0, 0.0, 0.0],
                          "activity_total_30d": [5.0, 5.0, 5.0, 5.0]})
    up_churned, down_churned, up_won, down_won = main_reasons(before, after, np.array([1, -1, 1, -1]))
    assert down_churned == "stopped paying → now a former customer"
    assert up_won == "became a customer → now in the customer list"
    assert "stopped paying" not in up_churned and up_churned == "requested a demo (5 in 30 days)"
    assert "became a customer" not in down_won
    assert down_won == "now ranked among customers, against whom it scores lower"


def test_a_rise_in_propensity_never_explains_a_move_down():
    """Seen on the demo's refresh: "Tier 2 -> Tier 3: propensity rose 35% -> 41%". Propensity is the chance to
    convert (prospects) or to stay (customers): a rise is good news, so it explains only a move up, and it is not
    compared across a change of customer status, where it changes meaning."""
    import numpy as np

    from b2bscore.segments._changes import main_reasons

    before = pd.DataFrame({"propensity": [0.2, 0.2, 0.9, 0.5, 0.5], "is_customer": [False, False, True, False, False]})
    after = pd.DataFrame({"propensity": [0.6, 0.6, 0.1, 0.5, 0.5], "is_customer": [False, False, False, False, False]})
    down, up, churned, *_ = main_reasons(before, after, np.array([-1, 1, -1, 0, 0]))
    assert "propensity rose" not in down
    assert up == "propensity rose 20% -> 60%"
    assert churned == "stopped paying → now a former customer"
