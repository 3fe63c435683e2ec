"""Issue 19: CAC, campaign ROI and engagement per segment on a generated world, checked against a plain second
computation from the raw tables for every attribution rule; nothing after the as-of time changes them; data without
campaigns or spend still works and says what is unavailable."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.segments.config import AttributionConfig, KpiConfig
from b2bscore.segments.kpis import segment_campaigns, segment_kpis, unavailable_kpis
from b2bscore.synth import WorldConfig, generate_world

RULES = ("first_touch", "last_touch", "linear")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("campaign-world")
    generate_world(WorldConfig(accounts=400, months=18, seed=11), folder)
    return folder


@pytest.fixture(scope="module")
def data(world):
    return load_dataset(world)[0]


@pytest.fixture(scope="module")
def assignments(data) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ids = data.accounts["account_id"].to_numpy(dtype=object)
    return pd.DataFrame({"account_id": ids, "tier": rng.choice(["Tier 1", "Tier 2", "Tier 3"], len(ids)),
                         "value": rng.uniform(1_000, 60_000, len(ids))})


def _plain(world: Path, labels: dict[str, str], as_of: pd.Timestamp, window_days: int, rule: str,
           lookback_days: int) -> tuple[dict[str, dict[str, float]], dict[tuple[str, str], dict[str, float]]]:
    """CAC and campaign ROI per segment, and ROI per (segment or "all", campaign), from the files, one row at a
    time."""
    raw = {name: pd.read_parquet(world / f"{name}.parquet")
           for name in ("leads", "activities", "opportunities", "campaigns", "spend")}
    start = as_of - window_days * DAY
    touches = defaultdict(list)  # account -> [(at, campaign)]
    for table, column in (("leads", "created_at"), ("activities", "occurred_at")):
        for account, campaign, at in raw[table][["account_id", "campaign_id", column]].itertuples(index=False):
            if campaign is not None and at < as_of:
                touches[account].append((at, campaign))
    window_cost, channel_spend = defaultdict(float), 0.0
    for row in raw["campaigns"].itertuples(index=False):
        if row.started_at >= as_of:
            continue
        length = (row.ended_at - row.started_at) / DAY
        overlap = max(0.0, (min(row.ended_at, as_of) - max(row.started_at, start)) / DAY)
        window_cost[row.campaign_id] += row.cost * overlap / length
    for row in raw["spend"].itertuples(index=False):
        if start <= row.period_start < as_of:
            if row.campaign_id is None:
                channel_spend += row.amount
            else:
                window_cost[row.campaign_id] += row.amount
    in_window = defaultdict(lambda: defaultdict(int))  # campaign -> account -> touches in the window
    for account, items in touches.items():
        for at, campaign in items:
            if at >= start:
                in_window[campaign][account] += 1
    charge = defaultdict(float)
    per_campaign = defaultdict(lambda: {"cost": 0.0, "revenue": 0.0})  # (segment or "all", campaign)
    pool = channel_spend
    for campaign, cost in window_cost.items():
        total = sum(in_window[campaign].values())
        per_campaign["all", campaign]["cost"] = cost
        if total == 0:
            pool += cost
        for account, n in in_window[campaign].items():
            charge[account] += cost * n / total
            per_campaign[labels[account], campaign]["cost"] += cost * n / total
    first_win, revenue = {}, defaultdict(float)
    won = raw["opportunities"][(raw["opportunities"]["stage"] == "won") & (raw["opportunities"]["closed_at"] < as_of)]
    for row in won.itertuples(index=False):
        first_win[row.account_id] = min(first_win.get(row.account_id, row.closed_at), row.closed_at)
        if not start <= row.closed_at < as_of:
            continue
        seen = sorted((at, c) for at, c in touches[row.account_id]
                      if row.created_at - lookback_days * DAY <= at < row.created_at)
        if not seen:
            continue
        credits = ({seen[0][1]: 1.0} if rule == "first_touch" else {seen[-1][1]: 1.0} if rule == "last_touch"
                   else defaultdict(float))
        if rule == "linear":
            for _, campaign in seen:
                credits[campaign] += 1.0 / len(seen)
        amount = 0.0 if np.isnan(row.amount) else row.amount
        revenue[row.account_id] += sum(credits.values()) * amount
        for campaign, credit in credits.items():
            for key in ("all", labels[row.account_id]):
                per_campaign[key, campaign]["revenue"] += credit * amount
    all_touches = sum(sum(v.values()) for v in in_window.values())
    out = {}
    for segment in sorted(set(labels.values())):
        members = [a for a, s in labels.items() if s == segment]
        seg_touches = sum(in_window[c].get(a, 0) for c in in_window for a in members)
        spend = sum(charge[a] for a in members) + pool * seg_touches / all_touches
        new = sum(1 for a in members if a in first_win and start <= first_win[a] < as_of)
        cost = sum(charge[a] for a in members)
        out[segment] = {"cac": spend / new if new else np.nan, "campaign_cost": cost,
                        "campaign_roi": (sum(revenue[a] for a in members) - cost) / cost, "new_customers": new}
    return out, {key: v for key, v in per_campaign.items() if v["cost"] > 0 or v["revenue"] > 0}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("back_days, window_days", [(0, 365), (120, 200)])
def test_cac_and_roi_match_a_plain_computation(world, data, assignments, rule, back_days, window_days):
    as_of = data.resolve_as_of(None, purpose="test") - back_days * DAY
    attribution = AttributionConfig(rule=rule, lookback_days=120)
    kpis = segment_kpis(assignments, data, as_of, KpiConfig(window_days=window_days), kinds=("tier",),
                        attribution=attribution).set_index("segment")
    expected, by_campaign = _plain(world, dict(zip(assignments["account_id"], assignments["tier"])), as_of,
                                   window_days, rule, 120)
    for segment, figures in expected.items():
        assert kpis.at[segment, "new_customers"] == figures["new_customers"] > 0
        for column in ("cac", "campaign_cost", "campaign_roi"):
            assert kpis.at[segment, column] == pytest.approx(figures[column], rel=1e-9), (segment, column)
    assert kpis["attributed_deals"].sum() > 0
    assert (kpis["email_opens"] > 0).all() and kpis["email_click_through_rate"].between(0, 1).all()
    # ROI per campaign and per campaign x segment: where the rule matters (per segment, every deal's credits sum to 1)
    campaigns = segment_campaigns(assignments, data, as_of, KpiConfig(window_days=window_days), kinds=("tier",),
                                  attribution=attribution)
    got = {(r.segment, r.campaign_id): r for r in campaigns.itertuples()}
    assert set(got) == set(by_campaign)
    for key, figures in by_campaign.items():
        assert got[key].cost == pytest.approx(figures["cost"], rel=1e-9, abs=1e-6), key
        assert got[key].revenue == pytest.approx(figures["revenue"], rel=1e-9, abs=1e-6), key
        if figures["cost"] > 0:
            assert got[key].roi == pytest.approx((figures["revenue"] - figures["cost"]) / figures["cost"], rel=1e-9)


def test_rules_credit_differently_and_per_campaign_adds_up(data, assignments):
    """The per-campaign rows of each rule hold every credited deal once, and the segments' rows split them."""
    frames = {rule: segment_campaigns(assignments, data, None or data.resolve_as_of(None, purpose="t"),
                                      kinds=("tier",), attribution=AttributionConfig(rule=rule)) for rule in RULES}
    totals = {rule: frame[frame["kind"] == "all"].set_index("campaign_id")["revenue"] for rule, frame in frames.items()}
    assert not totals["first_touch"].equals(totals["last_touch"])
    for rule, frame in frames.items():
        whole = frame[frame["kind"] == "all"].set_index("campaign_id")
        parts = frame[frame["kind"] == "tier"].groupby("campaign_id")[["revenue", "cost"]].sum()
        assert parts["revenue"].to_numpy() == pytest.approx(whole.loc[parts.index, "revenue"].to_numpy())
        assert (parts["cost"] <= whole.loc[parts.index, "cost"] + 1e-6).all()
        assert set(frame["rule"]) == {f"{rule}, 180 days"}


def test_nothing_after_the_as_of_time_changes_the_kpis(data, assignments):
    as_of = data.resolve_as_of(None, purpose="t") - 90 * DAY
    later = as_of + pd.Timedelta(hours=1)
    account = assignments["account_id"].iloc[0]
    campaign = data.campaigns["campaign_id"].iloc[0]
    more = replace(
        data,
        leads=pd.concat([data.leads, pd.DataFrame({"lead_id": ["L-late"], "account_id": [account], "created_at": [later],
                                                   "campaign_id": [campaign]})], ignore_index=True),
        activities=pd.concat([data.activities, pd.DataFrame({"account_id": [account] * 2, "occurred_at": [later] * 2,
                                                             "activity_type": ["email_open", "webinar_attended"],
                                                             "campaign_id": [campaign] * 2})], ignore_index=True),
        opportunities=pd.concat([data.opportunities, pd.DataFrame({
            "opportunity_id": ["O-late"], "account_id": [account], "lead_id": ["L-late"], "created_at": [later],
            "closed_at": [later + DAY], "stage": ["won"], "amount": [1e6]})], ignore_index=True),
        campaigns=pd.concat([data.campaigns, pd.DataFrame({"campaign_id": ["C-late"], "channel": ["events"],
                                                           "started_at": [later], "ended_at": [later + 30 * DAY],
                                                           "cost": [5e5]})], ignore_index=True),
        spend=pd.concat([data.spend, pd.DataFrame({"period_start": [later], "channel": ["sales"],
                                                   "amount": [9e5]})], ignore_index=True),
    )
    for rule in RULES:
        attribution = AttributionConfig(rule=rule)
        before = segment_kpis(assignments, data, as_of, kinds=("tier",), attribution=attribution)
        after = segment_kpis(assignments, more, as_of, kinds=("tier",), attribution=attribution)
        pd.testing.assert_frame_equal(before, after)
        pd.testing.assert_frame_equal(segment_campaigns(assignments, data, as_of, kinds=("tier",), attribution=attribution),
                                      segment_campaigns(assignments, more, as_of, kinds=("tier",), attribution=attribution))


def test_without_campaigns_or_spend_the_kpis_say_what_is_unavailable(data, assignments):
    as_of = data.resolve_as_of(None, purpose="t")
    bare = replace(data, campaigns=None, spend=None)
    kpis = segment_kpis(assignments, bare, as_of, kinds=("tier",))
    assert kpis["cac"].isna().all() and kpis["campaign_roi"].isna().all() and kpis["actionable"].all()
    assert (kpis["new_customers"] > 0).all()  # still counted: only the cost is unknown
    assert segment_campaigns(assignments, bare, as_of, kinds=("tier",)).empty
    notes = unavailable_kpis(bare)
    assert any("CAC and campaign ROI are unavailable" in n for n in notes)
    only_spend = segment_kpis(assignments, replace(data, campaigns=None), as_of, kinds=("tier",))
    assert only_spend["cac"].notna().all() and only_spend["campaign_roi"].isna().all()
    assert any("campaign ROI is unavailable" in n for n in unavailable_kpis(replace(data, campaigns=None)))
    assert any("no spend table" in n for n in unavailable_kpis(replace(data, spend=None)))
    untouched = replace(data, leads=data.leads.assign(campaign_id=None), activities=data.activities.assign(campaign_id=None))
    assert any("no lead or activity names a campaign" in n for n in unavailable_kpis(untouched))
    assert not any("names a campaign" in n for n in unavailable_kpis(data))
    kpis = segment_kpis(assignments, untouched, as_of, kinds=("tier",))
    assert (kpis["campaign_revenue"] == 0).all() and (kpis["attributed_deals"] == 0).all() and kpis["cac"].notna().all()


def test_a_segment_costing_more_than_it_brings_is_not_actionable(data, assignments):
    cheap = assignments.assign(value=np.where(assignments["tier"] == "Tier 2", 1.0, 1e9))
    kpis = segment_kpis(cheap, data, data.resolve_as_of(None, purpose="t"), kinds=("tier",)).set_index("segment")
    assert not kpis.at["Tier 2", "actionable"] and not kpis.at["Tier 2", "flagged"]
    assert "not actionable: a new customer costs" in kpis.at["Tier 2", "flag_reason"]
    assert kpis.loc[["Tier 1", "Tier 3"], "actionable"].all()
    few = segment_kpis(cheap, data, data.resolve_as_of(None, purpose="t"),
                       KpiConfig(min_new_customers=int(kpis.at["Tier 2", "new_customers"]) + 1), kinds=("tier",))
    assert few["actionable"].all()  # a CAC over fewer new customers than that is not held against the segment


def test_market_share_only_where_the_accounts_are_the_market(data, assignments):
    as_of = data.resolve_as_of(None, purpose="t")
    assert segment_kpis(assignments, data, as_of, kinds=("tier",))["market_share"].isna().all()
    shown = segment_kpis(assignments, data, as_of, KpiConfig(accounts_are_market=True), kinds=("tier",))
    assert (shown["market_share"] == shown["customers_now"] / shown["accounts"]).all()
