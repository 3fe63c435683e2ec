"""Each drift kind changes only what its record names, and only from its start date."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from b2bscore.synth import DRIFT_KINDS, WorldConfig, generate_world

BASE = dict(accounts=800, seed=9, start=date(2023, 1, 1), months=18)
DRIFT_DATE = pd.Timestamp("2024-01-01")  # month 12 of 18


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Path]:
    root = tmp_path_factory.mktemp("drift")
    out: dict[str | None, Path] = {}
    for kind in (None, *DRIFT_KINDS):
        out[kind] = root / str(kind)
        generate_world(WorldConfig(**BASE, drift=kind), out[kind])
    return out


def _read(path: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(path / f"{name}.parquet")


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_drift_record(worlds: dict[str | None, Path], kind: str) -> None:
    record = json.loads((worlds[kind] / "truth" / "world.json").read_text())["drift"]
    assert record["kind"] == kind and record["start_date"] == "2024-01-01"
    assert record["affected"] and all(isinstance(v, list) and v for v in record["affected"].values())


def test_intent_decay_touches_only_intent_after_the_date(worlds: dict[str | None, Path]) -> None:
    base, drift = worlds[None], worlds["intent_decay"]
    for name in ("accounts", "technographics", "activities", "leads", "opportunities", "revenue"):
        assert (base / f"{name}.parquet").read_bytes() == (drift / f"{name}.parquet").read_bytes(), name
    a, b = _read(base, "intent"), _read(drift, "intent")
    pd.testing.assert_frame_equal(a[a["week_start"] < DRIFT_DATE].reset_index(drop=True),
                                  b[b["week_start"] < DRIFT_DATE].reset_index(drop=True))
    late = DRIFT_DATE + pd.Timedelta(weeks=6)
    high = lambda f: (f.loc[f["week_start"] >= late, "score"] >= 50).sum()  # noqa: E731
    assert high(b) < 0.2 * high(a)


def test_price_change_raises_churn_in_one_segment_only(worlds: dict[str | None, Path]) -> None:
    base, drift = worlds[None], worlds["price_change"]
    affected = json.loads((drift / "truth" / "world.json").read_text())["drift"]["affected"]["planted_segment"]
    segments = _read(base / "truth", "segments")
    hit = set(segments.loc[segments["planted_segment"].isin(affected), "account_id"])
    cb, cd = _read(base / "truth", "customers"), _read(drift / "truth", "customers")
    keep = lambda f: f[~f["account_id"].isin(hit)].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(keep(cb), keep(cd))
    rb, rd = _read(base, "revenue"), _read(drift, "revenue")
    pd.testing.assert_frame_equal(keep(rb), keep(rd))
    mine = cd[cd["account_id"].isin(hit)]
    before = mine[mine["as_of"] < DRIFT_DATE - pd.Timedelta(days=180)]["p_churn_180d"].mean()
    after = mine[mine["as_of"] >= DRIFT_DATE]["p_churn_180d"].mean()
    assert after > 1.5 * before
    base_mine = cb[cb["account_id"].isin(hit)]
    assert base_mine[base_mine["as_of"] >= DRIFT_DATE]["p_churn_180d"].mean() < 1.2 * before


def _per_account_month(leads: pd.DataFrame, accounts: set[str], lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    rows = leads[leads["account_id"].isin(accounts) & (leads["created_at"] >= lo) & (leads["created_at"] < hi)]
    return len(rows) / len(accounts) / ((hi - lo).days / 30.4)


def test_industry_mix_makes_healthcare_buy(worlds: dict[str | None, Path]) -> None:
    base, drift = worlds[None], worlds["industry_mix"]
    accounts = _read(base, "accounts")
    health = set(accounts.loc[accounts["industry"] == "healthcare", "account_id"])
    others = set(accounts["account_id"]) - health
    start, end = pd.Timestamp("2023-01-01"), pd.Timestamp("2024-07-01")
    ld, lb = _read(drift / "truth", "leads"), _read(base / "truth", "leads")
    rate = lambda f, acc, lo, hi: _per_account_month(f, acc, lo, hi)  # noqa: E731
    assert rate(ld, health, DRIFT_DATE, end) > 1.8 * rate(ld, health, start, DRIFT_DATE)
    p_h = ld[ld["account_id"].isin(health)]
    assert p_h[p_h["created_at"] >= DRIFT_DATE]["p_convert"].mean() > p_h[p_h["created_at"] < DRIFT_DATE]["p_convert"].mean() + 0.1
    for frame in (ld, lb):  # untouched industries: same lead rate and conversion as without drift
        assert rate(frame, others, DRIFT_DATE, end) == pytest.approx(rate(lb, others, DRIFT_DATE, end), rel=0.1)
    o_d = ld[ld["account_id"].isin(others) & (ld["created_at"] >= DRIFT_DATE)]["p_convert"].mean()
    o_b = lb[lb["account_id"].isin(others) & (lb["created_at"] >= DRIFT_DATE)]["p_convert"].mean()
    assert o_d == pytest.approx(o_b, abs=0.02)


def test_channel_shift_moves_only_the_named_sources(worlds: dict[str | None, Path]) -> None:
    base, drift = worlds[None], worlds["channel_shift"]
    named = json.loads((drift / "truth" / "world.json").read_text())["drift"]["affected"]["source"]
    for path, shifted in ((drift, True), (base, False)):
        leads = _read(path, "leads")
        late = leads["created_at"] >= DRIFT_DATE
        share = lambda mask, s: (leads.loc[mask, "source"] == s).mean()  # noqa: E731
        paid = share(late, "paid_search") / share(~late, "paid_search")
        events = share(late, "events") / share(~late, "events")
        if shifted:
            assert paid < 0.4 and events > 1.8
        else:
            assert 0.7 < paid < 1.4 and 0.6 < events < 1.6
        rest = leads[~leads["source"].isin(named)]
        mix = lambda m: rest.loc[m, "source"].value_counts(normalize=True)  # noqa: E731
        before, after = mix(~late.loc[rest.index]), mix(late.loc[rest.index])
        assert (before - after).abs().max() < 0.12  # sampling noise of ~200 late leads
