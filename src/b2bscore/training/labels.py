"""Point-in-time labels: what happened after each as-of time, and which rows cannot be labelled yet.

A row whose outcome window has not closed by the end of the data is *censored* and left
out -- never labelled negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.data.dataset import Dataset
from b2bscore.features._window import EventIndex, to_seconds
from b2bscore.training.config import ChurnConfig, CltvConfig, ConversionConfig, PropensityConfig


@dataclass(frozen=True)
class LabelSet:
    """Labelled rows (entity keys, ``as_of``, ``label``, ``label_end``) and what was left out."""

    rows: pd.DataFrame
    censored: int
    data_end: pd.Timestamp
    uncovered: int = 0  # rows left out because outcomes were not yet recorded at their as-of time
    covered_from: pd.Timestamp | None = None  # when the data start recording outcomes (conversion: the first win)

    @property
    def positives(self) -> int:
        return int((self.rows["label"] > 0).sum())


def conversion_labels(data: Dataset, config: ConversionConfig, *, end: pd.Timestamp | None = None) -> LabelSet:
    """One row per lead, as of its creation: 1 if it reaches a won opportunity within the horizon.

    Outcomes count from the first recorded win on: a lead whose whole outcome window closed before it could not have
    been labelled positive, whatever happened -- a CRM that started recording deals long after its first leads would
    otherwise label every earlier lead negative. Such leads are left out (``uncovered``).
    """
    data.require("leads", "opportunities", purpose="the conversion model")
    end = data.end if end is None else end
    horizon = pd.Timedelta(days=config.horizon_days)
    leads = data.leads[["lead_id", "account_id", "created_at"]].rename(columns={"created_at": "as_of"})
    won = data.opportunities[(data.opportunities["stage"] == "won") & data.opportunities["closed_at"].notna()]
    if config.attribution == "lead":
        matched = leads.merge(won[["lead_id", "closed_at"]].dropna(subset=["lead_id"]), on="lead_id", how="inner")
    else:
        matched = leads.merge(won[["account_id", "created_at", "closed_at"]], on="account_id", how="inner")
        matched = matched[matched["created_at"] >= matched["as_of"]]
    in_window = matched[(matched["closed_at"] > matched["as_of"]) & (matched["closed_at"] <= matched["as_of"] + horizon)]
    labelled = leads.assign(label=leads["lead_id"].isin(in_window["lead_id"]).astype(np.int64),
                            label_end=leads["as_of"] + horizon)
    closed = labelled["label_end"] <= end
    covered_from = won["closed_at"].min()
    covered = ~(labelled["label_end"] < covered_from) if pd.notna(covered_from) else pd.Series(True, index=labelled.index)
    keep = closed & covered
    return LabelSet(rows=labelled[keep].reset_index(drop=True), censored=int((~closed).sum()), data_end=end,
                    uncovered=int((closed & ~covered).sum()), covered_from=covered_from if pd.notna(covered_from) else None)


def snapshot_dates(start: pd.Timestamp, end: pd.Timestamp, *, every_months: int, reach_days: int) -> pd.DatetimeIndex:
    """Month starts from ``start`` whose outcome window (``reach_days`` ahead) closes by ``end``."""
    first = (start + pd.offsets.MonthBegin(0)).normalize()
    dates = pd.date_range(first, end, freq=f"{every_months}MS")
    return dates[dates + pd.Timedelta(days=reach_days) <= end]


def _revenue_windows(data: Dataset, accounts: pd.Index, rows: np.ndarray, times: np.ndarray, days: float) -> np.ndarray:
    """Revenue of ``accounts[rows]`` invoiced in ``[time - days, time)``."""
    revenue = data.revenue
    index = EventIndex(accounts.get_indexer(revenue["account_id"]), revenue["invoice_at"])
    amount = revenue["amount"].to_numpy(dtype=np.float64)
    window = index.window(rows, to_seconds(times), days)
    return index.window_sum(amount, window)


def _customer_snapshots(data: Dataset, dates: pd.DatetimeIndex, lookback_days: int) -> tuple[pd.DataFrame, pd.Index]:
    """Every (account, snapshot) where the account was invoiced in the ``lookback_days`` before."""
    accounts = pd.Index(data.accounts["account_id"].to_numpy(dtype=object))
    rows = np.tile(np.arange(len(accounts)), len(dates))
    times = np.repeat(dates.to_numpy(dtype="datetime64[ns]"), len(accounts))
    recent = _revenue_windows(data, accounts, rows, times, lookback_days)
    paying = recent > 0
    frame = pd.DataFrame({"account_id": accounts.to_numpy()[rows[paying]], "as_of": times[paying],
                          "recent_revenue": recent[paying], "_row": rows[paying]})
    return frame, accounts


def billing_pattern(data: Dataset) -> str:
    """'orders' when the revenue table looks like orders placed at will (the gaps between an account's invoices vary
    about as much as their mean: median coefficient of variation over accounts with at least 4 invoices above 0.5),
    else 'cycle' (a plan billed every month or year varies by a few days). 'cycle' without enough invoices to tell.
    A property of how the customer bills, not of outcomes: it is read from the whole table."""
    revenue = data.revenue
    if revenue is None or revenue.empty:
        return "cycle"
    times = revenue[["account_id", "invoice_at"]].sort_values(["account_id", "invoice_at"], kind="stable")
    gaps = times.groupby("account_id")["invoice_at"].diff().dt.total_seconds() / 86_400
    stats = gaps.groupby(times["account_id"]).agg(["count", "mean", "std"])
    stats = stats[(stats["count"] >= 3) & (stats["mean"] > 0)]
    if len(stats) < 10:
        return "cycle"
    return "orders" if float((stats["std"] / stats["mean"]).median()) > 0.5 else "cycle"


def churn_definition(data: Dataset, config: ChurnConfig) -> str:
    """``config.definition``, with 'auto' resolved from :func:`billing_pattern`."""
    if config.definition != "auto":
        return config.definition
    return "silence" if billing_pattern(data) == "orders" else "revenue_drop"


def churn_labels(data: Dataset, config: ChurnConfig, *, lookback_days: int, history_days: int,
                 end: pd.Timestamp | None = None) -> LabelSet:
    """Customers (revenue in the ``lookback`` before) at rolling snapshots; 1 if they stopped within H.

    ``revenue_drop``: revenue in ``[as_of + H, as_of + H + lookback)`` falls to ``drop_fraction`` or less of the
    revenue in ``[as_of - lookback, as_of)``. ``silence``: no revenue in ``[as_of, as_of + H)``.
    """
    data.require("revenue", purpose="the churn model")
    end = data.end if end is None else end
    silence = churn_definition(data, config) == "silence"
    reach = config.horizon_days + (0 if silence else lookback_days)
    start = data.revenue["invoice_at"].min() + pd.Timedelta(days=history_days)
    dates = snapshot_dates(start, end, every_months=config.snapshot_months, reach_days=reach)
    all_dates = snapshot_dates(start, end + pd.Timedelta(days=reach), every_months=config.snapshot_months, reach_days=reach)
    snapshots, accounts = _customer_snapshots(data, dates, lookback_days)
    later = (snapshots["as_of"] + pd.Timedelta(days=reach)).to_numpy(dtype="datetime64[ns]")
    window = config.horizon_days if silence else lookback_days
    after = _revenue_windows(data, accounts, snapshots["_row"].to_numpy(), later, window)
    if silence:
        label = (after <= 0).astype(np.int64)
    else:
        label = (after <= config.drop_fraction * snapshots["recent_revenue"].to_numpy()).astype(np.int64)
    rows = snapshots[["account_id", "as_of"]].assign(label=label, label_end=later)
    censored_dates = all_dates.difference(dates)
    censored = len(_customer_snapshots(data, censored_dates, lookback_days)[0]) if len(censored_dates) else 0
    return LabelSet(rows=rows.reset_index(drop=True), censored=censored, data_end=end)


def cltv_labels(data: Dataset, config: CltvConfig, *, lookback_days: int, history_days: int,
                end: pd.Timestamp | None = None) -> LabelSet:
    """Customers at rolling snapshots; the label is the revenue invoiced in ``[as_of, as_of + H)``."""
    data.require("revenue", purpose="the CLTV model")
    end = data.end if end is None else end
    start = data.revenue["invoice_at"].min() + pd.Timedelta(days=history_days)
    dates = snapshot_dates(start, end, every_months=config.snapshot_months, reach_days=config.horizon_days)
    all_dates = snapshot_dates(start, end + pd.Timedelta(days=config.horizon_days), every_months=config.snapshot_months,
                               reach_days=config.horizon_days)
    snapshots, accounts = _customer_snapshots(data, dates, lookback_days)
    later = (snapshots["as_of"] + pd.Timedelta(days=config.horizon_days)).to_numpy(dtype="datetime64[ns]")
    value = _revenue_windows(data, accounts, snapshots["_row"].to_numpy(), later, config.horizon_days)
    rows = snapshots[["account_id", "as_of"]].assign(label=value, label_end=later)
    censored_dates = all_dates.difference(dates)
    censored = len(_customer_snapshots(data, censored_dates, lookback_days)[0]) if len(censored_dates) else 0
    return LabelSet(rows=rows.reset_index(drop=True), censored=censored, data_end=end)


def propensity_labels(data: Dataset, config: PropensityConfig, *, history_days: int,
                      end: pd.Timestamp | None = None) -> LabelSet:
    """Prospect accounts at rolling snapshots; 1 if the account's first won deal closes within the horizon.

    A prospect at a snapshot has no won deal closed before it and (when there is a revenue table) no invoice
    before it: customers and former customers are not prospects. Snapshots start ``history_days`` after the first
    recorded opportunity (deals are recorded from then; features need some history). Outcomes count from the first recorded win on, as for conversion: a
    snapshot whose window closed before it is left out (``uncovered``).
    """
    data.require("opportunities", purpose="the propensity model")
    end = data.end if end is None else end
    horizon = pd.Timedelta(days=config.horizon_days)
    opportunities = data.opportunities
    won = opportunities[(opportunities["stage"] == "won") & opportunities["closed_at"].notna()]
    first_win = won.groupby("account_id")["closed_at"].min()
    first_paid = (data.revenue.groupby("account_id")["invoice_at"].min() if data.revenue is not None and len(data.revenue)
                  else pd.Series(dtype="datetime64[ns]"))
    start = opportunities["created_at"].min() + pd.Timedelta(days=history_days)  # deals are recorded from then
    dates = snapshot_dates(start, end, every_months=config.snapshot_months, reach_days=config.horizon_days)
    all_dates = snapshot_dates(start, end + horizon, every_months=config.snapshot_months,
                               reach_days=config.horizon_days)
    accounts = data.accounts["account_id"].to_numpy(dtype=object)
    win = first_win.reindex(accounts).to_numpy(dtype="datetime64[ns]")
    paid = first_paid.reindex(accounts).to_numpy(dtype="datetime64[ns]")

    def prospects(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.tile(np.arange(len(accounts)), len(times))
        at = np.repeat(times, len(accounts))
        keep = ~(win[rows] <= at) & ~(paid[rows] < at)  # NaT compares False: never won, never paid
        return rows[keep], at[keep]

    rows, at = prospects(dates.to_numpy(dtype="datetime64[ns]"))
    label_end = at + horizon.to_timedelta64()
    label = ((win[rows] > at) & (win[rows] <= label_end)).astype(np.int64)
    frame = pd.DataFrame({"account_id": accounts[rows], "as_of": at, "label": label, "label_end": label_end})
    covered_from = won["closed_at"].min()
    covered = (frame["label_end"] >= covered_from).to_numpy() if pd.notna(covered_from) else np.ones(len(frame), bool)
    censored_dates = all_dates.difference(dates)
    censored = len(prospects(censored_dates.to_numpy(dtype="datetime64[ns]"))[0]) if len(censored_dates) else 0
    return LabelSet(rows=frame[covered].reset_index(drop=True), censored=censored, data_end=end,
                    uncovered=int((~covered).sum()), covered_from=covered_from if pd.notna(covered_from) else None)
