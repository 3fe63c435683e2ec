"""The mapping file: renames, value maps, date formats, file names, and errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from factories import tiny_dataset

from b2bscore.data.contract import TABLE_NAMES
from b2bscore.data.load import load_dataset, validate_data
from b2bscore.data.mapping import MappingConfig, load_mapping
from b2bscore.errors import ConfigError

NOW = pd.Timestamp("2025-01-01")

MAPPING_YAML = """
accounts:
  file: crm_companies.csv
  columns:
    "Company ID": account_id
    "Industry Vertical": industry
  values:
    industry:
      Tech: software
      "Retail & More": retail
activities:
  columns: {"Company": account_id, "When": occurred_at}
  date_formats: {occurred_at: "%d/%m/%Y %H:%M"}
"""


def crm_export(directory: Path) -> Path:
    ds = tiny_dataset()
    ds.accounts.rename(columns={"account_id": "Company ID", "industry": "Industry Vertical"}) \
        .assign(**{"Industry Vertical": ["Tech", "Retail & More", "software"]}) \
        .to_csv(directory / "crm_companies.csv", index=False)
    activities = ds.activities.rename(columns={"account_id": "Company", "occurred_at": "When"})
    activities["When"] = activities["When"].dt.strftime("%d/%m/%Y %H:%M")
    activities.to_csv(directory / "activities.csv", index=False)
    return directory


def test_model_fields_are_the_contract_tables() -> None:
    assert tuple(MappingConfig.model_fields) == TABLE_NAMES


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_mapping_renames_values_and_date_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mapping{suffix}"
    if suffix == ".yaml":
        path.write_text(MAPPING_YAML)
    else:
        path.write_text('[accounts]\nfile = "crm_companies.csv"\n'
                        '[accounts.columns]\n"Company ID" = "account_id"\n"Industry Vertical" = "industry"\n'
                        '[accounts.values.industry]\nTech = "software"\n"Retail & More" = "retail"\n'
                        '[activities.columns]\nCompany = "account_id"\nWhen = "occurred_at"\n'
                        '[activities.date_formats]\noccurred_at = "%d/%m/%Y %H:%M"\n')
    mapping = load_mapping(path)
    dataset, report = load_dataset(crm_export(tmp_path / ""), mapping, now=NOW)
    assert report.ok, report.render()
    assert dataset.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert dataset.accounts["industry"].tolist() == ["software", "retail", "software"]
    pd.testing.assert_series_equal(dataset.activities["occurred_at"], tiny_dataset().activities["occurred_at"])
    mapped = [i for i in report.issues if i.problem == "values_mapped"]
    assert [(i.table, i.column, i.count) for i in mapped] == [("accounts", "industry", 2)]


def test_wrong_date_format_is_reported(tmp_path: Path) -> None:
    crm_export(tmp_path)
    mapping = MappingConfig.model_validate({
        "accounts": {"file": "crm_companies.csv", "columns": {"Company ID": "account_id", "Industry Vertical": "industry"},
                     "values": {"industry": {"Tech": "software", "Retail & More": "retail"}}},
        "activities": {"columns": {"Company": "account_id", "When": "occurred_at"}, "date_formats": {"occurred_at": "%Y-%m-%d"}},
    })
    errors = [i for i in validate_data(tmp_path, mapping, now=NOW).issues if i.severity == "error"]
    assert [(i.problem, i.column, i.count) for i in errors] == [("unparseable", "occurred_at", 9)]
    assert "'%Y-%m-%d'" in errors[0].message


def test_mapping_file_not_found_is_an_error(tmp_path: Path) -> None:
    tiny_dataset().accounts.to_csv(tmp_path / "accounts.csv", index=False)
    report = validate_data(tmp_path, MappingConfig.model_validate({"revenue": {"file": "billing.csv"}}), now=NOW)
    issue = next(i for i in report.issues if i.table == "revenue")
    assert (issue.severity, issue.problem) == ("error", "missing_file") and "billing.csv" in issue.message


def test_mapped_file_with_other_extension_is_unreadable(tmp_path: Path) -> None:
    tiny_dataset().accounts.to_csv(tmp_path / "accounts.csv", index=False)
    (tmp_path / "billing.xlsx").write_bytes(b"PK\x03\x04")
    report = validate_data(tmp_path, MappingConfig.model_validate({"revenue": {"file": "billing.xlsx"}}), now=NOW)
    issue = next(i for i in report.issues if i.table == "revenue")
    assert (issue.severity, issue.problem) == ("error", "unreadable_file") and "billing.xlsx" in issue.message


@pytest.mark.parametrize(("text", "needle"), [
    ("acounts:\n  file: a.csv\n", "valid tables are: accounts"),
    ("accounts:\n  columns: {X: industri}\n", "accounts.columns"),
    ("accounts:\n  colums: {X: industry}\n", "accounts.colums"),
    ("accounts:\n  values: {sector: {a: b}}\n", "accounts.values"),
    ("activities:\n  date_formats: {account_id: '%Y'}\n", "activities.date_formats"),
    ("accounts:\n  file: ../x.csv\n", "accounts.file"),
    ("accounts: [1, 2\n", "not valid YAML"),
    ("- just\n- a list\n", "top level must be a mapping"),
])
def test_bad_mapping_files_raise_config_error_naming_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_unknown_target_lists_valid_columns(tmp_path: Path) -> None:
    path = tmp_path / "map.yml"
    path.write_text("accounts:\n  columns: {'Sector': sector}\n")
    with pytest.raises(ConfigError, match="valid columns are: account_id, name, industry"):
        load_mapping(path)


def test_missing_or_unsupported_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_mapping(tmp_path / "none.yaml")
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(ConfigError, match="unsupported extension"):
        load_mapping(tmp_path / "m.json")


def test_renamed_column_clashing_with_existing_one_is_an_error(tmp_path: Path) -> None:
    tiny_dataset().accounts.assign(Sector="x").to_csv(tmp_path / "accounts.csv", index=False)
    mapping = MappingConfig.model_validate({"accounts": {"columns": {"Sector": "industry"}}})
    issue = next(i for i in validate_data(tmp_path, mapping, now=NOW).issues if i.severity == "error")
    assert (issue.problem, issue.column) == ("duplicate_column", "industry")
