"""Alerts without storms: which segments newly alert or recovered since the last check, and their delivery.

The state lives in ``<home>/monitoring/alert-state.json``: one entry per alerting ``task/segment`` with
``announced`` (delivered), ``recovery_pending`` and ``refreshed``. An alert is sent once while it persists;
a recovery is sent once; an undelivered message stays in the state and is sent again by the next check.
Delivery is a JSON POST with a Slack-compatible ``text`` field, retried with exponential back-off.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from b2bscore.io import write_text
from b2bscore.monitoring.config import WebhookConfig
from b2bscore.monitoring.result import MonitorResult

log = logging.getLogger(__name__)
STATE_FILE = "alert-state.json"


@dataclass(frozen=True)
class AlertEvent:
    """A message to send: a segment that started alerting (``alert``) or stopped (``recovery``)."""

    kind: str
    key: str
    since: str
    reasons: tuple[str, ...] = ()

    @property
    def task(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def segment(self) -> str:
        return self.key.split("/", 1)[1]

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "task": self.task, "segment": self.segment, "since": self.since, "reasons": list(self.reasons)}

    def line(self, *, emoji: bool = True) -> str:
        if self.kind == "alert":
            return f"{':rotating_light: ' if emoji else 'ALERT '}{self.task} / {self.segment}: " + "; ".join(self.reasons)
        return (f"{':white_check_mark: ' if emoji else 'RECOVERED '}{self.task} / {self.segment} recovered "
                f"(alerting since {self.since[:10]})")


@dataclass(frozen=True)
class Delivery:
    """What happened to this check's events: ``destination`` is webhook, log or dry-run. All events of a check go
    in one message (one POST, retried ``attempts - 1`` times)."""

    events: tuple[AlertEvent, ...]
    destination: str
    delivered: bool
    attempts: int = 0
    error: str | None = None

    @property
    def messages(self) -> int:
        """Messages this check delivered to the webhook: one for all its events, or none."""
        return int(self.destination == "webhook" and self.delivered and bool(self.events))

    def describe(self) -> str:
        """``1 message (2 alerts, 1 recovery) sent to the webhook``, or what else happened to the events."""
        alerts = sum(e.kind == "alert" for e in self.events)
        recoveries = len(self.events) - alerts
        what = ", ".join(part for part in (_count(alerts, "alert"), _count(recoveries, "recovery", "recoveries"))
                         if part)
        if self.destination == "webhook":
            if self.delivered:
                return f"1 message ({what}) sent to the webhook"
            return (f"1 message ({what}) NOT delivered after {_count(self.attempts, 'attempt')} ({self.error}); "
                    "kept for the next check")
        if self.destination == "dry-run":
            return f"1 message ({what}) would be sent (dry run)"
        if self.destination == "log":
            return f"{what} written to the log (no webhook configured)"
        return "nothing to send"


def _count(n: int, one: str, many: str | None = None) -> str:
    return "" if n == 0 else f"{n} {one if n == 1 else many or one + 's'}"


def read_state(path: Path) -> dict:
    if not path.is_file():
        return {"segments": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def write_state(path: Path, state: dict) -> None:
    """Write the alert state atomically (a fresh temporary name per writer, then a rename)."""
    write_text(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


def plan_alerts(state: dict, result: MonitorResult, now: str) -> tuple[list[AlertEvent], dict]:
    """The messages this check owes, and the state as it is before delivery (segments not judged are left alone)."""
    state = copy.deepcopy(state)
    segments: dict[str, dict] = state.setdefault("segments", {})
    events: list[AlertEvent] = []
    judged = {f"{t.task}/{s.name}": s for t in result.tasks for s in t.segments if s.status != "not_judged"}
    for key, seg in judged.items():
        entry = segments.get(key)
        if seg.status == "alert":
            if entry is None:
                entry = segments[key] = {"since": now, "announced": False, "refreshed": False}
            entry.update(last_seen=now, recovery_pending=False,
                         reasons=[f.text for f in seg.findings if f.level == "alert"])
            if not entry["announced"]:
                events.append(AlertEvent("alert", key, entry["since"], tuple(entry["reasons"])))
        elif entry is not None:
            if entry.get("announced"):
                entry["recovery_pending"] = True
            else:
                del segments[key]  # it recovered before anyone was told: nothing to take back
    for key, entry in segments.items():
        if entry.get("recovery_pending"):
            events.append(AlertEvent("recovery", key, entry["since"]))
    return events, state


def settle(state: dict, events: list[AlertEvent]) -> dict:
    """The state once ``events`` were delivered: alerts announced, recovered segments forgotten."""
    state = copy.deepcopy(state)
    for event in events:
        if event.kind == "alert" and event.key in state["segments"]:
            state["segments"][event.key]["announced"] = True
        elif event.kind == "recovery":
            state["segments"].pop(event.key, None)
    return state


def report_url(report: str | None, base_url: str | None) -> str | None:
    """The summary page's address for a remote reader: ``base_url`` (where the project home's ``monitoring/``
    folder is published) joined with the report's path below ``monitoring/``; None without both."""
    if report is None or base_url is None:
        return None
    below = PurePosixPath(report)
    below = below.relative_to("monitoring") if below.parts[:1] == ("monitoring",) else below
    return base_url.rstrip("/") + "/" + urllib.parse.quote(below.as_posix())


def message(events: list[AlertEvent], result: MonitorResult, report: str | None, *,
            base_url: str | None = None) -> dict[str, object]:
    """The webhook payload: a Slack-compatible ``text`` plus the same facts as fields.

    ``report``: the summary page's path relative to the project home (an absolute local path means nothing to a
    remote receiver); ``report_url`` (only when the webhook config names ``report_base_url``): its address, also
    the one the text links.
    """
    alerts = sum(e.kind == "alert" for e in events)
    recoveries = len(events) - alerts
    head = f"*b2bscore monitor* (as of {result.as_of:%Y-%m-%d}): " + ", ".join(
        part for part in (f"{alerts} segment(s) alerting" if alerts else "", f"{recoveries} recovered" if recoveries else "")
        if part)
    url = report_url(report, base_url)
    text = "\n".join([head, *(f"• {e.line()}" for e in events)] + ([f"report: {url or report}"] if report else []))
    return {"text": text, "source": "b2bscore monitor", "status": result.status, "as_of": result.as_of.isoformat(),
            "events": [e.to_dict() for e in events], "report": report, **({"report_url": url} if url else {})}


def post_webhook(config: WebhookConfig, payload: dict, *,
                 sleep: Callable[[float], None] = time.sleep) -> tuple[bool, int, str | None]:
    """POST ``payload``; retries timeouts, connection errors, 429 and 5xx with back-off. (delivered, attempts, error)."""
    body = json.dumps(payload, default=str).encode("utf-8")
    error = None
    for attempt in range(config.retries + 1):
        if attempt:
            sleep(config.backoff_s * 2 ** (attempt - 1))
        request = urllib.request.Request(config.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "b2bscore-monitor"})
        try:
            with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
                response.read()
            return True, attempt + 1, None
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                return False, attempt + 1, error  # the receiver refused this message: sending it again will not help
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            error = str(getattr(exc, "reason", exc)) or type(exc).__name__
        log.warning("webhook attempt %d of %d failed: %s", attempt + 1, config.retries + 1, error)
    return False, config.retries + 1, error


def deliver(events: list[AlertEvent], result: MonitorResult, config: WebhookConfig, *, report: str | None,
            dry_run: bool = False, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send ``events`` (one message) to the webhook, or only to the log when no url is configured.

    ``report``: the summary page's path relative to the project home (see :func:`message`)."""
    for event in events:
        log.warning("%s", event.line(emoji=False))
    if not events:
        return Delivery((), "none", True)
    if dry_run:
        return Delivery(tuple(events), "dry-run", False)
    if config.url is None:
        return Delivery(tuple(events), "log", True)
    payload = message(events, result, report, base_url=config.report_base_url)
    delivered, attempts, error = post_webhook(config, payload, sleep=sleep)
    return Delivery(tuple(events), "webhook", delivered, attempts, error)
