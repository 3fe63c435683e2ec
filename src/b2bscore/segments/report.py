"""What sales and marketing open: the ranked, CRM-ready account list and the HTML summary."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from b2bscore.segments._charts import segment_chart
from b2bscore.segments._profile import ClusterProfile
from b2bscore.segments.assign import SEGMENT_KINDS

RANKED_COLUMNS: tuple[str, ...] = (
    "rank", "account_id", "name", "tier", "tier_rule", "value_segment", "firmographic_segment",
    "technographic_segment", "buying_stage", "cluster_name", "customer_status", "fit", "propensity", "value",
    "priority", "churn_risk", "p_convert", "p_churn", "cltv_pred", "reasons",
)
_KPI_SHOWN = ("kind", "segment", "accounts", "leads", "lead_to_opportunity_rate", "win_rate", "avg_won_deal",
              "median_sales_cycle_days", "conversion_rate", "churn_rate", "avg_realised_revenue", "avg_value",
              "pipeline_share", "conversion_p", "value_p", "flag_reason")


def ranked_accounts(assignments: pd.DataFrame, accounts: pd.DataFrame, tier_order: tuple[str, ...]) -> pd.DataFrame:
    """Accounts sorted by tier (in ``tier_order``), then by priority = propensity x value, highest first."""
    names = accounts.drop_duplicates("account_id").set_index("account_id")["name"]
    frame = assignments.copy()
    frame["name"] = names.reindex(frame["account_id"]).to_numpy(dtype=object)
    frame["priority"] = frame["propensity"].to_numpy(dtype=np.float64) * frame["value"].to_numpy(dtype=np.float64)
    order = {tier: i for i, tier in enumerate(tier_order)}
    frame["_tier"] = frame["tier"].map(order).fillna(len(order))
    frame = frame.sort_values(["_tier", "priority", "account_id"], ascending=[True, False, True], kind="stable",
                              na_position="last")
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame[list(RANKED_COLUMNS)].reset_index(drop=True)


def summary_html(assignments: pd.DataFrame, kpis: pd.DataFrame, profiles: list[ClusterProfile], *,
                 as_of: pd.Timestamp, notes: tuple[str, ...] = (), diff_text: str | None = None) -> str:
    """A self-contained HTML page: notes, one chart per segment kind (size, conversion, value), data-driven
    segment profiles, flagged segments, the KPI table and, after a refresh, what moved."""
    window = ""
    if len(kpis):
        window = f"KPI window: {kpis['window_start'].iloc[0]:%Y-%m-%d} to {kpis['window_end'].iloc[0]:%Y-%m-%d} (before the as-of date)"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Account segments</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,td:nth-child(2){text-align:left}"
        ".note{background:#fff3cd;padding:.6em;border-left:4px solid #f0ad4e}.flag{color:#b00}</style></head><body>",
        f"<h1>Account segments as of {as_of:%Y-%m-%d}</h1>",
        f"<p>{len(assignments):,} accounts. {html.escape(window)}</p>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in notes),
        "<h2>Tiers</h2>", _counts_table(assignments),
    ]
    for kind in SEGMENT_KINDS:
        rows = kpis[kpis["kind"] == kind]
        if len(rows):
            parts += [f"<h2>{html.escape(kind.replace('_', ' ').capitalize())}</h2>", segment_chart(rows, kind)]
    parts += ["<h2>Data-driven segment profiles</h2><ul>"]
    parts += [f"<li><b>{html.escape(p.name)}</b> ({p.size:,} accounts, {p.share:.0%}): {html.escape(p.text)}</li>"
              for p in profiles]
    parts += ["</ul>", "<h2>Flagged segments</h2>", _flagged(kpis)]
    if diff_text:
        parts += ["<h2>Changes since the previous version</h2>", f"<pre>{html.escape(diff_text)}</pre>"]
    shown = [c for c in _KPI_SHOWN if c in kpis.columns]
    parts += ["<h2>KPI table</h2>", _table(kpis[shown]), "</body></html>"]
    return "\n".join(parts)


def _counts_table(assignments: pd.DataFrame) -> str:
    counts = pd.crosstab(assignments["tier"], assignments["customer_status"], margins=True, margins_name="all")
    return _table(counts.reset_index())


def _flagged(kpis: pd.DataFrame) -> str:
    """Per kind, how many segments are flagged, with the list folded away (small firmographic cells abound)."""
    flagged = kpis[kpis["flagged"]] if "flagged" in kpis.columns else kpis.iloc[0:0]
    if flagged.empty:
        return "<p>None: every segment is substantial, measurable and differentiable.</p>"
    parts = []
    for kind, rows in flagged.groupby("kind", sort=False):
        total = int((kpis["kind"] == kind).sum())
        items = "".join(f"<li class='flag'>{html.escape(str(r.segment))}: {html.escape(str(r.flag_reason))}</li>"
                        for r in rows.itertuples())
        parts.append(f"<details><summary>{html.escape(str(kind))}: {len(rows)} of {total} segments flagged</summary>"
                     f"<ul>{items}</ul></details>")
    return "".join(parts)


def _table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else (f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}")
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"
