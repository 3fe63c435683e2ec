"""Alerts without storms, recovery once, the webhook (a real HTTP receiver on 127.0.0.1), refresh triggering."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import WebhookReceiver, free_port

from b2bscore.errors import DataError
from b2bscore.monitoring import alerts
from b2bscore.monitoring.config import MonitorConfig, RefreshConfig, WebhookConfig
from b2bscore.monitoring.refresh import refresh_on_alert
from b2bscore.monitoring.result import Finding, MonitorResult, SegmentResult, TaskCheck


def _segment(name: str, status: str) -> SegmentResult:
    column, value = name.split("=") if "=" in name else ("all", "all")
    findings = (Finding("calibration_gap", "alert", f"realised 0.3 vs predicted 0.1 in {name}"),) if status == "alert" else ()
    return SegmentResult(column, value, 500, 100, 100, (), None, None, status, findings)


def _result(statuses: dict[str, str], day: int = 1) -> MonitorResult:
    segments = tuple(_segment(name, status) for name, status in statuses.items())
    check = TaskCheck("churn", "classification", "b2bscore-churn", "1", "run", "data", None, pd.Timestamp("2026-01-01"),
                      (), segments)
    moment = pd.Timestamp(f"2026-01-{day:02d}")
    return MonitorResult(as_of=moment, checked_at=moment, config=MonitorConfig(), tasks=(check,))


def _cycle(state: dict, statuses: dict[str, str], day: int, delivered: bool = True):
    events, state = alerts.plan_alerts(state, _result(statuses, day), f"2026-01-{day:02d}")
    if delivered:
        state = alerts.settle(state, events)
    return [(e.kind, e.key) for e in events], state


def test_an_alert_is_sent_once_while_it_persists_and_its_recovery_once():
    state: dict = {"segments": {}}
    sent, state = _cycle(state, {"all": "warn", "industry=retail": "alert", "region=emea": "ok"}, 1)
    assert sent == [("alert", "churn/industry=retail")]
    sent, state = _cycle(state, {"all": "warn", "industry=retail": "alert", "region=emea": "ok"}, 2)
    assert sent == []  # persisting: no storm
    sent, state = _cycle(state, {"all": "ok", "industry=retail": "not_judged", "region=emea": "ok"}, 3)
    assert sent == []  # not judged this time: neither alerting nor recovered
    sent, state = _cycle(state, {"all": "ok", "industry=retail": "warn", "region=emea": "ok"}, 4)
    assert sent == [("recovery", "churn/industry=retail")]
    sent, state = _cycle(state, {"all": "ok", "industry=retail": "ok", "region=emea": "ok"}, 5)
    assert sent == [] and state["segments"] == {}
    sent, state = _cycle(state, {"all": "ok", "industry=retail": "alert", "region=emea": "ok"}, 6)
    assert sent == [("alert", "churn/industry=retail")]  # a new episode is news again


def test_undelivered_messages_stay_pending_until_delivered():
    state: dict = {"segments": {}}
    sent, state = _cycle(state, {"industry=retail": "alert"}, 1, delivered=False)
    assert sent == [("alert", "churn/industry=retail")] and not state["segments"]["churn/industry=retail"]["announced"]
    sent, state = _cycle(state, {"industry=retail": "alert"}, 2)
    assert sent == [("alert", "churn/industry=retail")]  # retried, then delivered
    assert state["segments"]["churn/industry=retail"]["since"] == "2026-01-01"
    sent, state = _cycle(state, {"industry=retail": "ok"}, 3, delivered=False)
    sent, state = _cycle(state, {"industry=retail": "not_judged"}, 4)
    assert sent == [("recovery", "churn/industry=retail")] and state["segments"] == {}
    sent, state = _cycle(state, {"industry=software": "alert"}, 5, delivered=False)
    sent, state = _cycle(state, {"industry=software": "ok"}, 6)
    assert sent == [] and state["segments"] == {}  # never announced, so nothing to take back


def test_webhook_posts_slack_compatible_json_and_retries_with_back_off():
    result = _result({"industry=retail": "alert"})
    events, _ = alerts.plan_alerts({"segments": {}}, result, "2026-01-01")
    waits: list[float] = []
    with WebhookReceiver(codes=[503, 500]) as receiver:
        config = WebhookConfig(url=receiver.url, retries=3, backoff_s=0.5, timeout_s=2)
        delivery = alerts.deliver(events, result, config, report="/tmp/summary.html", sleep=waits.append)
    assert delivery.delivered and delivery.attempts == 3 and waits == [0.5, 1.0]
    body = receiver.bodies[-1]
    assert body["text"].startswith("*b2bscore monitor*") and "churn / industry=retail" in body["text"]
    assert body["events"][0] == {"kind": "alert", "task": "churn", "segment": "industry=retail", "since": "2026-01-01",
                                 "reasons": ["realised 0.3 vs predicted 0.1 in industry=retail"]}
    with WebhookReceiver(codes=[400]) as receiver:  # the receiver refuses the message: no retry
        delivery = alerts.deliver(events, result, WebhookConfig(url=receiver.url), report=None, sleep=waits.append)
    assert not delivery.delivered and delivery.attempts == 1 and "HTTP 400" in delivery.error


def test_an_unreachable_webhook_keeps_the_alert_for_the_next_run():
    result = _result({"industry=retail": "alert"})
    events, state = alerts.plan_alerts({"segments": {}}, result, "2026-01-01")
    config = WebhookConfig(url=f"http://127.0.0.1:{free_port()}/hook", retries=2, backoff_s=0.1, timeout_s=1)
    waits: list[float] = []
    delivery = alerts.deliver(events, result, config, report=None, sleep=waits.append)
    assert not delivery.delivered and delivery.attempts == 3 and waits == [0.1, 0.2] and delivery.error
    assert not state["segments"]["churn/industry=retail"]["announced"]
    events, _ = alerts.plan_alerts(state, _result({"industry=retail": "alert"}, 2), "2026-01-02")
    assert [e.kind for e in events] == ["alert"]


def test_refresh_runs_once_per_alert_records_the_trigger_and_plans_in_a_dry_run():
    result = _result({"all": "warn", "industry=retail": "alert", "region=emea": "alert"})
    _, state = alerts.plan_alerts({"segments": {}}, result, "2026-01-01")
    calls: list[tuple] = []

    def segments(trigger):
        calls.append(("segments", trigger))
        return "20260101T000000Z"

    def retrain(task, trigger):
        calls.append(("retrain", task))
        return f"b2bscore-{task} v2 (challenger)"

    planned, same = refresh_on_alert(result, state, config=RefreshConfig(retrain=True), dry_run=True,
                                     refresh_segments=segments, retrain=retrain)
    assert calls == [] and same == state and len(planned.planned) == 2 and "challengers" in planned.planned[1]
    done, state = refresh_on_alert(result, state, config=RefreshConfig(retrain=True), dry_run=False,
                                   refresh_segments=segments, retrain=retrain)
    assert done.segment_version == "20260101T000000Z" and done.retrained == ("b2bscore-churn v2 (challenger)",)
    trigger = calls[0][1]
    assert "churn/industry=retail" in trigger and "churn/region=emea" in trigger and "2026-01-01" in trigger
    again, state = refresh_on_alert(result, state, config=RefreshConfig(retrain=True), dry_run=False,
                                    refresh_segments=segments, retrain=retrain)
    assert again.trigger is None and len(calls) == 2  # the same alerts do not refresh twice


def test_a_failed_refresh_is_reported_and_tried_again():
    result = _result({"industry=retail": "alert"})
    _, state = alerts.plan_alerts({"segments": {}}, result, "2026-01-01")

    def broken(trigger):
        raise DataError("the segmentation needs the accounts table")

    failed, state = refresh_on_alert(result, state, config=RefreshConfig(), dry_run=False, refresh_segments=broken,
                                     retrain=lambda t, why: "")
    assert failed.errors and "segment refresh failed" in failed.errors[0]
    retried, _ = refresh_on_alert(result, state, config=RefreshConfig(), dry_run=False,
                                  refresh_segments=lambda trigger: "v2", retrain=lambda t, why: "")
    assert retried.segment_version == "v2"


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "hooks.slack.com/x"])
def test_a_webhook_url_must_be_http(url):
    with pytest.raises(ValueError, match="must start with http"):
        WebhookConfig(url=url)


def test_one_post_is_one_message_whatever_the_number_of_events():
    """Two segments alerting go out in one POST: the summary said "2 message(s) sent" after one POST."""
    result = _result({"industry=retail": "alert", "industry=software": "alert"})
    events, _ = alerts.plan_alerts({"segments": {}}, result, "2026-01-01")
    with WebhookReceiver(codes=[]) as receiver:
        delivery = alerts.deliver(events, result, WebhookConfig(url=receiver.url), report=None)
    assert len(receiver.bodies) == 1 and len(delivery.events) == 2
    assert delivery.messages == 1 and delivery.describe() == "1 message (2 alerts) sent to the webhook"
    assert alerts.deliver(events, result, WebhookConfig(), report=None).describe() == (
        "2 alerts written to the log (no webhook configured)")
    assert alerts.deliver(events, result, WebhookConfig(), report=None).messages == 0


def test_the_payload_names_the_report_so_that_a_remote_receiver_can_open_it():
    result = _result({"industry=retail": "alert"})
    events, _ = alerts.plan_alerts({"segments": {}}, result, "2026-01-01")
    report = "monitoring/runs/20260101T000000Z/summary.html"  # relative to the project home (monitoring.job)
    plain = alerts.message(events, result, report)
    assert plain["report"] == report and "report_url" not in plain and plain["text"].endswith(f"report: {report}")
    config = WebhookConfig(url="http://127.0.0.1:1/hook", report_base_url="https://reports.example.com/b2bscore/monitoring/")
    linked = alerts.message(events, result, report, base_url=config.report_base_url)
    url = "https://reports.example.com/b2bscore/monitoring/runs/20260101T000000Z/summary.html"
    assert linked["report_url"] == url and linked["text"].endswith(f"report: {url}")
    with pytest.raises(ValueError, match="report_base_url"):
        WebhookConfig(report_base_url="reports.example.com")
