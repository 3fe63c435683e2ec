"""The online store's freshness: a store whose features were written longer ago than the configured age is a warning
(the nightly ``b2bscore score`` did not run, or failed), so scores by id would rest on old features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from b2bscore.home import ProjectHome
from b2bscore.serving.online import OnlineFeatures, StoreLocation


@dataclass(frozen=True)
class StoreFreshness:
    """``status``: ``ok``, ``warn`` (older than ``max_age_hours``, or unreadable) or ``not_judged`` (no store, or the
    store is off); ``detail`` says why in a sentence."""

    status: str
    detail: str
    max_age_hours: float
    generation: str | None = None
    as_of: str | None = None
    written_at: str | None = None
    age_hours: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status, "detail": self.detail, "max_age_hours": self.max_age_hours,
                "generation": self.generation, "as_of": self.as_of, "written_at": self.written_at,
                "age_hours": None if self.age_hours is None else round(self.age_hours, 2)}


def check_store_freshness(home: ProjectHome, location: StoreLocation, *, now: pd.Timestamp,
                          max_age_hours: float) -> StoreFreshness:
    """How old the published generation of the online store is at ``now`` (UTC), against ``max_age_hours``."""
    if not location.enabled:
        return StoreFreshness("not_judged", "the online store is off", max_age_hours)
    online = OnlineFeatures(home, location)
    online.refresh()
    if online.manifest is None:
        status = "warn" if "unreachable" in (online.problem or "") or "cannot be read" in (online.problem or "") \
            else "not_judged"
        return StoreFreshness(status, online.problem or "no online store yet", max_age_hours)
    moment = pd.Timestamp(now)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    age = online.age_seconds(moment.to_pydatetime()) / 3600
    manifest = online.manifest
    fields = dict(generation=manifest["generation"], as_of=manifest["as_of"], written_at=manifest["written_at"],
                  age_hours=age)
    if age > max_age_hours:
        return StoreFreshness("warn", f"the online store's features were written {age:.1f} hours ago "
                              f"({_when(manifest['written_at'])}), more than {max_age_hours:g}: scores by id rest on "
                              f"features as of {manifest['as_of']}; run `b2bscore score`", max_age_hours, **fields)
    return StoreFreshness("ok", f"the online store's features were written {age:.1f} hours ago (as of "
                          f"{manifest['as_of']})", max_age_hours, **fields)


def _when(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")
