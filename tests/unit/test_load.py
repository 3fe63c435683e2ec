"""Loading a data directory into a canonical Dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import tiny_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2bscore.data.contract import TABLES
from b2bscore.data.dataset import Dataset
from b2bscore.data.load import load_dataset, validate_data
from b2bscore.errors import ConfigError, DataError

NOW = pd.Timestamp("2025-01-01")
CANONICAL = {"id": object, "string": object, "category": object, "int": np.float64, "float": np.float64,
             "datetime": np.dtype("datetime64[ns]")}


SPENDING = {  # the tiny world's campaigns and spend (issue 19), so that every table of the contract is loaded
    "campaigns": pd.DataFrame({"campaign_id": ["C1", "C2"], "name": ["Search", None], "channel": ["paid_search", "webinar"],
                               "started_at": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                               "ended_at": pd.to_datetime(["2024-04-01", None]), "cost": [5000.0, 750.5],
                               "target": ["software", None]}),
    "spend": pd.DataFrame({"period_start": pd.to_datetime(["2024-01-01", "2024-02-01"]), "channel": ["sales", None],
                           "campaign_id": [None, "C1"], "amount": [20000.0, 300.0]}),
}


def write_world(directory: Path, *, csv: tuple[str, ...] = ("accounts", "leads", "activities")) -> Path:
    ds = tiny_dataset()
    for name in (*ds.available, *SPENDING):
        frame = ds.table(name) if name in ds.available else SPENDING[name]
        if name in csv:
            frame.to_csv(directory / f"{name}.csv", index=False)
        else:
            frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def test_valid_directory_loads_with_canonical_dtypes(tmp_path: Path) -> None:
    dataset, report = load_dataset(write_world(tmp_path), now=NOW)
    assert report.ok, report.render()
    assert isinstance(dataset, Dataset)
    assert set(dataset.available) == set(TABLES)
    for name in dataset.available:
        frame = dataset.table(name)
        for col in TABLES[name].columns:
            assert frame[col.name].dtype == CANONICAL[col.kind], (name, col.name, frame[col.name].dtype)
        assert isinstance(frame.index, pd.RangeIndex)
    expected = tiny_dataset()
    pd.testing.assert_frame_equal(dataset.accounts, expected.accounts)
    loaded = dataset.activities[list(expected.activities.columns)]  # and an empty campaign_id, absent from the file
    pd.testing.assert_frame_equal(loaded.drop(columns="topic"), expected.activities.drop(columns="topic"))
    assert dataset.activities["campaign_id"].isna().all()
    assert report.row_counts["activities"] == len(expected.activities)
    assert report.files["accounts"].endswith("accounts.csv")


def test_csv_and_parquet_give_the_same_frames(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    names = tuple(TABLES)
    ds_csv, _ = load_dataset(write_world(a, csv=names), now=NOW)
    ds_pq, _ = load_dataset(write_world(b, csv=()), now=NOW)
    for name in names:
        left, right = ds_csv.table(name), ds_pq.table(name)
        pd.testing.assert_frame_equal(left, right, check_dtype=True)


def test_only_accounts_is_needed_and_absent_tables_are_notes(tmp_path: Path) -> None:
    tiny_dataset().accounts.to_csv(tmp_path / "accounts.csv", index=False)
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert dataset.available == ("accounts",)
    notes = {i.table: i for i in report.issues if i.problem == "missing_table"}
    assert set(notes) == set(TABLES) - {"accounts"}
    assert all(i.severity == "info" for i in notes.values())
    assert "lead-level features and the conversion model will be unavailable" in notes["leads"].message


def test_ids_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    accounts = tiny_dataset().accounts.assign(account_id=["007", "0100", "12"])
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["007", "12"], "invoice_at": ["2024-01-01", "2024-02-01"], "amount": ["5", "7.5"]}) \
        .to_csv(tmp_path / "revenue.csv", index=False)
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert report.ok, report.render()
    assert dataset.accounts["account_id"].tolist() == ["007", "0100", "12"]
    assert dataset.revenue["account_id"].tolist() == ["007", "12"]


def test_namibia_is_not_missing(tmp_path: Path) -> None:
    tiny_dataset().accounts.assign(country=["NA", "DE", None]).to_csv(tmp_path / "accounts.csv", index=False)
    dataset, _ = load_dataset(tmp_path, now=NOW)
    assert dataset.accounts["country"].tolist()[:2] == ["NA", "DE"]
    assert dataset.accounts["country"].isna().tolist()[2]


def test_categories_normalised_and_timezones_converted(tmp_path: Path) -> None:
    tiny_dataset().accounts.assign(industry=[" Software ", "Retail-Trade", "software"]).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["A1", "A2"], "invoice_at": ["2024-01-01T10:00:00+02:00", "2024-01-01 08:00"],
                  "amount": [1, 2]}).to_csv(tmp_path / "revenue.csv", index=False)
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert dataset.accounts["industry"].tolist() == ["software", "retail_trade", "software"]
    assert dataset.revenue["invoice_at"].tolist() == [pd.Timestamp("2024-01-01 08:00")] * 2
    tz = [i for i in report.issues if i.problem == "timezone_converted"]
    assert [(i.table, i.column, i.count, i.severity) for i in tz] == [("revenue", "invoice_at", 1, "info")]


def test_parquet_tz_aware_timestamps_become_naive_utc(tmp_path: Path) -> None:
    tiny_dataset().accounts.to_parquet(tmp_path / "accounts.parquet")
    pd.DataFrame({"account_id": ["A1"], "invoice_at": [pd.Timestamp("2024-01-01 10:00", tz="Europe/Berlin")],
                  "amount": [1.0]}).to_parquet(tmp_path / "revenue.parquet")
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert dataset.revenue["invoice_at"].dtype == np.dtype("datetime64[ns]")
    assert dataset.revenue["invoice_at"].iloc[0] == pd.Timestamp("2024-01-01 09:00")
    assert any(i.problem == "timezone_converted" for i in report.issues)


def test_extra_columns_are_kept(tmp_path: Path) -> None:
    tiny_dataset().accounts.assign(crm_owner=["ann", "bob", "cy"]).to_csv(tmp_path / "accounts.csv", index=False)
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert dataset.accounts["crm_owner"].tolist() == ["ann", "bob", "cy"]
    assert [i.severity for i in report.issues if i.problem == "extra_columns"] == ["info"]


def test_load_raises_data_error_with_rendered_errors(tmp_path: Path) -> None:
    tiny_dataset().accounts.drop(columns="account_id").to_csv(tmp_path / "accounts.csv", index=False)
    with pytest.raises(DataError, match="accounts.account_id: The accounts table has no required column"):
        load_dataset(tmp_path, now=NOW)


def test_absent_optional_columns_load_empty_with_their_canonical_types(tmp_path: Path) -> None:
    """Issue 14: an accounts file with only account_id loads; every other column is there, unknown."""
    tiny_dataset().accounts[["account_id"]].to_csv(tmp_path / "accounts.csv", index=False)
    dataset, report = load_dataset(tmp_path, now=NOW)
    accounts = dataset.accounts
    assert tuple(accounts.columns) == TABLES["accounts"].column_names
    assert accounts.drop(columns="account_id").isna().all().all()
    assert accounts["employees"].dtype == np.float64 and accounts["industry"].dtype == object
    assert [i.problem for i in report.issues if i.table == "accounts"] == ["absent_columns"]


def test_missing_data_dir_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        validate_data(tmp_path / "nope")


def test_truth_folder_ignored_and_unrelated_files_noted(tmp_path: Path) -> None:
    write_world(tmp_path)
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "labels.csv").write_text("garbage\x00")
    (tmp_path / "notes.txt").write_text("hello")
    report = validate_data(tmp_path, now=NOW)
    assert report.ok
    unrelated = [i for i in report.issues if i.problem == "unrelated_file"]
    assert len(unrelated) == 1 and unrelated[0].severity == "info" and "notes.txt" in unrelated[0].message
    assert unrelated[0].message.endswith("ignored: notes.txt.")


def test_now_defaults_to_current_time(tmp_path: Path) -> None:
    write_world(tmp_path)
    assert validate_data(tmp_path).ok


def test_report_to_dict_is_json(tmp_path: Path) -> None:
    import json

    tiny_dataset().accounts.assign(employees=["x", "1", "2"]).to_csv(tmp_path / "accounts.csv", index=False)
    report = validate_data(tmp_path, now=NOW)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    errors = [i for i in data["issues"] if i["severity"] == "error"]
    assert errors[0]["examples"] == [{"row": 2, "value": "x"}]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=300), as_parquet=st.booleans())
def test_junk_files_never_raise_raw_exceptions(tmp_path_factory: pytest.TempPathFactory, junk: bytes, as_parquet: bool) -> None:
    directory = tmp_path_factory.mktemp("junk")
    (directory / ("accounts.parquet" if as_parquet else "accounts.csv")).write_bytes(junk)
    try:
        dataset, report = load_dataset(directory, now=NOW)
    except (DataError, ConfigError):
        return
    assert report.ok


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(st.lists(st.text(max_size=6), min_size=3, max_size=3), max_size=6))
def test_junk_text_cells_never_raise_raw_exceptions(tmp_path_factory: pytest.TempPathFactory, cells: list[list[str]]) -> None:
    directory = tmp_path_factory.mktemp("cells")
    frame = pd.DataFrame(cells, columns=["account_id", "industry", "founded_year"]) if cells else \
        pd.DataFrame(columns=["account_id", "industry", "founded_year"])
    for col in TABLES["accounts"].required_columns:
        if col not in frame:
            frame[col] = None
    frame.to_csv(directory / "accounts.csv", index=False)
    try:
        validate_data(directory, now=NOW)
    except DataError:
        pass
