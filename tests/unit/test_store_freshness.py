"""The monitor's check of the online store's age: older than the configured age is a warning, with its age."""

from __future__ import annotations

import json

import pandas as pd

from b2bscore.home import ProjectHome
from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.freshness import check_store_freshness
from b2bscore.monitoring.result import MonitorResult
from b2bscore.serving.online import MANIFEST, StoreLocation


def _home_with_store(tmp_path, written_at: str) -> ProjectHome:
    home = ProjectHome(tmp_path)
    home.online_store_dir.mkdir(parents=True)
    (home.online_store_dir / MANIFEST).write_text(json.dumps({
        "generation": "g1", "store": "sqlite", "as_of": "2026-01-01T00:00:00", "written_at": written_at,
        "views": {}, "tasks": {}}))
    return home


def test_a_store_older_than_the_age_is_a_warning(tmp_path):
    home = _home_with_store(tmp_path, "2026-01-01T02:00:00+00:00")
    fresh = check_store_freshness(home, StoreLocation(), now=pd.Timestamp("2026-01-02T01:00:00"), max_age_hours=36)
    assert fresh.status == "ok" and fresh.age_hours == 23
    stale = check_store_freshness(home, StoreLocation(), now=pd.Timestamp("2026-01-03T15:00:00"), max_age_hours=36)
    assert stale.status == "warn" and stale.age_hours == 61
    assert "61.0 hours ago" in stale.detail and "b2bscore score" in stale.detail
    result = MonitorResult(as_of=pd.Timestamp("2026-01-01"), checked_at=pd.Timestamp("2026-01-03"),
                           config=MonitorConfig(), tasks=(), store=stale)
    assert result.status == "warn" and result.to_dict()["online_store"]["status"] == "warn"


def test_no_store_or_a_store_turned_off_is_not_judged(tmp_path):
    now = pd.Timestamp("2026-01-02")
    assert check_store_freshness(ProjectHome(tmp_path), StoreLocation(), now=now, max_age_hours=36).status == "not_judged"
    off = check_store_freshness(ProjectHome(tmp_path), StoreLocation("off"), now=now, max_age_hours=36)
    assert off.status == "not_judged"
    result = MonitorResult(as_of=now, checked_at=now, config=MonitorConfig(), tasks=(), store=off)
    assert result.status == "not_judged"


def test_the_age_is_configurable_and_checked():
    assert MonitorConfig(online_store_max_age="2d").online_store_max_age == "2d"
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="online_store_max_age"):
        MonitorConfig(online_store_max_age="soon")
