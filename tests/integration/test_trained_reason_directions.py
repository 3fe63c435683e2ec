"""Trained champions give reasons a salesperson believes: no reason contradicts its feature's declared direction
(more demo requests never argue against buying, more support tickets never argue against churn), the models are
monotone in those features, and values read in business units."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.features import feature_specs
from b2bscore.model.champions import load_champion
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.serving.predict import Scorer, score_account_rows, score_lead_rows


@pytest.fixture(scope="module")
def scored(trained_world):
    """Per task: (scorer, features of the rows it scores, their scores), as of the end of the world's data."""
    dataset = load_dataset(trained_world.world)[0]
    as_of = dataset.end + pd.Timedelta(seconds=1)
    client = activate(resolve_tracking(trained_world.home))
    conversion, churn = (Scorer(load_champion(client, task)) for task in ("conversion", "churn"))
    leads, lead_features = score_lead_rows(conversion, dataset, dataset.open_leads(as_of))
    accounts = pd.DataFrame({"account_id": dataset.accounts["account_id"], "as_of": as_of})
    account_scores, account_features = score_account_rows(churn, None, dataset, accounts)
    customers = account_features["is_customer"].to_numpy(dtype=bool)
    return {"conversion": (conversion, lead_features, leads),
            "churn": (churn, account_features[customers].reset_index(drop=True),
                      account_scores[customers].reset_index(drop=True))}


def _directions(scorer: Scorer, task: str) -> dict[str, str]:
    model = scorer.champion.model
    specs = feature_specs(model.feature_config, model.entity)
    return {s.name: s.direction(task) for s in specs if s.direction(task) and s.name in set(model.feature_names_in_)}


@pytest.mark.parametrize("task", ["conversion", "churn"])
def test_no_reason_contradicts_its_declared_direction(scored, task):
    """A declared feature argues for (raises what the task predicts) only with a value on its raising side of the
    typical (training median) value -- more demo requests than usual, fewer product logins than usual for churn --
    and against only with one on its lowering side; so 'Demo requests: 1' never lowers the chance to buy when
    leads typically make none, and a few logins can raise churn risk."""
    scorer, features, _ = scored[task]
    assert len(features) >= 20
    model = scorer.champion.model
    directions = _directions(scorer, task)
    assert directions, f"no direction is declared for {task}"
    sign = {"up": 1, "down": -1}
    explained = scorer.reasons.explain(features, model.contributions(features))
    shown = []
    for i, (up, down) in enumerate(explained):
        for reasons, side in ((up, 1), (down, -1)):
            for r in (r for r in reasons if r.feature in directions):
                value = float(features[r.feature].iloc[i])
                agrees = np.isnan(value) or np.sign(value - model.medians_[r.feature]) * sign[directions[r.feature]] == side
                assert agrees, (r.text, "for" if side > 0 else "against", directions[r.feature], model.medians_[r.feature])
                shown.append(r.feature)
    assert shown, "no declared feature is ever a reason: the check would be empty"


@pytest.mark.parametrize("task", ["conversion", "churn"])
def test_the_registered_candidate_is_monotone_in_each_declared_feature(scored, task):
    """Whatever candidate won (trees, baseline or a blend), raising a declared feature moves the score its way."""
    scorer, features, _ = scored[task]
    model = scorer.champion.model
    for name, direction in _directions(scorer, task).items():
        values = features[name].to_numpy(dtype=np.float64)
        step = max(1.0, float(np.nanstd(values)))
        before = model.raw_score(features)
        after = model.raw_score(features.assign(**{name: values + step}))
        moved = (after - before) if direction == "up" else (before - after)
        assert (moved >= -1e-9).all(), (name, direction, float(moved.min()))


def test_reasons_show_values_in_business_units_under_their_task_headings(scored):
    conversion, _, leads = scored["conversion"]
    churn, _, accounts = scored["churn"]
    assert conversion.reasons.headings == ("raises the chance to buy", "lowers the chance to buy")
    assert churn.reasons.headings == ("raises churn risk", "lowers churn risk")
    assert set(leads["grade"]) <= set("ABCD") and set(accounts["churn_risk_level"]) <= {"high", "medium", "low"}
    texts = [t for frame in (leads, accounts) for column in ("reasons_for", "reasons_against")
             for cell in frame[column] for t in json.loads(cell)]
    assert texts
    for text in texts:
        assert not re.search(r"\blog\b", text.split(": ")[0].lower()), text
        if text.startswith(("Annual revenue", "Revenue invoiced", "Total value of deals")):
            assert text.split(": ")[1].lstrip("-").startswith("$") or text.endswith(": none"), text
        if text.startswith("Days since"):
            assert text.split(": ")[1].replace(",", "").isdigit() or text.endswith(": none"), text
