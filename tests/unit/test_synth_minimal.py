"""The minimal export of a synthetic world (``generate --minimal``) and the two test worlds of ``tests/worlds.py``."""

from __future__ import annotations

import filecmp
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, mannwhitneyu
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner
from worlds import BASE_RATE, END, START, custom_signal_world, no_signal_world

from b2bscore.cli import app
from b2bscore.errors import B2BScoreError
from b2bscore.synth import WorldConfig, generate_minimal, generate_world

CONFIG = WorldConfig(accounts=3000, seed=11, start=date(2023, 1, 1), months=24)
WORLD_END = pd.Timestamp("2025-01-01")
PROMISED = {
    "accounts": ["account_id", "name", "sic_code", "company_size", "first_contact_date"],
    "leads": ["lead_id", "account_id", "created_at", "source", "job_title", "landing_page_id", "lead_status"],
    "opportunities": ["opportunity_id", "account_id", "lead_id", "created_at", "closed_at", "stage", "amount"],
    "revenue": ["account_id", "invoice_at", "amount"],
    "activities": ["account_id", "occurred_at", "activity_type", "topic"],
}


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The full world and its minimal export twice, all from ``CONFIG``."""
    root = tmp_path_factory.mktemp("minimal")
    generate_world(CONFIG, root / "full")
    generate_minimal(CONFIG, root / "minimal")
    generate_minimal(CONFIG, root / "again")
    return {"full": root / "full", "minimal": root / "minimal", "again": root / "again"}


@pytest.fixture(scope="module")
def leads(worlds: dict[str, Path]) -> pd.DataFrame:
    """Minimal leads with their account's custom columns and the truth (``p_convert``, ``converted``)."""
    folder = worlds["minimal"]
    truth = pd.read_parquet(folder / "truth" / "leads.parquet", columns=["lead_id", "p_convert", "converted"])
    accounts = pd.read_parquet(folder / "accounts.parquet")
    return (pd.read_parquet(folder / "leads.parquet").merge(truth, on="lead_id", validate="1:1")
            .merge(accounts[["account_id", "sic_code", "company_size"]], on="account_id", validate="m:1"))


def test_exactly_the_promised_tables_and_columns(worlds: dict[str, Path]) -> None:
    tables = _tables(worlds["minimal"])
    assert {name: list(frame.columns) for name, frame in tables.items()} == PROMISED
    assert all(len(frame) > 0 for frame in tables.values())


def test_same_world_and_same_truth_as_the_full_export(worlds: dict[str, Path]) -> None:
    full, minimal = _tables(worlds["full"]), _tables(worlds["minimal"])
    for name, columns in PROMISED.items():
        shared = [c for c in columns if c in full[name].columns]
        pd.testing.assert_frame_equal(minimal[name][shared], full[name][shared], check_exact=True, obj=name)
    for name in ("customers.parquet", "leads.parquet", "segments.parquet", "world.json"):
        assert filecmp.cmp(worlds["full"] / "truth" / name, worlds["minimal"] / "truth" / name, shallow=False), name
    assert not [p for p in worlds["minimal"].iterdir() if p.name.startswith(".")]  # the scratch world is gone


def test_deterministic_for_a_seed(worlds: dict[str, Path]) -> None:
    names = sorted(str(p.relative_to(worlds["minimal"])) for p in worlds["minimal"].rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(worlds["minimal"], worlds["again"], names, shallow=False)
    assert (mismatch, errors) == ([], []) and len(match) == 12  # 5 tables, 7 truth files (campaigns: issue 19)


def test_custom_account_columns(worlds: dict[str, Path]) -> None:
    accounts = _tables(worlds["minimal"])["accounts"]
    employees = _tables(worlds["full"])["accounts"]["employees"]
    assert 300 <= accounts["sic_code"].nunique() <= 600
    assert accounts["sic_code"].str.fullmatch(r"\d{4}").all()
    bands = accounts["company_size"].str.extract(r"^(\d+)-?(\d*)\+?$").replace("", np.inf).astype(float)
    assert ((employees >= bands[0]) & (employees <= bands[1])).all()
    contact = pd.to_datetime(accounts["first_contact_date"])
    assert 0.9 < contact.notna().mean() < 1 and (contact.dropna() < pd.Timestamp(CONFIG.start)).all()


def test_landing_page_ids(worlds: dict[str, Path]) -> None:
    pages = _tables(worlds["minimal"])["leads"]["landing_page_id"]
    assert pages.map(lambda page: re.fullmatch(r"lp_[0-9a-f]{4}", page) is not None).all()
    assert 50 <= pages.nunique() <= 200


def test_lead_status_leaks_the_outcome(leads: pd.DataFrame) -> None:
    assert set(leads["lead_status"]) == {"converted", "disqualified", "nurture", "working"}
    labelled = leads[leads["created_at"] + pd.Timedelta(days=90) <= WORLD_END]
    agreement = ((labelled["lead_status"] == "converted") == labelled["converted"]).mean()
    assert agreement >= 0.99
    assert set(leads.loc[leads["lead_status"] == "working", "created_at"].dt.year) == {2024}


def _permutation_p(key: pd.Series, leads: pd.DataFrame, outcome: str, permutations: int = 999) -> float:
    """P-value of the between-group sum of squares of ``leads[outcome]`` by the account's ``key``, under shuffles
    of ``key`` across accounts (so leads of one account stay together, as they are correlated)."""
    accounts, lead_account = np.unique(leads["account_id"], return_inverse=True)
    groups, account_group = np.unique(key.loc[accounts], return_inverse=True)
    y = leads[outcome].to_numpy(dtype=np.float64)

    def between(group_of_account: np.ndarray) -> float:
        group = group_of_account[lead_account]
        n = np.bincount(group, minlength=len(groups))
        total = np.bincount(group, weights=y, minlength=len(groups))
        seen = n > 0
        return float(np.sum((total[seen] - n[seen] * y.mean()) ** 2 / n[seen]))

    rng = np.random.default_rng(0)
    observed = between(account_group)
    null = np.array([between(rng.permutation(account_group)) for _ in range(permutations)])
    return (1 + np.sum(null >= observed)) / (1 + permutations)


@pytest.mark.parametrize(("column", "digits", "outcome"), [
    ("sic_code", 4, "p_convert"),  # the true conversion probability differs by code
    ("sic_code", 2, "converted"),  # realised conversions differ by SIC major group
    ("company_size", None, "p_convert"),
])
def test_custom_account_columns_carry_conversion_signal(leads: pd.DataFrame, column: str, digits: int | None,
                                                        outcome: str) -> None:
    key = leads.drop_duplicates("account_id").set_index("account_id")[column]
    key = key if digits is None else key.str[:digits]
    assert _permutation_p(key, leads, outcome) <= 0.001


def test_landing_page_carries_signal_beyond_source(leads: pd.DataFrame) -> None:
    """Encoded on half of the accounts, landing pages rank the other half's conversions better than sources do,
    in every one of 200 bootstrap resamples of those accounts."""
    labelled = leads[leads["created_at"] + pd.Timedelta(days=90) <= WORLD_END]
    rng = np.random.default_rng(1)
    accounts, lead_account = np.unique(labelled["account_id"], return_inverse=True)
    train = (rng.random(len(accounts)) < 0.5)[lead_account]
    prior = labelled.loc[train, "converted"].mean()

    def encoded(column: str) -> np.ndarray:
        stats = labelled[train].groupby(column)["converted"].agg(["sum", "count"])
        rate = (stats["sum"] + 20 * prior) / (stats["count"] + 20)
        return labelled.loc[~train, column].map(rate).fillna(prior).to_numpy()

    y, page, source = labelled.loc[~train, "converted"].to_numpy(), encoded("landing_page_id"), encoded("source")
    test_accounts, test_lead_account = np.unique(lead_account[~train], return_inverse=True)
    gains = []
    for _ in range(200):
        weight = np.bincount(rng.integers(0, len(test_accounts), len(test_accounts)),
                             minlength=len(test_accounts))[test_lead_account]
        gains.append(roc_auc_score(y, page, sample_weight=weight) - roc_auc_score(y, source, sample_weight=weight))
    assert min(gains) > 0


def test_csv_minimal_export_matches_parquet(tmp_path: Path) -> None:
    config = WorldConfig(accounts=300, seed=5, start=date(2023, 1, 1), months=12)
    generate_minimal(config, tmp_path / "parquet")
    generate_minimal(config.model_copy(update={"file_format": "csv"}), tmp_path / "csv")
    for name, columns in PROMISED.items():
        expected = pd.read_parquet(tmp_path / "parquet" / f"{name}.parquet")
        read = pd.read_csv(tmp_path / "csv" / f"{name}.csv", dtype=str, keep_default_na=False)
        assert list(read.columns) == columns, name
        for column in ("account_id", "lead_id", "sic_code", "company_size", "landing_page_id", "lead_status"):
            if column in columns:
                assert read[column].tolist() == expected[column].fillna("").tolist(), (name, column)
    contact = pd.read_csv(tmp_path / "csv" / "accounts.csv", parse_dates=["first_contact_date"])["first_contact_date"]
    expected = pd.to_datetime(pd.read_parquet(tmp_path / "parquet" / "accounts.parquet")["first_contact_date"])
    pd.testing.assert_series_equal(contact, expected, check_dtype=False)


def test_refuses_a_folder_holding_full_world_tables(tmp_path: Path) -> None:
    (tmp_path / "intent.parquet").write_bytes(b"")
    with pytest.raises(B2BScoreError, match=r"already holds intent\.parquet"):
        generate_minimal(WorldConfig(accounts=50, months=6), tmp_path)


def test_cli_generate_minimal(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--accounts", "100", "--months", "6",
                                      "--minimal", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "Minimal export" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accounts.csv", "activities.csv", "leads.csv", "opportunities.csv", "revenue.csv", "truth"]
    assert "sic_code" in (tmp_path / "accounts.csv").read_text().splitlines()[0]


# --- tests/worlds.py ------------------------------------------------------------------------------


def _read_world(folder: Path) -> dict[str, pd.DataFrame]:
    frames = {name: pd.read_csv(folder / f"{name}.csv", parse_dates=dates, keep_default_na=False, na_values=[""])
              for name, dates in (("accounts", []), ("leads", ["created_at"]),
                                  ("opportunities", ["created_at", "closed_at"]))}
    frames["truth"] = pd.read_parquet(folder / "truth" / "leads.parquet")
    return frames


def _converted(world: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Leads whose 90 days ended before the end, with 1 if a won deal closed within them (the product's label)."""
    leads, opps = world["leads"], world["opportunities"]
    won = opps[opps["stage"] == "won"].merge(leads[["lead_id", "created_at"]], on="lead_id", suffixes=("", "_lead"))
    in_time = won[won["closed_at"] <= won["created_at_lead"] + pd.Timedelta(days=90)]
    labelled = leads[leads["created_at"] + pd.Timedelta(days=90) <= END]
    return labelled.assign(label=labelled["lead_id"].isin(in_time["lead_id"]).astype(int))


@pytest.fixture(scope="module")
def test_worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("worlds")
    return {"custom": _read_world(custom_signal_world(root / "custom", 3)),
            "none": _read_world(no_signal_world(root / "none", 3))}


def test_worlds_deterministic(tmp_path: Path) -> None:
    for make in (custom_signal_world, no_signal_world):
        a, b = make(tmp_path / f"{make.__name__}-a", 9), make(tmp_path / f"{make.__name__}-b", 9)
        names = ["accounts.csv", "leads.csv", "opportunities.csv", "truth/leads.parquet"]
        assert filecmp.cmpfiles(a, b, names, shallow=False)[0] == names
        c = make(tmp_path / f"{make.__name__}-c", 10)
        assert not filecmp.cmp(a / "opportunities.csv", c / "opportunities.csv", shallow=False)


@pytest.mark.parametrize("kind", ["custom", "none"])
def test_world_shapes(test_worlds: dict[str, dict[str, pd.DataFrame]], kind: str) -> None:
    world = test_worlds[kind]
    accounts, leads, opps = world["accounts"], world["leads"], world["opportunities"]
    assert list(accounts.columns) == ["account_id", "partner_code"] and 2000 <= len(accounts) <= 4000
    assert list(leads.columns) == ["lead_id", "account_id", "created_at", "source"] and 6000 <= len(leads) <= 10000
    assert list(opps.columns) == PROMISED["opportunities"]
    assert accounts["account_id"].is_unique and leads["lead_id"].is_unique and opps["opportunity_id"].is_unique
    assert leads["account_id"].isin(accounts["account_id"]).all() and opps["lead_id"].isin(leads["lead_id"]).all()
    week = pd.Timedelta(days=7)
    assert leads["created_at"].min() < START + week and leads["created_at"].max() >= END - week
    assert opps["created_at"].min() < START + pd.Timedelta(days=31)  # outcomes recorded from the first month
    assert set(opps["stage"]) == {"won", "lost", "open"} and opps["closed_at"].isna().eq(opps["stage"] == "open").all()
    created = opps.merge(leads, on="lead_id", suffixes=("", "_lead"))
    assert (created["created_at"] > created["created_at_lead"]).all() and (created["closed_at"].dropna() < END).all()
    assert 450 <= accounts["partner_code"].nunique() <= 500


@pytest.mark.parametrize("kind", ["custom", "none"])
def test_world_base_rate_and_label_match_truth(test_worlds: dict[str, dict[str, pd.DataFrame]], kind: str) -> None:
    labelled = _converted(test_worlds[kind]).merge(test_worlds[kind]["truth"][["lead_id", "converted"]], on="lead_id")
    assert 0.10 <= labelled["label"].mean() <= 0.15
    assert (labelled["label"] == labelled["converted"]).all()
    assert abs(test_worlds[kind]["truth"]["p_convert"].mean() - BASE_RATE) < 1e-9


def test_no_signal_world_conversion_independent_of_source(test_worlds: dict[str, dict[str, pd.DataFrame]]) -> None:
    assert test_worlds["none"]["truth"]["p_convert"].nunique() == 1
    for kind, expect_signal in (("none", False), ("custom", True)):
        labelled = _converted(test_worlds[kind])
        p = chi2_contingency(pd.crosstab(labelled["source"], labelled["label"])).pvalue
        assert (p < 1e-6) if expect_signal else (p > 0.01), (kind, p)


def test_partner_code_carries_the_signal_only_in_the_custom_world(
        test_worlds: dict[str, dict[str, pd.DataFrame]]) -> None:
    """Encoded on half of the accounts, partner codes rank the other half's conversions (one-sided Mann-Whitney)."""
    for kind, expect_signal in (("custom", True), ("none", False)):
        world = test_worlds[kind]
        labelled = _converted(world).merge(world["accounts"], on="account_id")
        train = labelled["account_id"].map(lambda a: int(a[1:]) % 2 == 0)
        prior = labelled.loc[train, "label"].mean()
        stats = labelled[train].groupby("partner_code")["label"].agg(["sum", "count"])
        rate = (stats["sum"] + 10 * prior) / (stats["count"] + 10)
        score = labelled.loc[~train, "partner_code"].map(rate).fillna(prior)
        label = labelled.loc[~train, "label"]
        p = mannwhitneyu(score[label == 1], score[label == 0], alternative="greater").pvalue
        assert (p < 1e-6) if expect_signal else (p > 0.01), (kind, p)


def test_outcomes_from_drops_earlier_opportunities(tmp_path: Path) -> None:
    all_opps = pd.read_csv(custom_signal_world(tmp_path / "all", 4) / "opportunities.csv", parse_dates=["created_at"])
    late = pd.read_csv(custom_signal_world(tmp_path / "late", 4, outcomes_from="2023-01-01") / "opportunities.csv",
                       parse_dates=["created_at"])
    assert late["created_at"].min() >= pd.Timestamp("2023-01-01")
    kept = all_opps[all_opps["created_at"] >= pd.Timestamp("2023-01-01")]
    assert late.drop(columns="opportunity_id").reset_index(drop=True).equals(
        kept.drop(columns="opportunity_id").reset_index(drop=True))
    leads = [pd.read_csv(tmp_path / name / "leads.csv") for name in ("all", "late")]
    pd.testing.assert_frame_equal(*leads)
