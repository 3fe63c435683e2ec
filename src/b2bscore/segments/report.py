"""What sales and marketing open: the ranked, CRM-ready account list and the HTML summary."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from b2bscore.model.scoring import shown_probability
from b2bscore.segments._charts import cac_chart, segment_chart
from b2bscore.segments._format import money, pct
from b2bscore.segments._profile import ClusterProfile
from b2bscore.segments.assign import SEGMENT_KINDS
from b2bscore.segments.backtest import TierBacktest
from b2bscore.segments.config import AttributionConfig, KpiConfig

RANKED_COLUMNS: tuple[str, ...] = (
    "rank", "account_id", "company", "tier", "tier_rule", "value_segment", "firmographic_segment",
    "technographic_segment", "buying_stage", "cluster_name", "status", "fit", "propensity", "propensity_source",
    "value", "priority", "churn_risk", "p_convert", "reasons",
)
"""The ranked list's columns, named as in the call lists and the score files (``company``, ``status``); ``churn_risk``
and ``value`` carry the churn and CLTV models' scores where there are some (no separate p_churn and cltv_pred);
``propensity_source`` says where each propensity comes from (``p_win``, ``1 - p_churn`` or a proxy: no model scores
former customers)."""
_RANKED_PROBABILITIES = ("propensity", "churn_risk", "p_convert")
_RANKED_WHOLE_NUMBERS = ("fit", "value", "priority")
KIND_TITLES: dict[str, str] = {
    "tier": "Tier", "value_segment": "Value segment", "firmographic_segment": "Firmographic segment",
    "technographic_segment": "Technographic segment", "buying_stage": "Buying stage", "cluster_name": "Data-driven segment",
}
_STYLE = (
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;padding:0 16px;box-sizing:border-box;"
    "overflow-wrap:anywhere}img{max-width:100%;height:auto;display:block}"
    "table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}"
    "th{background:#f3f5f8;white-space:normal;max-width:110px}"
    "td.text,th.text{text-align:left;max-width:320px}tr.group th{background:#e4e9f0;max-width:none}pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px}"
    ".note{background:#fff3cd;padding:.6em;border-left:4px solid #f0ad4e}"
    ".good{background:#e7f4e4;padding:.6em;border-left:4px solid #3c8d2f}"
    ".bad{background:#fbe3e1;padding:.6em;border-left:4px solid #c0392b}.flag{color:#8a4b00}"
)


def ranked_accounts(assignments: pd.DataFrame, accounts: pd.DataFrame, tier_order: tuple[str, ...]) -> pd.DataFrame:
    """Accounts sorted by tier (in ``tier_order``), then by priority = propensity x value, highest first, as a CRM
    imports them: probabilities to 3 decimals, fit, value and priority as whole numbers."""
    names = accounts.drop_duplicates("account_id").set_index("account_id")["name"]
    frame = assignments.rename(columns={"customer_status": "status"})
    frame["company"] = names.reindex(frame["account_id"]).to_numpy(dtype=object)
    frame["priority"] = frame["propensity"].to_numpy(dtype=np.float64) * frame["value"].to_numpy(dtype=np.float64)
    order = {tier: i for i, tier in enumerate(tier_order)}
    frame["_tier"] = frame["tier"].map(order).fillna(len(order))
    frame = frame.sort_values(["_tier", "priority", "account_id"], ascending=[True, False, True], kind="stable",
                              na_position="last")
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame = frame[list(RANKED_COLUMNS)].reset_index(drop=True)
    for column in _RANKED_PROBABILITIES:
        frame[column] = shown_probability(frame[column])
    for column in _RANKED_WHOLE_NUMBERS:
        frame[column] = frame[column].astype(np.float64).round(0).astype("Int64")
    return frame


def summary_html(assignments: pd.DataFrame, kpis: pd.DataFrame, profiles: list[ClusterProfile], *,
                 as_of: pd.Timestamp, notes: tuple[str, ...] = (), diff_text: str | None = None,
                 backtest: TierBacktest | None = None, config: KpiConfig = KpiConfig(),
                 kpi_notes: tuple[str, ...] = (), attribution: AttributionConfig = AttributionConfig()) -> str:
    """A self-contained HTML page, no wider than 1,200 px: notes, the tiers and their backtest, one chart per
    segment kind (size, conversion, value), CAC against predicted value per tier, data-driven segment profiles,
    the segments that stand out, the KPI tables in words and, after a refresh, what moved."""
    window = _window(kpis)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Account segments</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Account segments as of {as_of:%Y-%m-%d}</h1>",
        f"<p>{len(assignments):,} accounts. KPIs describe the {html.escape(window)} before the as-of date"
        + (f" ({kpis['window_start'].iloc[0]:%Y-%m-%d} to {kpis['window_end'].iloc[0]:%Y-%m-%d})." if len(kpis) else ".")
        + "</p>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in notes),
        *(f"<p class='note'>{html.escape(n[0].upper() + n[1:])}.</p>" for n in kpi_notes),
        "<h2>Accounts per tier</h2>", _counts_table(assignments),
    ]
    if backtest is not None:
        parts += ["<h2>Do the tiers deliver? Backtest</h2>", _backtest(backtest)]
    for kind in SEGMENT_KINDS:
        rows = kpis[kpis["kind"] == kind]
        if len(rows):
            parts += [f"<h2>{html.escape(KIND_TITLES.get(kind, kind))}s</h2>", segment_chart(rows, kind, window)]
    parts += _acquisition_section(kpis, window, attribution)
    parts += ["<h2>Data-driven segment profiles</h2><ul>"]
    parts += [f"<li><b>{html.escape(p.name)}</b> ({p.size:,} accounts, {p.share:.0%}): {html.escape(p.text)}</li>"
              for p in profiles]
    parts += ["</ul>", "<h2>Segments that stand out</h2>", _flagged(kpis, config)]
    if diff_text:
        parts += ["<h2>Changes since the previous version</h2>", f"<pre>{html.escape(diff_text)}</pre>"]
    parts += ["<h2>KPIs per segment</h2>", _kpi_tables(kpis, window, config), "</body></html>"]
    return "\n".join(parts)


def _window(kpis: pd.DataFrame) -> str:
    if not len(kpis):
        return "KPI window"
    days = int(round((kpis["window_end"].iloc[0] - kpis["window_start"].iloc[0]) / pd.Timedelta(days=1)))
    if days in (365, 366):
        return "past 12 months"
    return f"past {round(days / 30.4)} months" if days >= 60 and days % 30 in (0, 1) else f"past {days} days"


def _counts_table(assignments: pd.DataFrame) -> str:
    counts = pd.crosstab(assignments["tier"], assignments["customer_status"], margins=True, margins_name="All")
    counts = counts.rename(columns={"customer": "Customers", "former customer": "Former customers", "prospect": "Prospects"})
    counts = counts.rename(index={"All": "All tiers"})
    rows = [[str(tier)] + [f"{int(v):,}" for v in row] for tier, row in counts.iterrows()]
    return _html_table(["Tier", *map(str, counts.columns)], rows, text_columns=1)


def _backtest(backtest: TierBacktest) -> str:
    verdict = html.escape(backtest.verdict())
    if not backtest.available:
        return f"<p class='note'>{verdict}</p>"
    bad = any(v is False for v in backtest.ordered.values())
    days = backtest.horizon_days
    head = ["Tier", "Accounts", "Prospects", f"Conversion (next {days} days)", "Customers",
            f"Churn (next {days} days)", f"Revenue per account (next {days} days)"]
    rows = [[str(r.tier), f"{r.accounts:,}", f"{r.prospects:,}", pct(r.conversion_rate), f"{r.customers:,}",
             pct(r.churn_rate), money(r.revenue_per_account)] for r in backtest.rows.itertuples(index=False)]
    explain = (f"What each tier did in the {days} days after the segmentation date "
               f"({backtest.as_of:%Y-%m-%d} to {backtest.window_end:%Y-%m-%d}): prospects that won a deal, customers "
               "that paid nothing, and revenue invoiced per account. Better tiers should convert more, churn less "
               "and bring more revenue.")
    return (f"<p class='{'bad' if bad else 'good'}'>{verdict}</p><p>{html.escape(explain)}</p>"
            + _html_table(head, rows, text_columns=1))


def _flagged(kpis: pd.DataFrame, config: KpiConfig) -> str:
    """How the flag is earned, then per kind the segments that stand out and how."""
    tested = int(kpis[["conversion_q", "value_q"]].notna().to_numpy().sum()) if "conversion_q" in kpis.columns else 0
    flagged = kpis[kpis["flagged"]] if "flagged" in kpis.columns else kpis.iloc[0:0]
    rule = (f"A segment stands out when it has at least {config.min_segment_size:,} accounts and its conversion or its "
            f"revenue per paying account differs from the rest's after a Benjamini-Hochberg correction over all "
            f"{tested:,} tests run (false discovery rate {config.alpha:.0%}). {len(flagged):,} of {len(kpis):,} "
            "segments stand out.")
    parts = [f"<p>{html.escape(rule)}</p>"]
    for kind, rows in flagged.groupby("kind", sort=False):
        items = "".join(f"<li class='flag'><b>{html.escape(str(r.segment))}</b> ({r.accounts:,} accounts): "
                        f"{html.escape(str(r.flag_reason))}</li>" for r in rows.itertuples())
        parts.append(f"<h3>{html.escape(KIND_TITLES.get(str(kind), str(kind)))}</h3><ul>{items}</ul>")
    return "".join(parts)


def _kpi_tables(kpis: pd.DataFrame, window: str, config: KpiConfig) -> str:
    """Two tables that each fit the page -- the sales funnel, then conversion, churn and value -- with the segments
    of each kind under a row naming the kind, largest first."""
    if kpis.empty:
        return "<p>No segments.</p>"
    funnel_head = ["Segment", "Accounts", f"Leads ({window})", "Lead → opportunity", "Deals closed", "Win rate",
                   "Avg. deal size", "Sales cycle (median days)", "Share of open pipeline"]
    outcome_head = ["Segment", "Accounts", "Prospects (start)", f"Conversion ({window})", "Customers (now)",
                    f"Churn ({window})", "Revenue per paying account", "Avg. value (predicted)", "Stands out"]
    funnel, outcome = [], []
    for kind in [k for k in SEGMENT_KINDS if k in set(kpis["kind"])] + sorted(set(kpis["kind"]) - set(SEGMENT_KINDS)):
        rows = kpis[kpis["kind"] == kind]
        if kind != "tier":
            rows = rows.sort_values(["accounts", "segment"], ascending=[False, True], kind="stable")
        title = KIND_TITLES.get(str(kind), str(kind)) + "s"
        funnel.append([title])
        outcome.append([title])
        for r in rows.itertuples(index=False):
            funnel.append([str(r.segment), f"{r.accounts:,}", f"{r.leads:,}", pct(r.lead_to_opportunity_rate),
                           f"{r.opportunities_closed:,}", pct(r.win_rate), money(r.avg_won_deal),
                           _days(r.median_sales_cycle_days), pct(r.pipeline_share)])
            outcome.append([str(r.segment), f"{r.accounts:,}", f"{r.prospects_at_start:,}", pct(r.conversion_rate),
                            f"{r.customers_now:,}", pct(r.churn_rate), money(r.avg_realised_revenue),
                            money(r.avg_value), "yes" if r.flagged else ""])
    note = (f"Conversion is the share of the prospects at the start of the window that won a deal by the as-of date; "
            f"churn, the share of the customers at the start that stopped paying, shown for segments with at least "
            f"{config.min_customers:,} customers at the start and now.")
    return ("<h3>Sales funnel</h3>" + _html_table(funnel_head, funnel, text_columns=1)
            + "<h3>Conversion, churn and value</h3>" + f"<p>{html.escape(note)}</p>"
            + _html_table(outcome_head, outcome, text_columns=1) + _acquisition_table(kpis, window))


def _acquisition_section(kpis: pd.DataFrame, window: str, attribution: AttributionConfig) -> list[str]:
    """The chart of what a new customer costs against what one is worth, per segment of each ruled kind."""
    if kpis.empty or "cac" not in kpis.columns or not np.isfinite(kpis["cac"].to_numpy(dtype=np.float64)).any():
        return []
    rule = {"first_touch": "the first campaign that reached the account",
            "last_touch": "the last campaign that reached the account before the deal was opened",
            "linear": "every campaign that reached the account, in equal shares"}[attribution.rule]
    text = (f"What winning one new customer cost ({window}: sales and marketing spend charged to the segment, "
            f"divided by its new customers) beside what a customer of the segment is predicted to bring. Where the "
            f"cost is higher, the segment is not worth acquiring as it is (marked \"not actionable\"). Deals are "
            f"credited to {rule}, within {attribution.lookback_days} days.")
    parts = ["<h2>Cost to acquire a customer against its value</h2>", f"<p>{html.escape(text)}</p>"]
    for kind in ("tier", "value_segment", "buying_stage", "cluster_name"):
        rows = kpis[kpis["kind"] == kind]
        if len(rows) and np.isfinite(rows["cac"].to_numpy(dtype=np.float64)).any():
            parts.append(cac_chart(rows, kind))
    return parts


def _acquisition_table(kpis: pd.DataFrame, window: str) -> str:
    """CAC, campaign ROI and engagement per segment, each beside the count behind it."""
    if "cac" not in kpis.columns:
        return ""
    head = ["Segment", "Accounts", f"New customers ({window})", "Cost per new customer (CAC)", "Campaign cost",
            "Campaign revenue", "Campaign ROI", "Deals credited to campaigns", "Accounts opening emails",
            "Email opens", "Click-through (clicks per open)", "Downloads per account", "Webinars per account",
            "Worth acquiring"]
    rows = []
    for kind in [k for k in SEGMENT_KINDS if k in set(kpis["kind"])]:
        group = kpis[kpis["kind"] == kind]
        if kind != "tier":
            group = group.sort_values(["accounts", "segment"], ascending=[False, True], kind="stable")
        rows.append([KIND_TITLES.get(str(kind), str(kind)) + "s"])
        for r in group.itertuples(index=False):
            rows.append([str(r.segment), f"{r.accounts:,}", f"{r.new_customers:,}", money(r.cac),
                         money(r.campaign_cost), money(r.campaign_revenue), pct(r.campaign_roi, 0),
                         f"{r.attributed_deals:,}", pct(r.email_reach_rate), f"{r.email_opens:,}",
                         pct(r.email_click_through_rate), _per(r.content_downloads_per_account),
                         _per(r.webinars_per_account), "" if np.isfinite(r.cac) and r.actionable else
                         ("no: costs more than it brings" if np.isfinite(r.cac) else "")])
    note = ("Campaign ROI is (revenue of the deals credited to the segment's campaigns - their cost) / their cost; "
            "a rate on a handful of customers or deals is weak evidence: read it with the count beside it.")
    return ("<h3>Acquisition cost, campaign return and engagement</h3>" + f"<p>{html.escape(note)}</p>"
            + _html_table(head, rows, text_columns=1))


def _per(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:,.2f}"


def _days(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:,.0f}"


def _html_table(head: list[str], rows: list[list[str]], *, text_columns: int) -> str:
    def cls(i: int) -> str:
        return " class='text'" if i < text_columns else ""

    def line(row: list[str]) -> str:
        if len(row) == 1:  # a group title across the whole table
            return f"<tr class='group'><th class='text' colspan='{len(head)}'>{html.escape(row[0])}</th></tr>"
        return "<tr>" + "".join(f"<td{cls(i)}>{html.escape(v)}</td>" for i, v in enumerate(row)) + "</tr>"

    header = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(head))
    body = "".join(line(row) for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
