"""kill -9 of ``b2bscore train`` at several points of its MLflow run and its registration: what a user sees (the
service's champion, ``models list``) must not change, ``models list`` settles the leftover (run FAILED, version
abandoned, aliases as before) and a rerun registers normally (issue 13). Scenarios in ``faultkit.py``."""

from __future__ import annotations

import pytest
from conftest import copy_home
from faultkit import SCENARIOS


@pytest.mark.parametrize("name", ["train-model-logged", "train-version-created", "train-before-challenger",
                                  "train-champion-moved"])
def test_a_killed_registration_changes_nothing_a_user_sees(name, trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    outcome = SCENARIOS[name](trained_world.world, home.root, tmp_path)
    assert outcome.killed == outcome.kills > 0
    assert outcome.problems == []
