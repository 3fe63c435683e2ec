"""What the CSV files show of a probability: 3 decimals, but never 0 or 1 for a chance strictly between them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from b2bscore.model.scoring import shown_probability, shown_score
from b2bscore.serving.batch import crm_text


def test_a_small_chance_is_not_shown_as_none_nor_a_large_one_as_certain():
    values = np.array([0.00023, 0.0004, 0.0005, 0.1234, 0.5, 0.99971, 0.9996])
    shown = shown_probability(values)
    np.testing.assert_allclose(shown, [0.0002, 0.0004, 0.0005, 0.123, 0.5, 0.9997, 0.9996])
    assert ((shown > 0) & (shown < 1)).all()
    np.testing.assert_array_equal(shown_probability([0.0, 1.0]), [0.0, 1.0])  # an exact 0 or 1 stays what it is
    assert np.isnan(shown_probability([np.nan])[0])


def test_the_crm_file_keeps_a_small_chance_visible():
    frame = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "probability": [0.00031, 0.4567, 0.000001]})
    shown = crm_text(frame)
    assert shown["probability"].tolist() == [0.0003, 0.457, 0.0001]
    assert "e-" not in shown.to_csv(index=False)  # plain decimals, as a CRM imports them


def test_a_score_is_never_0_or_100_for_a_chance_strictly_between():
    """The 0-100 score was the percentage rounded: 387 of the demo's 1,304 prospects had propensity score 0."""
    values = np.array([0.0, 0.0001, 0.004, 0.005, 0.3049, 0.994, 0.996, 0.99999, 1.0])
    np.testing.assert_array_equal(shown_score(values), [0, 1, 1, 1, 30, 99, 99, 99, 100])
