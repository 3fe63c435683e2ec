"""``segment_kpis``: what sales and marketing review per segment, and whether each segment is worth keeping.

Every KPI that describes the past uses only data known before ``as_of``, over the window
``[as_of - window_days, as_of)`` (columns ``window_start`` / ``window_end``):

* ``leads``: leads created in the window; ``lead_to_opportunity_rate``: the share of them with an
  opportunity (linked by ``lead_id``) opened before ``as_of``.
* ``opportunities_closed``, ``win_rate`` (won / closed), ``avg_won_deal`` (mean amount of won deals)
  and ``median_sales_cycle_days`` (created to closed, won deals): opportunities closed in the window.
* ``prospects_at_start`` (no invoice in the ``churn_lookback_days`` before the window) and
  ``conversion_rate``: the share of them that won a deal in the window.
* ``customers_at_start`` and ``churn_rate``: the share of them with no invoice in the last
  ``churn_lookback_days`` before ``as_of``; ``customers_now``: the segment's customers at ``as_of``. Churn is
  shown (not NaN) only when both counts reach ``min_customers``: segments are drawn as of ``as_of``, so the
  customers-at-start of a segment of today's prospects are exactly the ones who left, and their "churn" of
  nearly 100% says nothing about any customer (the demo's "prospects" cluster showed 0.938 that way).
* ``avg_realised_revenue``: revenue invoiced in the window per paying account; ``avg_predicted_cltv``
  and ``avg_value``: means of the assignment's ``cltv_pred`` and ``value``.
* ``open_pipeline`` and ``pipeline_share``: amount of opportunities open at ``as_of``, and its share of all.
* ``market_share``: customers now / accounts, only when ``accounts_are_market`` (the accounts table is the whole
  addressable market).
* CAC, campaign ROI and engagement (``new_customers`` ... ``web_visits_per_account``): see ``acquisition.py``;
  each rate beside the count behind it (``new_customers``, ``attributed_deals``, ``email_opens``, ``accounts``).

Checks: ``substantial`` (at least ``min_segment_size`` accounts); ``measurable`` (a test could be
run); ``differentiable``: conversion (prospects at start) differs from the rest of the same kind by
a chi-square test (Fisher's exact test when an expected count is below 5, ``conversion_p``), or the
realised revenue of its paying accounts differs from that of the rest's paying accounts by a two-sided
Mann-Whitney U test (``value_p``), after a Benjamini-Hochberg correction over every test of every
substantial segment of every kind (``conversion_q`` / ``value_q``) at false discovery rate ``alpha``.
``actionable``: false when winning a customer costs more than one is worth (``cac`` above ``avg_value``, the
predicted CLTV or that of look-alike customers) over at least ``min_new_customers`` new customers; an unknown CAC,
or one over fewer new customers, is not held against a segment.
A segment is ``flagged`` -- worth a look -- only when it is substantial, differentiable and actionable;
``flag_reason`` then says how it differs ("conversion 14.2% vs 8.1% for the rest"), and otherwise why it is not
flagged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, fisher_exact, mannwhitneyu
from statsmodels.stats.multitest import multipletests

from b2bscore.data.dataset import Dataset
from b2bscore.errors import DataError
from b2bscore.segments._format import money
from b2bscore.segments.acquisition import MONEY_COLUMNS, acquisition_kpis, campaign_kpis, measure_acquisition
from b2bscore.segments.assign import SEGMENT_KINDS
from b2bscore.segments.attribution import campaign_touches
from b2bscore.segments.config import AttributionConfig, KpiConfig

DAY = pd.Timedelta(days=1)


def segment_kpis(assignments: pd.DataFrame, data: Dataset, as_of: pd.Timestamp | str,
                 config: KpiConfig = KpiConfig(), kinds: tuple[str, ...] = SEGMENT_KINDS,
                 attribution: AttributionConfig = AttributionConfig()) -> pd.DataFrame:
    """One row per (kind, segment) of ``assignments`` with the KPIs and checks described above."""
    _check_assignments(assignments, kinds)
    as_of = pd.Timestamp(as_of)
    start = as_of - config.window_days * DAY
    # only these tables feed the KPIs; skipping the (large) technographics and intent keeps the cut-off cheap
    past = replace(data, technographics=None, intent=None).known_before(as_of)
    acquisition = measure_acquisition(assignments, past, start, as_of, attribution)
    accounts = _account_outcomes(assignments, past, start, as_of, config)
    events = _events(past, start, as_of)
    total_pipeline = float(events["open"]["amount"].sum())
    rows = []
    for kind in kinds:
        labels = assignments[kind].astype(str).to_numpy()
        for segment in sorted(set(labels)):
            member = labels == segment
            ids = set(assignments["account_id"].to_numpy()[member])
            row = {"kind": kind, "segment": segment, "accounts": int(member.sum())}
            row |= _funnel(events, ids)
            row |= _outcomes(accounts, assignments, member, config)
            row["pipeline_share"] = row["open_pipeline"] / total_pipeline if total_pipeline > 0 else np.nan
            row["market_share"] = row["customers_now"] / row["accounts"] if config.accounts_are_market else np.nan
            row |= acquisition_kpis(acquisition, member, attribution)
            row |= _tests(accounts, member)
            rows.append(row)
    frame = _checks(pd.DataFrame(rows), config)
    frame.insert(2, "window_start", start)
    frame.insert(3, "window_end", as_of)
    return frame


def segment_campaigns(assignments: pd.DataFrame, data: Dataset, as_of: pd.Timestamp | str,
                      config: KpiConfig = KpiConfig(), kinds: tuple[str, ...] = SEGMENT_KINDS,
                      attribution: AttributionConfig = AttributionConfig()) -> pd.DataFrame:
    """Campaign ROI over the KPI window, per campaign and per campaign x segment (``acquisition.campaign_kpis``),
    with the window and the attribution rule on every row; no rows without a campaigns table."""
    _check_assignments(assignments, kinds)
    as_of = pd.Timestamp(as_of)
    start = as_of - config.window_days * DAY
    past = replace(data, technographics=None, intent=None).known_before(as_of)
    frame = campaign_kpis(measure_acquisition(assignments, past, start, as_of, attribution), assignments, past, kinds)
    frame.insert(2, "window_start", start)
    frame.insert(3, "window_end", as_of)
    frame["rule"] = f"{attribution.rule}, {attribution.lookback_days} days"
    return frame


def unavailable_kpis(data: Dataset, config: KpiConfig = KpiConfig()) -> list[str]:
    """What the KPI table cannot show with this data, and why, in sentences."""
    notes = []
    if data.campaigns is None and data.spend is None:
        notes.append("CAC and campaign ROI are unavailable: the data has no campaigns or spend table "
                     "(see docs/data-contract.md)")
    elif data.campaigns is None:
        notes.append("campaign ROI is unavailable: the data has no campaigns table; CAC counts the spend table only")
    elif data.spend is None:
        notes.append("CAC counts the campaigns' own costs only: the data has no spend table (sales and other spend)")
    if data.campaigns is not None and campaign_touches(data).empty:
        notes.append("no lead or activity names a campaign (campaign_id), so no deal can be credited to one: campaign "
                     "revenue is 0 and campaign costs are split like sales spend")
    if data.activities is None:
        notes.append("engagement (email, content, webinars, web visits) is unavailable: the data has no activities table")
    if not config.accounts_are_market:
        notes.append("market share is not shown: set kpis.accounts_are_market when the accounts table holds the whole "
                     "addressable market")
    return notes


def _check_assignments(assignments: pd.DataFrame, kinds: tuple[str, ...]) -> None:
    missing = [c for c in ("account_id", *kinds) if c not in assignments.columns]
    if missing:
        raise DataError(f"assignments lack the column(s) {', '.join(missing)}")


_MONEY_OR_DAYS = ("avg_won_deal", "median_sales_cycle_days", "open_pipeline", "avg_realised_revenue", "avg_predicted_cltv",
                  "avg_value", "rest_avg_realised_revenue", "backtest_revenue_per_account", *MONEY_COLUMNS,
                  "cost", "revenue")


def rounded_kpis(kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI frame as tools read it (``kpis.csv``): rates and shares to 4 decimals, money and days to 2,
    p- and q-values to 3 significant digits."""
    frame = kpis.copy()
    for column in frame.columns:
        if not pd.api.types.is_float_dtype(frame[column]):
            continue
        if column.endswith(("_p", "_q")):
            frame[column] = [float(f"{v:.3g}") if np.isfinite(v) else np.nan for v in frame[column]]
        elif column in _MONEY_OR_DAYS:
            frame[column] = frame[column].round(2)
        else:
            frame[column] = frame[column].round(4)
    return frame


def _account_outcomes(assignments: pd.DataFrame, past: Dataset, start: pd.Timestamp, as_of: pd.Timestamp,
                      config: KpiConfig) -> pd.DataFrame:
    """Per assignment row: customer at start / at the end, converted in the window, revenue in the window."""
    ids = assignments["account_id"].to_numpy(dtype=object)
    revenue = past.table_or_empty("revenue")
    lookback = config.churn_lookback_days * DAY

    def paid_in(low: pd.Timestamp, high: pd.Timestamp) -> pd.Series:
        rows = revenue[(revenue["invoice_at"] >= low) & (revenue["invoice_at"] < high)]
        return rows.groupby("account_id")["amount"].sum().reindex(ids).fillna(0.0)

    customer_start = paid_in(start - lookback, start).to_numpy() > 0
    customer_end = paid_in(as_of - lookback, as_of).to_numpy() > 0
    window_revenue = revenue[(revenue["invoice_at"] >= start) & (revenue["invoice_at"] < as_of)]
    paying = pd.Index(window_revenue["account_id"].unique())
    opportunities = past.table_or_empty("opportunities")
    won = opportunities[(opportunities["stage"] == "won") & (opportunities["closed_at"] >= start)
                        & (opportunities["closed_at"] < as_of)]
    return pd.DataFrame({
        "prospect_start": ~customer_start,
        "converted": ~customer_start & pd.Index(ids).isin(won["account_id"].unique()),
        "customer_start": customer_start,
        "customer_now": customer_end,
        "churned": customer_start & ~customer_end,
        "revenue": paid_in(start, as_of).to_numpy(),
        "paying": pd.Index(ids).isin(paying),
    })


def _events(past: Dataset, start: pd.Timestamp, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    leads = past.table_or_empty("leads")
    opportunities = past.table_or_empty("opportunities")
    leads = leads[leads["created_at"] >= start]
    with_opportunity = set(opportunities["lead_id"].dropna())
    closed = opportunities[opportunities["closed_at"].notna() & (opportunities["closed_at"] >= start)]
    return {
        "leads": pd.DataFrame({"account_id": leads["account_id"].to_numpy(dtype=object),
                               "has_opportunity": leads["lead_id"].isin(with_opportunity).to_numpy()}),
        "closed": pd.DataFrame({"account_id": closed["account_id"].to_numpy(dtype=object),
                                "won": (closed["stage"] == "won").to_numpy(),
                                "amount": closed["amount"].to_numpy(dtype=np.float64),
                                "cycle_days": ((closed["closed_at"] - closed["created_at"]) / DAY).to_numpy(dtype=np.float64)}),
        "open": opportunities[opportunities["closed_at"].isna()][["account_id", "amount"]],
    }


def _rate(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else np.nan


def _funnel(events: dict[str, pd.DataFrame], ids: set) -> dict[str, float]:
    leads = events["leads"][events["leads"]["account_id"].isin(ids)]
    closed = events["closed"][events["closed"]["account_id"].isin(ids)]
    won = closed[closed["won"]]
    return {
        "leads": int(len(leads)),
        "lead_to_opportunity_rate": _rate(leads["has_opportunity"].sum(), len(leads)),
        "opportunities_closed": int(len(closed)),
        "win_rate": _rate(len(won), len(closed)),
        "avg_won_deal": float(won["amount"].mean()) if len(won) else np.nan,
        "median_sales_cycle_days": float(won["cycle_days"].median()) if len(won) else np.nan,
        "open_pipeline": float(events["open"].loc[events["open"]["account_id"].isin(ids), "amount"].sum()),
    }


def _outcomes(accounts: pd.DataFrame, assignments: pd.DataFrame, member: np.ndarray,
              config: KpiConfig) -> dict[str, float]:
    mine = accounts[member]
    paying = mine[mine["paying"]]
    at_start, now = int(mine["customer_start"].sum()), int(mine["customer_now"].sum())
    enough = min(at_start, now) >= config.min_customers
    return {
        "prospects_at_start": int(mine["prospect_start"].sum()),
        "conversion_rate": _rate(mine["converted"].sum(), mine["prospect_start"].sum()),
        "customers_at_start": at_start,
        "customers_now": now,
        "churn_rate": _rate(mine["churned"].sum(), at_start) if enough else np.nan,
        "avg_realised_revenue": float(paying["revenue"].mean()) if len(paying) else np.nan,
        "avg_predicted_cltv": _mean(assignments.get("cltv_pred"), member),
        "avg_value": _mean(assignments.get("value"), member),
    }


def _mean(column: pd.Series | None, member: np.ndarray) -> float:
    if column is None:
        return np.nan
    values = column.to_numpy(dtype=np.float64)[member]
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _tests(accounts: pd.DataFrame, member: np.ndarray) -> dict[str, object]:
    """The raw tests of one segment against the rest, with the figures ``flag_reason`` quotes."""
    conversion_test, conversion_p = _conversion_test(accounts, member)
    paying = accounts["paying"].to_numpy()
    revenue = accounts["revenue"].to_numpy()
    prospect, converted = accounts["prospect_start"].to_numpy(), accounts["converted"].to_numpy()
    return {"conversion_test": conversion_test, "conversion_p": conversion_p, "value_test": "mann-whitney",
            "value_p": _value_test(revenue[paying], member[paying]),
            "rest_conversion_rate": _rate(np.sum(~member & prospect & converted), np.sum(~member & prospect)),
            "rest_avg_realised_revenue": float(revenue[paying & ~member].mean()) if (paying & ~member).any() else np.nan}


def _checks(frame: pd.DataFrame, config: KpiConfig) -> pd.DataFrame:
    """Substantial, measurable and differentiable after one Benjamini-Hochberg correction over every test of every
    substantial segment (of all kinds): with 66 firmographic cells, some differ at 5% by chance alone."""
    if frame.empty:
        return frame
    frame = frame.copy()
    frame["substantial"] = frame["accounts"] >= config.min_segment_size
    frame["measurable"] = frame[["conversion_p", "value_p"]].notna().any(axis=1)
    for test in ("conversion", "value"):
        frame[f"{test}_q"] = np.nan
    tested = [(i, test) for i in frame.index[frame["substantial"]] for test in ("conversion", "value")
              if np.isfinite(frame.at[i, f"{test}_p"])]
    if tested:
        p = np.array([frame.at[i, f"{test}_p"] for i, test in tested])
        q = multipletests(p, alpha=config.alpha, method="fdr_bh")[1]
        for (i, test), value in zip(tested, q):
            frame.at[i, f"{test}_q"] = float(value)
    significant = {t: (frame[f"{t}_q"] < config.alpha).to_numpy() for t in ("conversion", "value")}
    frame["differentiable"] = significant["conversion"] | significant["value"]
    # unknown CAC or value, or a CAC over too few new customers, is not held against a segment
    frame["actionable"] = ~((frame["cac"] > frame["avg_value"]) & (frame["new_customers"] >= config.min_new_customers)).to_numpy()
    frame["flagged"] = frame["substantial"].to_numpy() & frame["differentiable"].to_numpy() & frame["actionable"].to_numpy()
    frame["flag_reason"] = [_reason(row, significant["conversion"][n], significant["value"][n], config)
                            for n, row in enumerate(frame.itertuples(index=False))]
    return frame


def _reason(row, conversion: bool, value: bool, config: KpiConfig) -> str:
    """Why a segment stands out, or why it is not flagged, in a sentence."""
    if not row.substantial:
        return f"too small to judge ({row.accounts:,} < {config.min_segment_size:,} accounts)"
    if not row.measurable:
        return "not measurable (no outcomes to compare)"
    found = []
    if conversion:
        found.append(f"conversion {row.conversion_rate:.1%} vs {row.rest_conversion_rate:.1%} for the rest "
                     f"(q = {row.conversion_q:.2g})")
    if value:
        found.append(f"revenue per paying account {money(row.avg_realised_revenue)} vs {money(row.rest_avg_realised_revenue)} "
                     f"for the rest (q = {row.value_q:.2g})")
    if not row.actionable:
        found.append(f"not actionable: a new customer costs {money(row.cac)} (CAC, {row.new_customers:,} new "
                     f"customers), more than its predicted value of {money(row.avg_value)}")
    if found:
        return "; ".join(found)
    return f"not different from the rest (Benjamini-Hochberg q >= {config.alpha:g})"


def _conversion_test(accounts: pd.DataFrame, member: np.ndarray) -> tuple[str, float]:
    prospect = accounts["prospect_start"].to_numpy()
    converted = accounts["converted"].to_numpy()
    table = np.array([[np.sum(member & prospect & converted), np.sum(member & prospect & ~converted)],
                      [np.sum(~member & prospect & converted), np.sum(~member & prospect & ~converted)]])
    if (table.sum(axis=1) == 0).any() or (table.sum(axis=0) == 0).any():
        return "none", np.nan
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if (expected < 5).any():
        return "fisher", float(fisher_exact(table)[1])
    return "chi-square", float(chi2_contingency(table)[1])


def _value_test(revenue: np.ndarray, member: np.ndarray) -> float:
    inside, outside = revenue[member], revenue[~member]
    if len(inside) == 0 or len(outside) == 0:
        return np.nan
    if np.ptp(np.concatenate([inside, outside])) == 0:
        return 1.0
    return float(mannwhitneyu(inside, outside, alternative="two-sided").pvalue)
