"""Contract conformance, determinism and truth sanity of tiny synthetic worlds."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from b2bscore.data.contract import TABLES
from b2bscore.synth import DRIFT_KINDS, TECH_GROUPS, WorldConfig, WorldSummary, generate_world

START = date(2023, 1, 1)



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[WorldSummary, dict[str, pd.DataFrame]]:
    out = tmp_path_factory.mktemp("world")
    steps: list[tuple[str, float]] = []
    summary = generate_world(WorldConfig(accounts=300, seed=3, start=START, months=12), out,
                             progress=lambda s, f: steps.append((s, f)))
    assert steps[-1] == ("done", 1.0) and all(0 <= f <= 1 for _, f in steps)
    assert [f for _, f in steps] == sorted(f for _, f in steps)
    return summary, {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLES}


def test_summary_and_files(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    summary, tables = world
    assert summary.start == START and summary.end == date(2024, 1, 1)
    assert summary.drift is None
    assert set(summary.row_counts) == set(TABLES)
    for name, frame in tables.items():
        assert summary.row_counts[name] == len(frame) > 0, name
    assert sorted(p.name for p in (summary.out_dir / "truth").iterdir()) == [
        "campaigns.parquet", "customers.parquet", "leads.parquet", "prospects.parquet", "segments.parquet", "world.json"]


def test_columns_types_and_allowed_values(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    _, tables = world
    for name, frame in tables.items():
        spec = TABLES[name]
        assert tuple(frame.columns) == spec.column_names, name
        for col in spec.columns:
            values = frame[col.name]
            if col.kind == "datetime":
                assert str(values.dtype) == "datetime64[ns]", (name, col.name)
            elif col.kind in ("int", "float"):
                assert pd.api.types.is_numeric_dtype(values), (name, col.name)
            else:
                assert values.dropna().map(type).eq(str).all(), (name, col.name)
            if not col.nullable and col.required:
                assert values.notna().all(), (name, col.name)
            if col.allowed is not None and not col.open_values:
                assert set(values.dropna()) <= set(col.allowed), (name, col.name)
            if col.nonnegative:
                assert (values.dropna() >= 0).all(), (name, col.name)
            if col.min_value is not None:
                assert (values.dropna() >= col.min_value).all(), (name, col.name)
            if col.max_value is not None:
                assert (values.dropna() <= col.max_value).all(), (name, col.name)
        if spec.key is not None:
            assert not frame.duplicated(list(spec.key)).any(), name


def test_every_activity_type_and_some_unknown(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    acts = world[1]["activities"]
    allowed = TABLES["activities"].column("activity_type").allowed
    assert set(allowed) <= set(acts["activity_type"])
    unknown = ~acts["activity_type"].isin(allowed)
    assert set(acts.loc[unknown, "activity_type"]) == {"chat_message"}
    assert 0.001 < unknown.mean() < 0.02
    assert acts["occurred_at"].is_monotonic_increasing


def test_references_and_time_bounds(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    summary, t = world
    start, end = pd.Timestamp(summary.start), pd.Timestamp(summary.end)
    accounts = set(t["accounts"]["account_id"])
    for name, spec in TABLES.items():
        for column, target in spec.references.items():
            keys = set(t[target][TABLES[target].key[0]])
            assert set(t[name][column].dropna()) <= keys, (name, column)
    lead_account = t["leads"].set_index("lead_id")["account_id"]
    for name in ("activities", "opportunities"):
        with_lead = t[name].dropna(subset=["lead_id"])
        assert (lead_account.loc[with_lead["lead_id"]].to_numpy() == with_lead["account_id"].to_numpy()).all()
    assert set(t["leads"]["account_id"]) <= accounts
    for name, column in (("activities", "occurred_at"), ("intent", "week_start"), ("leads", "created_at"),
                         ("opportunities", "created_at"), ("opportunities", "closed_at"), ("revenue", "invoice_at"),
                         ("technographics", "last_seen_at")):
        stamps = t[name][column].dropna()
        assert ((stamps >= start) & (stamps < end)).all(), (name, column)
    tech = t["technographics"]
    assert (tech["first_seen_at"] < end).all() and (tech["first_seen_at"] < start).any()
    assert (tech["last_seen_at"].dropna() >= tech.loc[tech["last_seen_at"].notna(), "first_seen_at"]).all()
    assert tech["technology"].isin([x for g in TECH_GROUPS.values() for x in g]).all()


def test_opportunities_consistent(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    t = world[1]
    opps = t["opportunities"]
    closed = opps["closed_at"].notna()
    assert (opps.loc[closed, "closed_at"] >= opps.loc[closed, "created_at"]).all()
    assert (opps["stage"] == "open").eq(~closed).all()
    assert {"won", "lost"} <= set(opps["stage"])
    leads = t["leads"].set_index("lead_id")["created_at"]
    won = opps[opps["stage"] == "won"]
    lag = won["closed_at"].to_numpy() - leads.loc[won["lead_id"]].to_numpy()
    assert (lag <= np.timedelta64(90, "D")).all() and (lag > np.timedelta64(0)).all()
    assert (opps["created_at"].to_numpy() > leads.loc[opps["lead_id"]].to_numpy()).all()


def test_accounts_realistic(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    acc = world[1]["accounts"]
    assert acc["employees"].between(5, 200_000).all()
    assert acc["employees"].max() > 20 * acc["employees"].median()  # heavy tail
    assert np.corrcoef(np.log(acc["employees"]), np.log(acc["annual_revenue"]))[0, 1] > 0.8
    regions = {"US": "north_america", "DE": "emea", "BR": "latin_america", "JP": "apac"}
    for country, region in regions.items():
        assert (acc.loc[acc["country"] == country, "region"] == region).all()
    assert (acc.loc[acc["ownership"] == "public", "funding_stage"] == "public").all()
    assert acc["name"].str.match(r"^[A-Z][a-z]+ [A-Z][a-z]+$").all()


def test_truth_files(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    summary, t = world
    truth = summary.out_dir / "truth"
    leads = pd.read_parquet(truth / "leads.parquet")
    assert leads["lead_id"].tolist() == t["leads"]["lead_id"].tolist()
    assert leads["p_convert"].between(0, 1).all()
    top = leads["p_convert"] >= leads["p_convert"].median()
    assert leads.loc[top, "converted"].mean() > 1.5 * leads.loc[~top, "converted"].mean()
    customers = pd.read_parquet(truth / "customers.parquet")
    assert customers["p_churn_180d"].between(0, 1).all()
    assert (customers["as_of"].dt.day == 1).all() and not customers.duplicated(["account_id", "as_of"]).any()
    paid = t["revenue"].rename(columns={"invoice_at": "as_of"})
    assert len(customers.merge(paid, on=["account_id", "as_of"])) == len(customers) == len(paid)
    assert np.corrcoef(customers["expected_revenue_365d"], customers["revenue_365d"])[0, 1] > 0.8
    segments = pd.read_parquet(truth / "segments.parquet")
    assert segments["account_id"].tolist() == t["accounts"]["account_id"].tolist()
    assert 4 <= segments["planted_segment"].nunique() <= 6 and segments["fit"].between(0, 1).all()
    world_json = json.loads((truth / "world.json").read_text())
    assert world_json["drift"] is None and world_json["start"] == "2023-01-01" and world_json["end"] == "2024-01-01"
    assert world_json["config"]["accounts"] == 300 and "segments" in world_json["parameters"]


def test_fit_drives_conversion(world: tuple[WorldSummary, dict[str, pd.DataFrame]]) -> None:
    truth = world[0].out_dir / "truth"
    leads = pd.read_parquet(truth / "leads.parquet").merge(pd.read_parquet(truth / "segments.parquet"), on="account_id")
    assert np.corrcoef(leads["fit"], leads["p_convert"])[0, 1] > 0.3


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_deterministic(tmp_path: Path, file_format: str) -> None:
    config = WorldConfig(accounts=150, seed=11, months=6, file_format=file_format, drift="channel_shift")
    generate_world(config, tmp_path / "a")
    generate_world(config, tmp_path / "b")
    first, second = _all_bytes(tmp_path / "a"), _all_bytes(tmp_path / "b")
    assert first.keys() == second.keys() and len(first) == 15  # 9 tables, 6 truth files
    assert first == second
    generate_world(config.model_copy(update={"seed": 12}), tmp_path / "c")
    third = _all_bytes(tmp_path / "c")
    assert all(first[k] != third[k] for k in first if k.endswith(("activities." + file_format, "leads." + file_format)))


def test_csv_matches_contract(tmp_path: Path) -> None:
    generate_world(WorldConfig(accounts=100, seed=5, months=6, file_format="csv"), tmp_path)
    for name, spec in TABLES.items():
        frame = pd.read_csv(tmp_path / f"{name}.csv")
        assert tuple(frame.columns) == spec.column_names
        for col in spec.columns:
            if col.kind == "datetime":
                pd.to_datetime(frame[col.name], format="%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize("bad", [
    {"accounts": 19}, {"months": 5}, {"months": 61}, {"drift": "weather"}, {"file_format": "xlsx"}, {"colour": "red"},
])
def test_config_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        WorldConfig(**bad)
    assert next(iter(bad)) in str(info.value)


def test_config_defaults_frozen_and_drift_kinds() -> None:
    config = WorldConfig()
    with pytest.raises(ValidationError):
        config.accounts = 10  # type: ignore[misc]
    assert set(DRIFT_KINDS) == {"industry_mix", "channel_shift", "intent_decay", "price_change"}
    assert "industry_mix" in str(pytest.raises(ValidationError, WorldConfig, drift="x").value)
