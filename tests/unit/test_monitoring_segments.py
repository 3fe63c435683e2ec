"""Which segment columns a monitor config may name (monitoring.segments.check_segment_columns)."""

from __future__ import annotations

import pytest

from b2bscore.errors import ConfigError
from b2bscore.features.build import feature_specs
from b2bscore.monitoring.segments import check_segment_columns

CHURN_INPUTS = tuple(s.name for s in feature_specs(entity="account"))
EVERY_FEATURE = tuple(s.name for s in feature_specs(entity="lead"))


def test_a_feature_of_a_model_not_monitored_is_skipped_not_refused():
    """The default columns include lead_source; a churn-only check skips it (as MonitorConfig documents) instead of
    refusing the config (it was: "lead_source is neither a model feature nor a segmentation column")."""
    assert "lead_source" not in CHURN_INPUTS
    check_segment_columns(("tier", "industry", "lead_source"), CHURN_INPUTS, EVERY_FEATURE)


def test_a_misspelt_column_is_refused_naming_it():
    with pytest.raises(ConfigError, match="lead_sorce"):
        check_segment_columns(("lead_sorce",), CHURN_INPUTS, EVERY_FEATURE)
