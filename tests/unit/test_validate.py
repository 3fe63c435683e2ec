"""Each bad input yields exactly the expected issue (table, column, count, example rows)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from factories import tiny_dataset

from b2bscore.data.load import load_dataset, validate_data
from b2bscore.data.report import Issue
from b2bscore.errors import DataError

NOW = pd.Timestamp("2025-01-01")


def write(directory: Path, **changes: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    """The tiny world as CSV, each table passed through its change function."""
    ds = tiny_dataset()
    for name in ds.available:
        frame = ds.table(name)
        frame = changes[name](frame.copy()) if name in changes else frame
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


def problems(directory: Path) -> list[Issue]:
    return [i for i in validate_data(directory, now=NOW).issues if i.severity != "info"]


def only(directory: Path) -> Issue:
    found = problems(directory)
    assert len(found) == 1, "\n".join(i.message for i in found)
    return found[0]


def setv(col: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[col] = frame[col].astype(object)
        frame.loc[row, col] = value
        return frame
    return change


CASES = [
    # (table changes, problem, table, column, count, rows)
    ({"activities": setv("occurred_at", 2, "yesterday")}, "unparseable", "activities", "occurred_at", 1, (4,)),
    ({"accounts": setv("employees", 1, "lots")}, "unparseable", "accounts", "employees", 1, (3,)),
    ({"accounts": setv("region", 0, "Europe")}, "unknown_category", "accounts", "region", 1, (2,)),
    ({"revenue": setv("account_id", 2, None)}, "missing_value", "revenue", "account_id", 1, (4,)),
    ({"technographics": setv("technology", 1, "  ")}, "missing_value", "technographics", "technology", 1, (3,)),
    ({"intent": setv("topic", 1, "lead_scoring")}, "duplicate_key", "intent", "account_id, week_start, topic", 2, (2, 3)),
    ({"activities": setv("account_id", 3, "A9")}, "unknown_reference", "activities", "account_id", 1, (5,)),
    ({"activities": setv("lead_id", 0, "L9")}, "unknown_reference", "activities", "lead_id", 1, (2,)),
    ({"revenue": setv("invoice_at", 6, "2031-01-01")}, "future_timestamp", "revenue", "invoice_at", 1, (8,)),
    ({"revenue": setv("amount", 0, -5.0)}, "negative_value", "revenue", "amount", 1, (2,)),
    ({"intent": setv("score", 1, 140.0)}, "out_of_range", "intent", "score", 1, (3,)),
    ({"accounts": setv("founded_year", 0, 1500)}, "out_of_range", "accounts", "founded_year", 1, (2,)),
    ({"accounts": setv("founded_year", 0, 2031)}, "out_of_range", "accounts", "founded_year", 1, (2,)),
    ({"opportunities": setv("closed_at", 0, "2023-01-01")}, "inconsistent_dates", "opportunities", "closed_at", 1, (2,)),
    ({"technographics": setv("last_seen_at", 4, "2020-01-01")}, "inconsistent_dates", "technographics", "last_seen_at", 1, (6,)),
    ({"opportunities": setv("closed_at", 0, None)}, "stage_mismatch", "opportunities", "closed_at", 1, (2,)),
    ({"opportunities": setv("closed_at", 1, "2024-04-01")}, "stage_mismatch", "opportunities", "closed_at", 1, (3,)),
    ({"intent": lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True)}, "duplicate_rows_dropped", "intent", None, 1, (6,)),
]


@pytest.mark.parametrize(("changes", "problem", "table", "column", "count", "rows"), CASES,
                         ids=[f"{c[1]}-{c[2]}.{c[3]}" for c in CASES])
def test_bad_input_gives_exactly_one_issue(tmp_path: Path, changes: dict, problem: str, table: str,
                                           column: str | None, count: int, rows: tuple[int, ...]) -> None:
    issue = only(write(tmp_path, **changes))
    assert (issue.problem, issue.table, issue.column, issue.count, issue.rows) == (problem, table, column, count, rows)
    assert table in issue.message and f"{count} row" in issue.message
    expected_severity = "warning" if problem in ("stage_mismatch", "duplicate_rows_dropped") else "error"
    assert issue.severity == expected_severity
    assert validate_data(tmp_path, now=NOW).ok is (expected_severity != "error")


def test_unparseable_dates_render_like_the_spec(tmp_path: Path) -> None:
    def bad(frame: pd.DataFrame) -> pd.DataFrame:
        frame["occurred_at"] = frame["occurred_at"].astype(str)
        frame.loc[[2, 7], "occurred_at"] = ["2024-13-01", "yesterday"]
        return frame
    report = validate_data(write(tmp_path, activities=bad), now=NOW)
    line = next(line for line in report.render().splitlines() if line.startswith("ERROR"))
    assert line.startswith("ERROR activities.occurred_at: 2 rows of activities.occurred_at have unparseable dates, "
                           "e.g. rows 4, 9: '2024-13-01', 'yesterday'")
    assert report.render().splitlines()[-1].startswith("Summary:")


def test_repeated_rows_of_a_table_without_an_id_are_kept_and_noted(tmp_path: Path) -> None:
    """Issue 14: revenue has no id, so two invoices of one amount on one day are two purchases, not a duplicate."""
    write(tmp_path, revenue=lambda f: pd.concat([f, f.iloc[[0, 0, 3]]], ignore_index=True))
    dataset, report = load_dataset(tmp_path, now=NOW)
    issue = next(i for i in report.issues if i.problem == "repeated_rows_kept")
    assert (issue.severity, issue.count, issue.rows) == ("info", 3, (9, 10, 11))
    assert issue.message.startswith("3 rows of revenue repeat an earlier row exactly; they are kept")
    assert len(dataset.revenue) == 10 and report.row_counts["revenue"] == 10
    assert not any(i.problem == "duplicate_rows_dropped" for i in report.issues)


def test_an_exact_duplicate_of_a_keyed_table_is_dropped_in_a_sentence(tmp_path: Path) -> None:
    write(tmp_path, intent=lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True))
    dataset, report = load_dataset(tmp_path, now=NOW)
    issue = next(i for i in report.issues if i.problem == "duplicate_rows_dropped")
    assert issue.message.startswith("1 row of intent exactly repeats an earlier row and was dropped"), issue.message
    assert len(dataset.intent) == len(tiny_dataset().intent)


def test_missing_required_column_suggests_a_close_name(tmp_path: Path) -> None:
    issue = only(write(tmp_path, revenue=lambda f: f.rename(columns={"invoice_at": "Invoce At"})))
    assert (issue.problem, issue.table, issue.column, issue.severity) == ("missing_column", "revenue", "invoice_at", "error")
    assert "The revenue table has no required column 'invoice_at'. Did you mean 'Invoce At'?" in issue.message


def test_misspelt_optional_column_is_a_warning_with_the_close_name(tmp_path: Path) -> None:
    """Issue 14: annual_revenue is optional (absent: unknown), but a close spelling of it is most likely a typo."""
    issue = only(write(tmp_path, accounts=lambda f: f.rename(columns={"annual_revenue": "annual_revenu"})))
    assert (issue.problem, issue.table, issue.column, issue.severity) == ("misspelt_column", "accounts",
                                                                           "annual_revenue", "warning")
    assert "Did you mean 'annual_revenu'?" in issue.message and "treated as unknown" in issue.message
    assert validate_data(tmp_path, now=NOW).ok


def test_missing_required_column_without_a_close_name_has_no_hint(tmp_path: Path) -> None:
    issue = only(write(tmp_path, opportunities=lambda f: f.rename(columns={"stage": "stage_name"})))
    assert (issue.problem, issue.table, issue.column) == ("missing_column", "opportunities", "stage")
    assert "Did you mean" not in issue.message and "stage_name" in issue.message  # listed as found, not hinted


def test_a_distant_extra_column_is_no_hint_for_an_absent_optional_one(tmp_path: Path) -> None:
    """Issue 14: the absent funding_stage was once 'Did you mean landing_page_id?'."""
    write(tmp_path, accounts=lambda f: f.drop(columns="funding_stage").assign(landing_page_id="p1"))
    report = validate_data(tmp_path, now=NOW)
    assert problems(tmp_path) == [] and "Did you mean" not in report.render()
    note = next(i for i in report.issues if i.problem == "absent_columns")
    assert note.message == "The accounts table has no funding_stage column; it is treated as unknown."


def test_an_empty_industry_is_unknown_not_an_error(tmp_path: Path) -> None:
    """Issue 14: industry is optional and may be empty."""
    write(tmp_path, accounts=setv("industry", 1, "  "))
    dataset, report = load_dataset(tmp_path, now=NOW)
    assert problems(tmp_path) == [] and dataset.accounts["industry"].tolist() == ["software", None, "software"]


def test_absent_optional_columns_are_one_note(tmp_path: Path) -> None:
    write(tmp_path, accounts=lambda f: f[["account_id", "industry"]], leads=lambda f: f.drop(columns="source"))
    notes = [i for i in validate_data(tmp_path, now=NOW).issues if i.problem == "absent_columns"]
    # the tiny world's activities and leads have no campaign_id (issue 19): unknown too
    assert [(i.table, i.severity, i.count) for i in notes] == [("accounts", "info", 8), ("activities", "info", 1),
                                                               ("leads", "info", 2)]
    assert notes[0].message == ("The accounts table has no name, employees, annual_revenue, country, region, "
                                "founded_year, ownership, funding_stage columns; they are treated as unknown.")
    assert notes[2].message == "The leads table has no source, campaign_id columns; they are treated as unknown."
    assert problems(tmp_path) == []


def test_unknown_open_category_is_a_note_and_value_is_kept(tmp_path: Path) -> None:
    write(tmp_path, activities=setv("activity_type", 0, "Chat Message"))
    dataset, report = load_dataset(tmp_path, now=NOW)
    notes = [i for i in report.issues if i.problem == "unknown_category"]
    assert [(i.severity, i.count) for i in notes] == [("info", 2)]
    assert "chat_message: 2" in notes[0].message and "counted as 'other'" in notes[0].message
    assert dataset.activities["activity_type"].iloc[0] == "chat_message"


def test_closed_category_error_lists_unknown_and_allowed_values(tmp_path: Path) -> None:
    issue = only(write(tmp_path, opportunities=setv("stage", 1, "pending")))
    assert "pending: 1" in issue.message and "allowed: open, won, lost" in issue.message and "mapping" in issue.message


def test_null_optional_lead_id_is_fine_and_leads_absent_skips_lead_check(tmp_path: Path) -> None:
    write(tmp_path, activities=setv("lead_id", 0, "L9"))
    (tmp_path / "leads.csv").unlink()
    assert problems(tmp_path) == []


@pytest.mark.parametrize("content", ["", "account_id,name,industry,employees,annual_revenue,country,region,"
                                         "founded_year,ownership,funding_stage\n"])
def test_empty_table(tmp_path: Path, content: str) -> None:
    write(tmp_path)
    (tmp_path / "leads.csv").write_text(content)
    header = tiny_dataset().leads.columns
    if content:
        (tmp_path / "leads.csv").write_text(",".join(header) + "\n")
    issue = only(tmp_path)
    assert (issue.problem, issue.table, issue.severity) == ("empty_table", "leads", "error")
    assert "remove the file if you have no leads data" in issue.message


def test_missing_accounts_names_expected_files(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "accounts.csv").unlink()
    found = [i for i in problems(tmp_path) if i.problem == "missing_file"]
    assert len(found) == 1 and "accounts.parquet or accounts.csv" in found[0].message


def test_both_csv_and_parquet_is_an_error(tmp_path: Path) -> None:
    write(tmp_path)
    tiny_dataset().revenue.to_parquet(tmp_path / "revenue.parquet")
    issue = only(tmp_path)
    assert (issue.problem, issue.table) == ("ambiguous_file", "revenue")


@pytest.mark.parametrize("junk", [b"\xff\xfe\x00garbage\x81", b"PAR1 not really parquet"])
def test_unreadable_file(tmp_path: Path, junk: bytes) -> None:
    write(tmp_path)
    (tmp_path / "revenue.csv").unlink()
    (tmp_path / ("revenue.parquet" if junk.startswith(b"PAR1") else "revenue.csv")).write_bytes(junk)
    issue = only(tmp_path)
    assert (issue.problem, issue.table) == ("unreadable_file", "revenue")
    assert "revenue." in issue.message


def test_ragged_csv_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "revenue.csv").write_text("account_id,invoice_at,amount\nA2,2024-01-01,5\nA2,2024-02-01,5,extra,more\n")
    issue = only(tmp_path)
    assert issue.problem == "unreadable_file"


def test_load_dataset_raises_only_data_error_with_every_error(tmp_path: Path) -> None:
    write(tmp_path, accounts=setv("employees", 1, "lots"), intent=setv("score", 1, 140.0))
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path, now=NOW)
    assert "accounts.employees" in str(info.value) and "intent.score" in str(info.value)


def _parquet(directory: Path, table: str, column: str, values: list) -> Path:
    """The tiny world as Parquet, with ``column`` of ``table`` replaced by ``values`` (their own Parquet type)."""
    ds = tiny_dataset()
    for name in ds.available:
        frame = ds.table(name).copy()
        if name == table:
            frame[column] = values
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def test_true_false_where_a_number_is_expected_is_refused(tmp_path: Path) -> None:
    """A boolean Parquet column read as 1.0/0.0 would count true as one employee (issue 13, item 8)."""
    issue = only(_parquet(tmp_path, "accounts", "employees", [True, False, True]))
    assert (issue.problem, issue.table, issue.column, issue.count) == ("unparseable", "accounts", "employees", 3)

