"""Detection on generated worlds: a champion trained on a world without drift, checked against the same process.

``channel_shift`` dries up the paid-search channel and grows events from 2025-01-01: those lead-source segments
must alert while the untouched sources stay ok; worlds of the same process with other seeds must not alert.
Then the whole loop once: alert -> webhook (unreachable, then a receiver on 127.0.0.1) -> segment refresh with
the trigger recorded -> a retrained challenger -> recovery announced once the data is healthy again.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from b2bscore.model.champions import load_champions
from b2bscore.data.load import load_dataset
from b2bscore.monitoring import MonitorConfig, run_monitor
from b2bscore.monitoring.check import check_task
from b2bscore.segments.store import SegmentStore
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.model.tracking import activate, resolve_tracking
from conftest import copy_home
from conftest import WebhookReceiver, free_port

pytestmark = pytest.mark.slow  # trains and checks several generated worlds

AS_OF = pd.Timestamp("2026-01-01")
ACCOUNTS = 1200
CONVERSION = MonitorConfig.model_validate({"tasks": ["conversion"], "source": "data",
                                           "segments": {"columns": ["lead_source", "industry", "region"]}})
UNTOUCHED_SOURCES = ("organic", "outbound", "referral", "partner", "content_syndication")


@pytest.fixture(scope="module")
def worlds(trained_world, tmp_path_factory):
    """Worlds of the trained-on world's process (36 months; 1,200 accounts so that a 90-day window holds enough
    leads): one with the channel shift, two without drift."""
    root = tmp_path_factory.mktemp("monitoring-worlds")
    out = {"shift": root / "shift", 6: root / "seed6", 7: root / "seed7"}
    generate_world(WorldConfig(accounts=ACCOUNTS, seed=5, months=36, drift="channel_shift"), out["shift"])
    for seed in (6, 7):
        generate_world(WorldConfig(accounts=ACCOUNTS, seed=seed, months=36), out[seed])
    return out


@pytest.fixture(scope="module")
def conversion(trained_world):
    return load_champions(activate(resolve_tracking(trained_world.home)))["conversion"]


def _check(champion, world, home):
    data = load_dataset(world)[0].known_before(AS_OF)
    check, _ = check_task(champion, data, as_of=AS_OF, now=AS_OF, config=CONVERSION, assignments=SegmentStore.of(home).labels())
    return {s.name: s for s in check.segments}


def test_channel_shift_alerts_in_the_touched_sources_and_not_elsewhere(worlds, conversion, trained_world):
    segments = _check(conversion, worlds["shift"], trained_world.home)
    dried = segments["lead_source=paid_search"]
    assert dried.status == "alert" and dried.findings[0].rule == "segment_share"
    assert dried.share.current < 0.4 * dried.share.reference
    assert segments["lead_source=events"].status in ("warn", "alert")
    assert segments["lead_source=events"].share.current > 1.4 * segments["lead_source=events"].share.reference
    for source in UNTOUCHED_SOURCES:
        assert segments[f"lead_source={source}"].status in ("ok", "not_judged"), segments[f"lead_source={source}"].findings
    assert not [s.name for s in segments.values() if s.column != "lead_source" and s.status == "alert"]


@pytest.mark.parametrize("which", [6, 7, "trained-on"])
def test_worlds_without_drift_raise_no_alert(worlds, conversion, trained_world, which):
    world = trained_world.world if which == "trained-on" else worlds[which]
    segments = _check(conversion, world, trained_world.home)
    assert not [(s.name, [f.text for f in s.findings]) for s in segments.values() if s.status == "alert"]
    assert sum(s.status == "ok" for s in segments.values()) >= 0.7 * sum(s.status != "not_judged" for s in segments.values())


def test_the_loop_alert_webhook_refresh_challenger_recovery(worlds, trained_world, tmp_path):
    home = copy_home(trained_world.home, tmp_path / "home")
    base = CONVERSION.model_dump()
    closed = MonitorConfig.model_validate({**base, "webhook": {"url": f"http://127.0.0.1:{free_port()}/hook",
                                                               "retries": 1, "backoff_s": 0.01, "timeout_s": 1},
                                           "refresh": {"retrain": True}})
    waits: list[float] = []
    first = run_monitor(worlds["shift"], home=home, config=closed, now=pd.Timestamp("2026-01-02", tz="UTC"),
                        sleep=waits.append)
    assert first.result.status == "alert" and first.exit_code == 3  # alert found, but not delivered
    assert not first.delivery.delivered and first.delivery.attempts == 2 and waits == [0.01]
    state = json.loads((home.root / "monitoring" / "alert-state.json").read_text())
    assert state["segments"]["conversion/lead_source=paid_search"]["announced"] is False
    # the refresh ran regardless: a segmentation version recording the trigger, and a challenger
    store = SegmentStore.of(home)
    version = store.latest()
    assert version == first.refresh.segment_version
    assert "conversion/lead_source=paid_search" in store.manifest(version)["trigger"]
    client = activate(resolve_tracking(home))
    assert str(client.get_model_version_by_alias("b2bscore-conversion", "champion").version) == "1"
    challenger = client.get_model_version_by_alias("b2bscore-conversion", "challenger")
    assert str(challenger.version) == "2" and "paid_search" in challenger.tags["trigger"]
    assert first.refresh.retrained[0].startswith("b2bscore-conversion v2 (challenger)")

    with WebhookReceiver() as receiver:
        config = MonitorConfig.model_validate({**base, "webhook": {"url": receiver.url}, "refresh": {"retrain": True}})
        second = run_monitor(worlds["shift"], home=home, config=config, now=pd.Timestamp("2026-01-03", tz="UTC"))
        assert second.exit_code == 1 and second.delivery.delivered  # the pending alert goes out now
        assert second.refresh.trigger is None  # already refreshed for this alert
        (message,) = receiver.bodies
        assert "conversion / lead_source=paid_search" in message["text"]
        assert {e["segment"] for e in message["events"] if e["kind"] == "alert"} >= {"lead_source=paid_search"}
        third = run_monitor(worlds[6], home=home, config=config, now=pd.Timestamp("2026-01-04", tz="UTC"))
        assert third.result.status != "alert" and third.exit_code == 0
        recovered = receiver.bodies[-1]
        assert len(receiver.bodies) == 2 and "recovered" in recovered["text"]
        assert {e["kind"] for e in recovered["events"]} == {"recovery"}
    assert json.loads((home.root / "monitoring" / "alert-state.json").read_text())["segments"] == {}
