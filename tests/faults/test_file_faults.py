"""kill -9 of a real ``b2bscore`` process while it writes its outputs, then a rerun that must find clean files,
report the right counts, lose no rows and leave nothing behind (issue 13). The scenarios are in ``faultkit.py``,
shared with ``benchmarks/reliability.py``."""

from __future__ import annotations

import pytest
from conftest import copy_home
from faultkit import SCENARIOS


@pytest.mark.parametrize("name", ["score-poll", "score-chunk", "features", "segment", "monitor"])
def test_a_killed_run_leaves_nothing_that_the_rerun_trips_on(name, trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    outcome = SCENARIOS[name](trained_world.world, home.root, tmp_path)
    assert outcome.killed == outcome.kills > 0
    assert outcome.problems == []
    assert outcome.rows_lost == 0
