"""Issue 14, item 1: a real CRM export with only ids, times and stages validates, loads and builds features.

Optional contract columns may be absent (then unknown), with one note per table; "did you mean" hints are given
only for close spellings; the service's record schemas accept the same minimal records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.data import checks
from b2bscore.data.contract import TABLES, Column
from b2bscore.data.load import load_dataset, validate_data
from b2bscore.features import build_features
from b2bscore.serving.schemas import Account, Lead, LeadRecord, Opportunity

NOW = pd.Timestamp("2025-01-01")
AS_OF = pd.Timestamp("2024-10-01")


def write_minimal(directory: Path, *, source: bool = True, amount: bool = True) -> Path:
    """50 accounts, 50 leads and 20 opportunities with the fewest columns a CRM export has (fixed seed)."""
    rng = np.random.default_rng(7)
    accounts = pd.DataFrame({"account_id": [f"A{i:03d}" for i in range(50)]})
    leads = pd.DataFrame({
        "lead_id": [f"L{i:03d}" for i in range(50)],
        "account_id": accounts["account_id"].to_numpy()[rng.integers(0, 50, 50)],
        "created_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, 50), unit="D"),
    })
    if source:
        leads["source"] = rng.choice(["Paid Search", "webinar", "referral", ""], 50)
    picked = leads.iloc[:20]
    created = picked["created_at"] + pd.Timedelta(days=5)
    stage = np.array(["won", "lost", "open", "won"] * 5)
    opportunities = pd.DataFrame({
        "opportunity_id": [f"O{i:03d}" for i in range(20)],
        "account_id": picked["account_id"].to_numpy(),
        "lead_id": picked["lead_id"].to_numpy(),
        "created_at": created.to_numpy(),
        "closed_at": (created + pd.Timedelta(days=30)).where(stage != "open").to_numpy(),
        "stage": stage,
    })
    if amount:
        opportunities["amount"] = rng.integers(1, 100, 20) * 1000.0
    for name, frame in (("accounts", accounts), ("leads", leads), ("opportunities", opportunities)):
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


@pytest.mark.parametrize(("source", "amount"), [(True, True), (False, False)])
def test_a_minimal_export_validates_loads_and_builds_lead_features(tmp_path: Path, source: bool, amount: bool) -> None:
    write_minimal(tmp_path, source=source, amount=amount)
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert report.ok and not [i for i in report.issues if i.severity == "warning"], report.render()
    features = build_features(dataset, as_of=AS_OF, entity="lead")
    assert len(features) == 50 and features["lead_id"].is_unique
    assert set(features["industry"]) == {"unknown"} and set(features["region"]) == {"unknown"}
    assert features["log_employees"].isna().all() and features["company_age_years"].isna().all()
    won = dataset.opportunities.loc[dataset.opportunities["stage"].eq("won"), "account_id"].value_counts()
    assert features["won_deals"].tolist() == features["account_id"].map(won).fillna(0).tolist()
    if not source:
        assert set(features["lead_source"]) == {"unknown"}


def test_the_cli_validates_a_minimal_export_with_exit_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(write_minimal(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "data is usable" in result.output and "ERROR" not in result.output


def test_absent_optional_columns_get_one_note_per_table(tmp_path: Path) -> None:
    report = validate_data(write_minimal(tmp_path, source=False, amount=False), now=NOW)
    notes = {i.table: i for i in report.issues if i.problem == "absent_columns"}
    assert sorted(notes) == ["accounts", "leads", "opportunities"]
    assert all(i.severity == "info" and i.column is None for i in notes.values())
    assert notes["accounts"].message == (
        "The accounts table has no name, industry, employees, annual_revenue, country, region, founded_year, "
        "ownership, funding_stage columns; they are treated as unknown.")
    assert notes["accounts"].count == 9
    assert notes["leads"].message == ("The leads table has no source, job_title, buying_role, campaign_id columns; "
                                      "they are treated as unknown.")
    assert notes["opportunities"].message == "The opportunities table has no amount column; it is treated as unknown."
    assert not [i for i in report.issues if i.problem == "missing_column"]


def test_a_present_but_empty_industry_is_unknown_not_an_error(tmp_path: Path) -> None:
    write_minimal(tmp_path)
    accounts = pd.read_csv(tmp_path / "accounts.csv").assign(industry=["software", "", " "] * 16 + ["Retail", ""])
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert report.ok, report.render()
    assert dataset.accounts["industry"].isna().sum() == 33
    features = build_features(dataset, as_of=AS_OF, entity="account")
    assert set(features["industry"]) == {"software", "retail", "unknown"}
    unknown = features["industry"].eq("unknown")
    assert not features.loc[unknown, "icp_fit_score"].isna().any()


def test_required_columns_identify_or_time_a_row() -> None:
    """No column is both required and nullable: a column that may be empty may as well be absent."""
    assert [(t.name, c.name) for t in TABLES.values() for c in t.columns if c.required and c.nullable] == []
    assert TABLES["accounts"].required_columns == ("account_id",)
    assert TABLES["leads"].required_columns == ("lead_id", "account_id", "created_at")
    assert TABLES["opportunities"].required_columns == ("opportunity_id", "account_id", "created_at", "stage")
    assert TABLES["revenue"].required_columns == ("account_id", "invoice_at", "amount")
    with pytest.raises(ValueError, match="'x' is declared required and nullable"):
        Column("x", "string", True, "A column.", "", nullable=True)


@pytest.mark.parametrize(("found", "absent"), [
    ("industy", "industry"), ("Account ID", "account_id"), ("account-id", "account_id"), ("AccountId", "account_id"),
    ("creatd_at", "created_at"), ("occured_at", "occurred_at"), ("annual_revenu", "annual_revenue"),
    ("Funding Stage", "funding_stage"),
])
def test_close_spellings_are_suggested(found: str, absent: str) -> None:
    assert checks.close_column(absent, ["something_else", found]) == found


@pytest.mark.parametrize(("found", "absent"), [
    ("landing_page_id", "funding_stage"), ("owner", "ownership"),
    ("created_by", "created_at"), ("id", "account_id"), ("stage_name", "stage"), ("revenue_band", "annual_revenue"),
])
def test_distant_names_are_not_suggested(found: str, absent: str) -> None:
    assert checks.close_column(absent, [found]) is None


def test_a_missing_required_column_hints_only_a_close_spelling(tmp_path: Path) -> None:
    write_minimal(tmp_path)
    leads = pd.read_csv(tmp_path / "leads.csv").rename(columns={"created_at": "creatd_at", "source": "landing_page_id"})
    leads.to_csv(tmp_path / "leads.csv", index=False)
    report = validate_data(tmp_path, now=NOW)
    errors = [i for i in report.issues if i.severity == "error"]
    assert [(i.problem, i.table, i.column) for i in errors] == [("missing_column", "leads", "created_at")]
    assert "The leads table has no required column 'created_at'. Did you mean 'creatd_at'?" in errors[0].message
    assert "Did you mean 'landing_page_id'" not in report.render()
    assert [i.problem for i in report.issues if i.column == "source"] == []


def test_a_misspelt_optional_column_is_a_warning_with_the_hint(tmp_path: Path) -> None:
    """A misspelt optional column would otherwise silently become unknown."""
    write_minimal(tmp_path)
    accounts = pd.read_csv(tmp_path / "accounts.csv").assign(Industy="software", landing_page_id="x")
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    report = validate_data(tmp_path, now=NOW)
    assert report.ok
    warnings = [i for i in report.issues if i.severity == "warning"]
    assert [(i.problem, i.table, i.column) for i in warnings] == [("misspelt_column", "accounts", "industry")]
    assert warnings[0].message.startswith("The accounts table has no column 'industry'. Did you mean 'Industy'?")
    note = next(i for i in report.issues if i.problem == "absent_columns" and i.table == "accounts")
    assert "industry" not in note.message and "funding_stage" in note.message


def test_the_record_schemas_accept_minimal_records() -> None:
    assert Account.model_validate({"account_id": "A1"}).industry is None
    lead = Lead.model_validate({"lead_id": "L1", "created_at": "2024-03-01T00:00:00"})
    assert lead.source is None and lead.account_id is None
    deal = Opportunity.model_validate({"opportunity_id": "O1", "created_at": "2024-03-01", "stage": "open"})
    assert deal.amount is None and deal.closed_at is None
    record = LeadRecord.model_validate({"as_of": "2024-06-01T00:00:00", "account": {"account_id": "A1"},
                                        "lead": {"lead_id": "L1", "created_at": "2024-03-01T00:00:00"}})
    assert record.account.account_id == "A1"


@pytest.mark.parametrize(("model", "data"), [
    (Account, {"account_id": "A1", "employees": -1}),
    (Account, {"account_id": "A1", "founded_year": 1200}),
    (Account, {"account_id": "A1", "region": "mars"}),
    (Account, {"industry": "software"}),
    (Opportunity, {"opportunity_id": "O1", "created_at": "2024-03-01", "stage": "open", "amount": -5.0}),
    (Lead, {"lead_id": "L1"}),
])
def test_optional_fields_keep_their_bounds_and_required_ones_stay_required(model, data) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        model.model_validate(data)
