"""``backtest_tiers``: did the tiers order what they promise, in the days *after* the segmentation date?

Tiers are drawn from what was known before ``as_of``; when the data runs on past ``as_of + horizon_days``,
what happened next is the evidence that Tier 1 beats Tier 2 beats Tier 3. Over ``[as_of, as_of + horizon_days)``,
per tier:

* ``conversion_rate``: the share of its prospects (every account not a ``customer`` at ``as_of``, former customers
  included, as the KPIs count them) that won a deal;
* ``revenue_per_account``: revenue invoiced per account of the tier (prospects and customers alike);
* ``churn_rate``: the share of its customers at ``as_of`` that paid nothing in the window (the job's default
  horizon and ``churn_lookback_days`` are both 90 days, so this is the KPIs' churn, measured 90 days on).

Conversion and revenue are *ordered* when they fall from each tier to the next; churn when it rises.
Frames in, a typed result out; nothing is written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError

DAY = pd.Timedelta(days=1)
OUTCOMES: dict[str, str] = {"conversion_rate": "higher", "revenue_per_account": "higher", "churn_rate": "lower"}
"""Each backtested outcome and which way a better tier should point."""
_LABELS = {"conversion_rate": "conversion", "revenue_per_account": "revenue per account", "churn_rate": "churn"}


@dataclass(frozen=True)
class TierBacktest:
    """The tiers' outcomes after ``as_of``. ``available`` is False when the data ends before ``as_of + horizon_days``;
    ``days_to_wait`` then says how many more days of data the backtest needs. ``rows``: one row per tier (in tier
    order) with ``accounts``, ``prospects``, ``converted``, ``conversion_rate``, ``revenue``,
    ``revenue_per_account``, ``customers``, ``churned`` and ``churn_rate`` (NaN where a tier has no such account).
    ``ordered[outcome]``: True / False when judged, None when a tier lacks the figure."""

    as_of: pd.Timestamp
    horizon_days: int
    data_end: pd.Timestamp
    available: bool
    days_to_wait: int
    rows: pd.DataFrame
    ordered: dict[str, bool | None]

    @property
    def window_end(self) -> pd.Timestamp:
        return self.as_of + self.horizon_days * DAY

    def verdict(self) -> str:
        """One plain sentence: whether the tiers ordered each outcome, or when the backtest becomes possible."""
        if not self.available:
            return (f"Backtest not possible yet: the data ends on {self.data_end:%Y-%m-%d}, and the tiers' outcomes "
                    f"need {self.horizon_days} days after {self.as_of:%Y-%m-%d}. It will be possible after "
                    f"{self.days_to_wait} more day{'s' if self.days_to_wait != 1 else ''} of data.")
        tiers = " > ".join(map(str, self.rows["tier"]))
        good = [_LABELS[k] for k, v in self.ordered.items() if v]
        bad = [_LABELS[k] for k, v in self.ordered.items() if v is False]
        unknown = [_LABELS[k] for k, v in self.ordered.items() if v is None]
        parts = []
        if good and not bad:
            parts.append(f"The tiers are ordered ({tiers}) on {_join(good)} in the {self.horizon_days} days after "
                         f"{self.as_of:%Y-%m-%d}.")
        elif good:
            parts.append(f"The tiers are ordered ({tiers}) on {_join(good)}, but not on {_join(bad)}, in the "
                         f"{self.horizon_days} days after {self.as_of:%Y-%m-%d}.")
        elif bad:
            parts.append(f"The tiers are not ordered ({tiers}) on {_join(bad)} in the {self.horizon_days} days after "
                         f"{self.as_of:%Y-%m-%d}: treat the tiering with care.")
        if unknown:
            parts.append(f"Not judged for {_join(unknown)}: a tier has no account it applies to.")
        return " ".join(parts)

    def to_dict(self) -> dict[str, object]:
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                for r in self.rows.to_dict(orient="records")]
        return {"as_of": self.as_of.isoformat(), "window_end": self.window_end.isoformat(),
                "horizon_days": self.horizon_days, "data_end": self.data_end.isoformat(),
                "available": self.available, "days_to_wait": self.days_to_wait, "ordered": dict(self.ordered),
                "verdict": self.verdict(), "tiers": rows}


def backtest_tiers(assignments: pd.DataFrame, data: Dataset, as_of: pd.Timestamp | str, *,
                   tier_order: tuple[str, ...], horizon_days: int = 90) -> TierBacktest:
    """Outcomes per tier of ``assignments`` (``account_id``, ``tier``, ``customer_status``) in the ``horizon_days``
    after ``as_of``, read from ``data`` (which must hold what happened after ``as_of`` for the backtest to run)."""
    missing = [c for c in ("account_id", "tier", "customer_status") if c not in assignments.columns]
    if missing:
        raise DataError(f"the tier backtest needs the assignment column(s) {', '.join(missing)}")
    as_of = pd.Timestamp(as_of)
    end = as_of + horizon_days * DAY
    data_end = data.end
    covered = data_end.normalize() + DAY  # the data is complete up to midnight after its last event
    wait = max(0, math.ceil((end - covered) / DAY))
    order = [t for t in tier_order if t in set(assignments["tier"])]
    order += sorted(set(assignments["tier"].astype(str)) - set(order))
    if wait > 0:
        return TierBacktest(as_of=as_of, horizon_days=horizon_days, data_end=data_end, available=False,
                            days_to_wait=wait, rows=pd.DataFrame({"tier": order}), ordered={})
    rows = _outcomes(assignments, data, as_of, end, order)
    ordered = {name: _is_ordered(rows[name].to_numpy(dtype=np.float64), way) for name, way in OUTCOMES.items()}
    return TierBacktest(as_of=as_of, horizon_days=horizon_days, data_end=data_end, available=True, days_to_wait=0,
                        rows=rows, ordered=ordered)


def _outcomes(assignments: pd.DataFrame, data: Dataset, start: pd.Timestamp, end: pd.Timestamp,
              order: list[str]) -> pd.DataFrame:
    ids = assignments["account_id"].to_numpy(dtype=object)
    opportunities = data.table_or_empty("opportunities")
    won = opportunities[(opportunities["stage"] == "won") & (opportunities["closed_at"] >= start)
                        & (opportunities["closed_at"] < end)]
    revenue = data.table_or_empty("revenue")
    revenue = revenue[(revenue["invoice_at"] >= start) & (revenue["invoice_at"] < end)]
    paid = revenue.groupby("account_id")["amount"].sum().reindex(ids).fillna(0.0).to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"tier": assignments["tier"].astype(str).to_numpy(),
                          "prospect": (assignments["customer_status"] != "customer").to_numpy(),
                          "customer": (assignments["customer_status"] == "customer").to_numpy(),
                          "won": pd.Index(ids).isin(won["account_id"].unique()), "revenue": paid})
    frame["converted"] = frame["prospect"] & frame["won"]
    frame["churned"] = frame["customer"] & (frame["revenue"] <= 0)
    grouped = frame.groupby("tier", sort=False).agg(
        accounts=("tier", "size"), prospects=("prospect", "sum"), converted=("converted", "sum"),
        revenue=("revenue", "sum"), customers=("customer", "sum"), churned=("churned", "sum")).reindex(order)
    grouped = grouped.fillna(0).astype({c: np.int64 for c in ("accounts", "prospects", "converted", "customers",
                                                               "churned")})
    with np.errstate(divide="ignore", invalid="ignore"):
        grouped["conversion_rate"] = np.where(grouped["prospects"] > 0, grouped["converted"] / grouped["prospects"],
                                              np.nan)
        grouped["revenue_per_account"] = np.where(grouped["accounts"] > 0, grouped["revenue"] / grouped["accounts"],
                                                  np.nan)
        grouped["churn_rate"] = np.where(grouped["customers"] > 0, grouped["churned"] / grouped["customers"], np.nan)
    columns = ["tier", "accounts", "prospects", "converted", "conversion_rate", "revenue", "revenue_per_account",
               "customers", "churned", "churn_rate"]
    return grouped.rename_axis("tier").reset_index()[columns]


def _is_ordered(values: np.ndarray, way: str) -> bool | None:
    """Strictly falling (``way == "higher"``: the first tier is best) or rising from tier to tier; None when a tier
    has no figure or there are fewer than two tiers."""
    if len(values) < 2 or not np.isfinite(values).all():
        return None
    steps = np.diff(values)
    return bool((steps < 0).all() if way == "higher" else (steps > 0).all())


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
