"""kill -9 of ``b2bscore score`` while it writes the online store's new generation (issue 18): the service keeps
reading the previous generation, whole, and the next run publishes a new one and removes the dead one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from conftest import copy_home
from faultkit import cli, crash

from b2bscore.serving.byid import ByIdScoring
from b2bscore.serving.online import MANIFEST, OnlineFeatures, StoreLocation
from b2bscore.serving.store import ModelStore


def _by_id(home, ids: list[str]) -> list[float]:
    store = ModelStore(home)
    assert store.refresh()
    online = OnlineFeatures(home, StoreLocation())
    assert online.refresh()
    found, _, problem = ByIdScoring(online).leads(store.snapshot.scorers["conversion"], ids)
    assert problem is None and None not in found
    return [r["probability"] for r in found]


def test_a_run_killed_while_writing_the_store_leaves_the_previous_generation_served(trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    args = ("score", "--data", trained_world.world, "--out", tmp_path / "out" / "scores.parquet", "--home", home.root,
            "--no-log")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    manifest = (home.online_store_dir / MANIFEST).read_text()
    published = json.loads(manifest)["generation"]
    leads = pd.read_parquet(tmp_path / "out" / "scores-leads.parquet")
    ids = list(leads["lead_id"])

    killed = crash("score:online-store-second-view", *args)  # one view written, the next one under way
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (home.online_store_dir / MANIFEST).read_text() == manifest  # nothing half-written is published
    dead = [p.name for p in home.online_store_dir.iterdir() if p.is_dir() and p.name != published]
    assert len(dead) == 1  # the killed run's generation, never named in the manifest
    assert np.array_equal(_by_id(home, ids), leads["probability"].to_numpy())

    rerun = cli(*args)
    assert rerun.exit_code == 0, rerun.output
    now = json.loads((home.online_store_dir / MANIFEST).read_text())["generation"]
    assert now not in (published, dead[0])
    assert sorted(p.name for p in home.online_store_dir.iterdir() if p.is_dir()) == sorted([published, now])
    assert np.array_equal(_by_id(home, ids), leads["probability"].to_numpy())
