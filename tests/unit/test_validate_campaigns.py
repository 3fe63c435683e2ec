"""Issue 19: the campaigns and spend tables, and the campaign_id of leads and activities, are validated like every
table: each bad input is one error naming the table, the column and the row; the mapping file maps them; the
command exits non-zero with the message, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from factories import tiny_dataset
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.data.load import load_dataset, validate_data
from b2bscore.data.mapping import MappingConfig

NOW = pd.Timestamp("2025-01-01")
CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["C1", "C2"], "name": ["Search Q1", "Webinar"], "channel": ["paid_search", "webinar"],
    "started_at": ["2023-01-01", "2024-01-01"], "ended_at": ["2023-12-31", ""], "cost": ["12000", "3000.5"],
    "target": ["mid-market", ""],
})
SPEND = pd.DataFrame({"period_start": ["2024-01-01", "2024-02-01"], "channel": ["sales", ""],
                      "campaign_id": ["", "C2"], "amount": ["50000", "800"]})


def write(directory: Path, **changes: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    tables = {name: tiny_dataset().table(name) for name in tiny_dataset().available}
    tables["leads"] = tables["leads"].assign(campaign_id=["C1", "C2"] + [""] * (len(tables["leads"]) - 2))
    tables["activities"] = tables["activities"].assign(campaign_id="")
    tables |= {"campaigns": CAMPAIGNS, "spend": SPEND}
    for name, frame in tables.items():
        frame = changes[name](frame.copy()) if name in changes else frame
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


def setv(col: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[col] = frame[col].astype(object)
        frame.loc[row, col] = value
        return frame
    return change


def errors(directory: Path, mapping: MappingConfig | None = None):
    return [i for i in validate_data(directory, mapping, now=NOW).issues if i.severity == "error"]


def test_valid_campaigns_and_spend_load(tmp_path):
    data, report = load_dataset(write(tmp_path), now=NOW)
    assert report.ok
    assert data.campaigns["cost"].tolist() == [12000.0, 3000.5] and data.campaigns["ended_at"].isna().tolist() == [False, True]
    assert data.leads["campaign_id"].tolist()[:2] == ["C1", "C2"] and data.spend["campaign_id"].isna().tolist() == [True, False]


@pytest.mark.parametrize("changes, table, column, problem, row", [
    ({"campaigns": setv("cost", 1, "-5")}, "campaigns", "cost", "negative_value", 3),
    ({"campaigns": setv("cost", 0, "lots")}, "campaigns", "cost", "unparseable", 2),
    ({"campaigns": setv("ended_at", 0, "2022-06-30")}, "campaigns", "ended_at", "inconsistent_dates", 2),
    ({"campaigns": lambda f: pd.concat([f, f.iloc[[0]].assign(cost="1")])}, "campaigns", "campaign_id",
     "duplicate_key", 2),
    ({"campaigns": setv("started_at", 1, "")}, "campaigns", "started_at", "missing_value", 3),
    ({"leads": setv("campaign_id", 1, "C9")}, "leads", "campaign_id", "unknown_reference", 3),
    ({"activities": setv("campaign_id", 0, "C404")}, "activities", "campaign_id", "unknown_reference", 2),
    ({"spend": setv("campaign_id", 1, "C7")}, "spend", "campaign_id", "unknown_reference", 3),
    ({"spend": setv("amount", 0, "-1")}, "spend", "amount", "negative_value", 2),
    ({"spend": setv("channel", 1, "sales")}, "spend", "channel, campaign_id", "spend_target", 3),
    ({"spend": setv("channel", 0, "")}, "spend", "channel, campaign_id", "spend_target", 2),
])
def test_bad_campaign_input_is_one_error_naming_table_column_and_row(tmp_path, changes, table, column, problem, row):
    found = errors(write(tmp_path, **changes))
    assert len(found) == 1, [i.message for i in found]
    issue = found[0]
    assert (issue.table, issue.column, issue.problem) == (table, column, problem)
    assert issue.rows[:1] == (row,), issue.message


def test_a_campaigns_file_without_a_required_column_is_an_error(tmp_path):
    found = errors(write(tmp_path, campaigns=lambda f: f.drop(columns=["cost"])))
    assert [(i.table, i.column, i.problem) for i in found] == [("campaigns", "cost", "missing_column")]


def test_the_mapping_file_maps_a_crm_campaign_export(tmp_path):
    folder = write(tmp_path, campaigns=lambda f: f.rename(columns={"campaign_id": "Campaign ID", "cost": "Actual Cost",
                                                                    "started_at": "Start Date"}))
    (folder / "campaigns.csv").rename(folder / "crm_campaigns.csv")
    mapping = MappingConfig.model_validate({"campaigns": {
        "file": "crm_campaigns.csv", "columns": {"Campaign ID": "campaign_id", "Actual Cost": "cost",
                                                  "Start Date": "started_at"},
        "values": {"channel": {"Webinar": "webinar"}}}})
    assert not errors(folder, mapping)
    assert load_dataset(folder, mapping, now=NOW)[0].campaigns["campaign_id"].tolist() == ["C1", "C2"]
    missing = errors(folder, MappingConfig.model_validate({"campaigns": {"file": "nowhere.csv"}}))
    assert [(i.table, i.problem) for i in missing] == [("campaigns", "missing_file")]


def test_validate_exits_non_zero_naming_the_row(tmp_path):
    folder = write(tmp_path, campaigns=setv("ended_at", 1, "2023-06-01"))
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "campaigns" in result.output and "ended_at before started_at" in result.output and "3" in result.output


def test_without_campaign_tables_the_report_says_what_is_unavailable(tmp_path):
    folder = write(tmp_path)
    (folder / "campaigns.csv").unlink()
    (folder / "spend.csv").unlink()
    issues = validate_data(folder, now=NOW).issues
    notes = {i.table: i.message for i in issues if i.problem == "missing_table"}
    assert "campaign ROI will be unavailable" in notes["campaigns"] and "CAC" in notes["spend"]
    assert not [i for i in issues if i.severity == "error"]  # campaign ids without a campaigns table are not checked


def test_buckets_hold_the_tables_of_accounts_only(tmp_path):
    """campaigns and spend have no account_id: the bucketed engines (which compute features) leave them out."""
    from b2bscore.data.buckets import partition_dataset, split_dataset

    folder = tmp_path / "data"
    folder.mkdir()
    data, _ = load_dataset(write(folder), now=NOW)
    parts = split_dataset(data, 2)
    assert all(p.campaigns is None and p.spend is None for p in parts)
    assert sum(len(p.leads) for p in parts) == len(data.leads)
    partition = partition_dataset(data, 2, tmp_path / "partition")
    assert "campaigns" not in partition.tables and "spend" not in partition.tables and "leads" in partition.tables
